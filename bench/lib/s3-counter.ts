/**
 * A counting TCP proxy between one registry and its S3 gateway (scale-out mode): the registry's S3
 * endpoint is this proxy, which forwards every byte both ways unchanged and counts what the
 * registry sends — bytes, and requests by kind, parsed from the HTTP/1.1 request stream (heads
 * are read, bodies skipped by Content-Length or chunked framing). That is how "bytes sent to S3
 * per blob byte pushed" is measured for both registries the same way, whatever their S3 client.
 */
import net from 'node:net';

export interface S3Counts {
  /** Every byte the registry sent to the gateway (request heads and bodies). */
  bytes: number;
  requests: number;
  /** Requests by kind: `PUT object`, `PUT part`, `POST create-multipart`, `PUT copy`, … */
  kinds: Record<string, number>;
}

export interface S3Counter {
  /** `http://127.0.0.1:PORT`: give this to the registry as its S3 endpoint. */
  endpoint: string;
  /** A copy of the counts so far. */
  counts(): S3Counts;
  close(): Promise<void>;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
/** A request head longer than this is not HTTP as S3 clients send it: stop parsing, keep counting. */
const MAX_HEAD = 64 * 1024;

/** The kind of an S3 request, from its method, query and headers (path-style or not). */
function kindOf(method: string, target: string, head: string): string {
  const query = new URLSearchParams(target.includes('?') ? target.slice(target.indexOf('?')) : '');
  const copy = /\r\nx-amz-copy-source:/i.test(head);
  if (query.has('uploadId')) {
    if (method === 'PUT') return copy ? 'PUT part-copy' : 'PUT part';
    if (method === 'POST') return 'POST complete-multipart';
    if (method === 'DELETE') return 'DELETE abort-multipart';
    return `${method} list-parts`;
  }
  if (method === 'POST' && query.has('uploads')) return 'POST create-multipart';
  if (method === 'POST' && query.has('delete')) return 'POST delete-objects';
  if (method === 'PUT' && copy) return 'PUT copy';
  if (method === 'GET' && (query.has('list-type') || query.has('uploads') || query.has('prefix')))
    return 'GET list';
  return `${method} object`;
}

/** Follows one connection's request stream: which bytes are heads, which are bodies. */
class RequestParser {
  private buffer: Buffer = Buffer.alloc(0);
  /** Body bytes still to skip (Content-Length), or -1 while in a chunked body, 0 in a head. */
  private bodyLeft = 0;
  private chunked = false;
  /** In a chunked body: bytes of the current chunk (plus its CRLF) still to skip. */
  private chunkLeft = 0;
  private broken = false;

  constructor(private readonly onRequest: (kind: string) => void) {}

  push(data: Buffer): void {
    let rest: Buffer | undefined = data;
    while (rest !== undefined && rest.length > 0) rest = this.broken ? undefined : this.step(rest);
  }

  /** Consumes a prefix of `data`; returns what is left. */
  private step(data: Buffer): Buffer {
    if (this.bodyLeft > 0) {
      const n = Math.min(this.bodyLeft, data.length);
      this.bodyLeft -= n;
      return data.subarray(n);
    }
    if (this.chunked) return this.stepChunked(data);
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
    const end = this.buffer.indexOf(HEAD_END);
    if (end < 0) {
      if (this.buffer.length > MAX_HEAD) this.broken = true;
      return Buffer.alloc(0);
    }
    const head = this.buffer.toString('latin1', 0, end);
    const rest = this.buffer.subarray(end + HEAD_END.length);
    this.buffer = Buffer.alloc(0);
    const [method = '?', target = '/'] = head.slice(0, head.indexOf('\r\n')).split(' ');
    this.onRequest(kindOf(method, target, head));
    if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      this.chunked = true;
      this.chunkLeft = 0;
    } else {
      this.bodyLeft = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    }
    return rest;
  }

  private stepChunked(data: Buffer): Buffer {
    if (this.chunkLeft > 0) {
      const n = Math.min(this.chunkLeft, data.length);
      this.chunkLeft -= n;
      return data.subarray(n);
    }
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
    const eol = this.buffer.indexOf(CRLF);
    if (eol < 0) {
      if (this.buffer.length > MAX_HEAD) this.broken = true;
      return Buffer.alloc(0);
    }
    const size = parseInt(this.buffer.toString('latin1', 0, eol).split(';')[0] ?? '', 16);
    if (!Number.isFinite(size)) {
      this.broken = true;
      return Buffer.alloc(0);
    }
    if (size > 0) {
      const rest = this.buffer.subarray(eol + CRLF.length);
      this.buffer = Buffer.alloc(0);
      this.chunkLeft = size + CRLF.length;
      return rest;
    }
    // The last chunk: trailers (if any) end with an empty line.
    const end = this.buffer.indexOf(HEAD_END, eol);
    const bare = this.buffer.indexOf(CRLF, eol + CRLF.length) === eol + CRLF.length;
    if (!bare && end < 0) return Buffer.alloc(0);
    const rest = this.buffer.subarray(bare ? eol + 2 * CRLF.length : end + HEAD_END.length);
    this.buffer = Buffer.alloc(0);
    this.chunked = false;
    return rest;
  }
}

/** Starts a counting proxy on 127.0.0.1 in front of `upstream` (`http://HOST:PORT`). */
export async function startS3Counter(upstream: string): Promise<S3Counter> {
  const target = new URL(upstream);
  const counts: S3Counts = { bytes: 0, requests: 0, kinds: {} };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const server = net.connect({ host: target.hostname, port: Number(target.port) });
    sockets.add(client).add(server);
    const parser = new RequestParser((kind) => {
      counts.requests++;
      counts.kinds[kind] = (counts.kinds[kind] ?? 0) + 1;
    });
    // Both the pipe and this listener see each chunk; the pipe's backpressure pauses both.
    client.on('data', (data: Buffer) => {
      counts.bytes += data.length;
      parser.push(data);
    });
    client.pipe(server);
    server.pipe(client);
    const end = (): void => {
      client.destroy();
      server.destroy();
      sockets.delete(client);
      sockets.delete(server);
    };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    counts: () => ({ ...counts, kinds: { ...counts.kinds } }),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What was sent between two snapshots. */
export function countsSince(before: S3Counts, after: S3Counts): S3Counts {
  const kinds: Record<string, number> = {};
  for (const [kind, n] of Object.entries(after.kinds)) {
    const d = n - (before.kinds[kind] ?? 0);
    if (d > 0) kinds[kind] = d;
  }
  return { bytes: after.bytes - before.bytes, requests: after.requests - before.requests, kinds };
}
