/**
 * A small HTTP/1.1 client on node:http with keep-alive: request bodies are streamed from an
 * iterable of buffers with backpressure (never concatenated), response bodies are buffered or
 * handed to a callback, and every request has a deadline.
 */
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, e.g. `/v2/`. */
  path: string;
  headers?: OutgoingHttpHeaders;
  /**
   * A buffer, or chunks to stream. With chunks and no content-length header the request is sent
   * with `Transfer-Encoding: chunked`.
   */
  body?: Buffer | Iterable<Buffer>;
  /** Receives the response body instead of buffering it. */
  onBody?: (chunk: Buffer) => void;
  timeoutMs: number;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** False when the server answered before reading the whole request body. */
  requestBodySent: boolean;
}

/** Responses bigger than this are refused when buffered (a tags list of 10,000 is ~200 KB). */
const MAX_BUFFERED = 64 * 1024 * 1024;

export class HttpClient {
  readonly host: string;
  readonly port: number;
  private readonly agent: http.Agent;

  constructor(baseUrl: string, connections = 1) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  }

  close(): void {
    this.agent.destroy();
  }

  request(req: HttpRequest): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      let bodySent = false;
      let response: { status: number; headers: IncomingHttpHeaders } | undefined;
      const chunks: Buffer[] = [];
      let buffered = 0;
      const outgoing = http.request({
        agent: this.agent,
        host: this.host,
        port: this.port,
        method: req.method,
        path: req.path,
        headers: req.headers,
        signal: AbortSignal.timeout(req.timeoutMs),
      });
      const fail = (err: Error): void => {
        // A server may answer and close before reading the request body (an unsupported
        // single-POST upload, an error): the answer is what counts then.
        if (response) resolve({ ...response, body: Buffer.concat(chunks), requestBodySent: false });
        else reject(new Error(`${req.method} ${req.path}: ${err.message}`));
      };
      outgoing.on('error', fail);
      outgoing.on('response', (res) => {
        const answered = { status: res.statusCode ?? 0, headers: res.headers };
        response = answered;
        res.on('data', (chunk: Buffer) => {
          if (req.onBody) return req.onBody(chunk);
          buffered += chunk.length;
          if (buffered > MAX_BUFFERED) {
            res.destroy(new Error('response body too large'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          if (!bodySent) outgoing.destroy();
          resolve({ ...answered, body: Buffer.concat(chunks), requestBodySent: bodySent });
        });
      });
      writeBody(outgoing, req.body).then(
        () => (bodySent = true),
        () => undefined, // The request's own 'error' event reports it.
      );
    });
  }
}

async function writeBody(req: http.ClientRequest, body: HttpRequest['body']): Promise<void> {
  if (body === undefined) {
    req.end();
    return;
  }
  if (Buffer.isBuffer(body)) {
    req.end(body);
    return;
  }
  for (const chunk of body) {
    if (req.destroyed) throw new Error('request closed');
    if (!req.write(chunk)) await drained(req);
  }
  req.end();
}

function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      req.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      req.off('drain', onDrain);
      reject(new Error('request closed'));
    };
    req.once('drain', onDrain);
    req.once('close', onClose);
  });
}

/** Throws unless the response has one of the expected status codes. */
export function expectStatus(res: HttpResponse, what: string, ...expected: number[]): void {
  if (expected.includes(res.status)) return;
  const body = res.body.toString('utf8', 0, Math.min(res.body.length, 300));
  throw new Error(`${what}: expected ${expected.join(' or ')}, got ${res.status} ${body}`);
}
