/**
 * The trivial node:http server the machine limits are measured against (run by `limits.ts` as its
 * own process, like a registry would be). Routes:
 *   POST /sink            reads and discards the body
 *   GET  /source?bytes=N  sends N bytes of a random pattern
 *   POST /hashwrite       hashes the body and writes it to a file, fsyncs, answers the digest
 *   GET  /small           a 500-byte JSON body, like a small manifest
 * Prints `listening PORT` when ready.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

const dir = process.argv[2] ?? '.';
const pattern = randomFillSync(Buffer.allocUnsafe(4 * 1024 * 1024));
const small = Buffer.from(JSON.stringify({ padding: 'x'.repeat(480) }));
let files = 0;

async function sink(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  let size = 0;
  for await (const chunk of req) size += (chunk as Buffer).length;
  res.end(String(size));
}

async function source(url: URL, res: http.ServerResponse): Promise<void> {
  const total = Number(url.searchParams.get('bytes') ?? 0);
  res.writeHead(200, { 'content-length': total, 'content-type': 'application/octet-stream' });
  for (let sent = 0; sent < total;) {
    const n = Math.min(pattern.length, total - sent);
    sent += n;
    if (!res.write(pattern.subarray(0, n))) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
      if (res.destroyed) return;
    }
  }
  res.end();
}

async function hashWrite(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const file = path.join(dir, `upload-${files++}`);
  const hash = createHash('sha256');
  const handle = await open(file, 'w');
  try {
    for await (const chunk of req) {
      hash.update(chunk as Buffer);
      await handle.write(chunk as Buffer);
    }
    await handle.sync();
  } finally {
    await handle.close();
    await rm(file, { force: true });
  }
  res.end(`sha256:${hash.digest('hex')}`);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const done = (p: Promise<void>): void =>
    void p.catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  switch (url.pathname) {
    case '/sink':
      return done(sink(req, res));
    case '/source':
      return done(source(url, res));
    case '/hashwrite':
      return done(hashWrite(req, res));
    case '/small':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': small.length });
      res.end(req.method === 'HEAD' ? undefined : small);
      return;
    default:
      res.statusCode = 404;
      res.end();
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address !== 'string') process.stdout.write(`listening ${address.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
