import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
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
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
};

const INDEX = 'index.html';
const ONE_YEAR_SECONDS = 31_536_000;

/**
 * Serves a built SPA from `root` (STATIC_DIR):
 * - files as they are; a directory by its index.html;
 * - `index.html` for any other GET/HEAD whose Accept names text/html (a
 *   browser navigation to a client-side route), never for `*\/*` alone, so a
 *   missing script or image is a 404 rather than HTML under a .js name;
 * - nothing outside `root`: encoded dot segments, backslashes, NUL and
 *   symlinks that lead out are refused, and so are hidden files (`.env`,
 *   `.git/`) other than `.well-known/`;
 * - caching: `no-cache` for HTML (a new deploy is seen at once), a year and
 *   `immutable` for content-hashed names, five minutes for the rest.
 */
export function staticFiles(root: string): Middleware {
  // loadConfig checked that STATIC_DIR is a directory; should it vanish later, serve nothing.
  const rootPromise = realpath(resolve(root)).catch(() => null);

  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    const base = await rootPromise;
    if (base === null) return next();
    const file = await resolveInside(base, ctx.path);
    if (file) return send(ctx, file);
    if (isHtmlNavigation(ctx) && !ctx.path.startsWith('/auth/')) {
      const index = await resolveInside(base, `/${INDEX}`);
      if (index) return send(ctx, index);
    }
    return next();
  };
}

function isHtmlNavigation(ctx: Context): boolean {
  return /(^|[\s,])(text\/html|application\/xhtml\+xml)\s*(;|,|$)/i.test(ctx.get('Accept'));
}

/** The regular file `urlPath` names inside `base` (a directory's index.html), or null. */
async function resolveInside(base: string, urlPath: string): Promise<string | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  if (decoded.split('/').some((segment) => segment.startsWith('.') && segment !== '.well-known')) return null;
  const candidate = resolve(base, `.${decoded}`);
  if (candidate !== base && !candidate.startsWith(base + sep)) return null;
  try {
    // realpath: a symlink inside the directory must not lead outside it.
    let real = await realpath(candidate);
    if (real !== base && !real.startsWith(base + sep)) return null;
    let info = await stat(real);
    if (info.isDirectory()) {
      real = await realpath(join(real, INDEX));
      if (!real.startsWith(base + sep)) return null;
      info = await stat(real);
    }
    return info.isFile() ? real : null;
  } catch {
    return null;
  }
}

async function send(ctx: Context, file: string): Promise<void> {
  const info = await stat(file);
  const name = file.slice(file.lastIndexOf(sep) + 1);
  const ext = extname(name).toLowerCase();
  ctx.status = 200;
  ctx.type = TYPES[ext] ?? 'application/octet-stream';
  ctx.lastModified = info.mtime;
  ctx.set('Cache-Control', cacheControl(name, ext));
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  ctx.length = info.size;
  // Koa sends no body for HEAD and destroys the unread stream when the answer is done.
  ctx.body = createReadStream(file);
}

function cacheControl(name: string, ext: string): string {
  if (ext === '.html') return 'no-cache';
  if (isContentHashed(name)) return `public, max-age=${ONE_YEAR_SECONDS}, immutable`;
  return 'public, max-age=300';
}

/**
 * Bundlers name content-addressed files `index-BQ1zv3xd.js` (Vite, Rollup),
 * `app.3f9a2c1b.js` (webpack) or `main.7d2c0e4f.chunk.js` (CRA): those never
 * change under their name. A hash is a `.`/`-` separated part after the first,
 * of 8+ characters with a digit or mixed case, which tells it from
 * `inter-variable.woff2` or `sw-registration.js`, whose content may change.
 */
export function isContentHashed(name: string): boolean {
  const stem = name.slice(0, name.length - extname(name).length);
  return stem
    .split(/[.-]/)
    .slice(1)
    .some((part) => /^[A-Za-z0-9_]{8,}$/.test(part) && (/\d/.test(part) || (/[a-z]/.test(part) && /[A-Z]/.test(part))));
}
