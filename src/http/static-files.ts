import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { Context, Middleware, Next } from 'koa';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

// Bundlers name content-addressed files like app.3f9a2c1b.js or index-BQ1zv3xd.js:
// those never change, so browsers may keep them for a year.
const HASHED_ASSET = /[.-][A-Za-z0-9_]{8,}\.[a-z0-9]+$/;

/**
 * Serves a built SPA from `root`: files as they are, `index.html` for other
 * GET navigations that accept HTML (client-side routing), nothing outside
 * `root` (encoded dots, symlinks out of it), and 404 for everything else.
 */
export function staticFiles(root: string): Middleware {
  const rootPromise = realpath(resolve(root));

  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    const base = await rootPromise;
    const file = await resolveInside(base, ctx.path);
    if (file) return send(ctx, file);
    if (ctx.accepts('html') === 'html' && !ctx.path.startsWith('/auth/')) {
      const index = await resolveInside(base, '/index.html');
      if (index) return send(ctx, index);
    }
    return next();
  };
}

async function resolveInside(base: string, urlPath: string): Promise<string | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const candidate = resolve(base, `.${decoded}`);
  if (candidate !== base && !candidate.startsWith(base + sep)) return null;
  try {
    // realpath: a symlink inside the directory must not lead outside it.
    const real = await realpath(candidate);
    if (!real.startsWith(base + sep)) return null;
    const info = await stat(real);
    return info.isFile() ? real : null;
  } catch {
    return null;
  }
}

async function send(ctx: Context, file: string): Promise<void> {
  const info = await stat(file);
  const name = file.slice(file.lastIndexOf(sep) + 1);
  ctx.type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  ctx.length = info.size;
  ctx.lastModified = info.mtime;
  if (name === 'index.html') ctx.set('Cache-Control', 'no-cache');
  else if (HASHED_ASSET.test(name)) ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
  else ctx.set('Cache-Control', 'public, max-age=300');
  ctx.status = 200;
  ctx.body = ctx.method === 'HEAD' ? null : createReadStream(file);
}
