/**
 * @module http/ui
 * Serves the web UI (the SPA built into `web/dist`) from the registry's own port: hashed assets
 * under `/assets/` with a year-long immutable cache, every other browser navigation answered with
 * `index.html` (the SPA routes itself), all under a strict Content-Security-Policy.
 *
 * Files are looked up in a table made at start from the build output, never by joining a request
 * path onto a directory, so no URL can reach a file outside it. Text assets are gzipped once, on
 * first request, and kept (the whole UI is a few hundred KB).
 */
import { readFileSync, readdirSync, statSync, createReadStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const gzipAsync = promisify(gzip);

/** Where `vite build` writes the UI, relative to this module in src/ and in dist/ alike. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/**
 * Scripts, styles, images and API calls from this origin only; no inline script, no framing, no
 * plugins. Labels and annotations are untrusted: even if one slipped into the DOM as markup, it
 * could not run.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.js', '.css', '.html', '.svg', '.json', '.txt']);
const IMMUTABLE = 'public, max-age=31536000, immutable';

interface WebFile {
  file: string;
  type: string;
  size: number;
  compressible: boolean;
  gzipped?: Promise<Buffer>;
}

export interface WebUi {
  /** Registers `/assets/*` and the build's top-level files (favicon…). */
  register(app: FastifyInstance): void;
  /** Answers a browser navigation with index.html; false when the request is not one. */
  navigate(request: FastifyRequest, reply: FastifyReply): boolean;
}

/** Null when the UI is not built (an API-only install still serves /v2 and /api). */
export function loadWebUi(root: string = DEFAULT_WEB_ROOT): WebUi | null {
  let index: Buffer;
  try {
    index = readFileSync(path.join(root, 'index.html'));
  } catch {
    return null;
  }
  const assets = table(path.join(root, 'assets'));
  const topLevel = table(root);
  topLevel.delete('index.html');

  function send(request: FastifyRequest, reply: FastifyReply, file: WebFile, cache: string) {
    void reply
      .header('content-type', file.type)
      .header('cache-control', cache)
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('vary', 'accept-encoding');
    if (file.compressible && acceptsGzip(request)) {
      file.gzipped ??= gzipAsync(readFileSync(file.file));
      return file.gzipped.then((body) =>
        reply.header('content-encoding', 'gzip').header('content-length', body.length).send(body),
      );
    }
    return reply.header('content-length', file.size).send(createReadStream(file.file));
  }

  return {
    register(app) {
      app.get('/assets/*', (request, reply) => {
        const name = (request.params as { '*': string })['*'];
        const file = assets.get(name);
        if (!file) return reply.callNotFound();
        return send(request, reply, file, IMMUTABLE);
      });
      for (const [name, file] of topLevel) {
        app.get(`/${name}`, (request, reply) => send(request, reply, file, 'public, max-age=3600'));
      }
    },

    navigate(request, reply) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return false;
      const url = request.url;
      if (url.startsWith('/v2/') || url === '/v2' || url.startsWith('/api/')) return false;
      if (url.startsWith('/assets/')) return false;
      // Browsers ask for HTML when they navigate; a client asking for JSON gets the JSON 404.
      if (!(request.headers.accept ?? '').includes('text/html')) return false;
      void reply
        .code(200)
        .header('content-type', TYPES['.html'])
        // The shell names the current hashed assets: always revalidate it.
        .header('cache-control', 'no-cache')
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('x-content-type-options', 'nosniff')
        .header('x-frame-options', 'DENY')
        .header('referrer-policy', 'same-origin')
        .send(index);
      return true;
    },
  };
}

/** Regular files directly in `dir` (not below), by name; empty when the directory is missing. */
function table(dir: string): Map<string, WebFile> {
  const files = new Map<string, WebFile>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    const stat = statSync(file);
    const ext = path.extname(name).toLowerCase();
    const type = TYPES[ext];
    if (!stat.isFile() || type === undefined) continue;
    files.set(name, { file, type, size: stat.size, compressible: COMPRESSIBLE.has(ext) });
  }
  return files;
}

function acceptsGzip(request: FastifyRequest): boolean {
  const accept = request.headers['accept-encoding'];
  return typeof accept === 'string' && /\bgzip\b/.test(accept);
}
