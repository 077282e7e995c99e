import type { Context } from 'koa';
import { InvalidRequestError, PayloadTooLargeError } from '../errors.js';

/**
 * Reads the request body of a route that takes one (settings, back-channel
 * logout) into memory, never more than `limitBytes` of it: a Content-Length
 * above the limit is refused before reading, a longer chunked body as soon as
 * it passes the limit. The proxy streams its bodies and never comes here.
 */
export async function readLimitedBody(ctx: Context, limitBytes: number): Promise<Buffer> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limitBytes) refuse(ctx, limitBytes);
  const req = ctx.req;
  // Plain listeners rather than `for await`: leaving an async iterator early
  // destroys the request, and with it the socket the 413 must go out on.
  const received = await new Promise<Buffer | 'too_large'>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length <= limitBytes) {
        chunks.push(chunk);
        return;
      }
      stop();
      req.pause();
      resolve('too_large');
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, length));
    };
    const onError = (err?: unknown) => {
      stop();
      reject(new InvalidRequestError('invalid_request', 'The request body could not be read.', err));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('aborted', onError);
  });
  if (received === 'too_large') refuse(ctx, limitBytes);
  return received;
}

function refuse(ctx: Context, limitBytes: number): never {
  // The rest of the body stays unread; closing the connection after the answer
  // stops the client from sending it (Node would otherwise read it to discard it).
  ctx.set('Connection', 'close');
  throw new PayloadTooLargeError(limitBytes);
}
