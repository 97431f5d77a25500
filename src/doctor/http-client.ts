/**
 * @module doctor/http-client
 * Plain `node:http`/`node:https` requests for the checks: the CA list and the verification mode
 * come from the doctor's state (fetch cannot take extra CAs without another dependency), bodies are
 * read with a cap, and transport errors become {@link TransportError}s the checks translate.
 */
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { serveTlsFix } from './commands.js';
import type { Advice, DoctorState, Target } from './types.js';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Local time the response headers arrived (ms). */
  receivedAtMs: number;
}

export interface SendOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer;
  /** Socket inactivity limit. */
  timeoutMs?: number;
}

/** A request that got no HTTP answer: refused, reset, timed out, TLS failure, not HTTP… */
export class TransportError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

const MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 15_000;

/** The host without IPv6 brackets, which `URL.hostname` keeps. */
export function bareHostname(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** Options for `http(s).request` to `url`: our CAs, SNI for names (never for IPs). */
export function requestOptions(state: DoctorState, url: URL): https.RequestOptions {
  const hostname = bareHostname(url);
  const options: https.RequestOptions = {
    protocol: url.protocol,
    hostname,
    port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
    path: `${url.pathname}${url.search}`,
    agent: false,
  };
  if (url.protocol === 'https:') {
    options.ca = state.ca;
    options.rejectUnauthorized = state.tlsVerified;
    if (isIP(hostname) === 0) options.servername = hostname;
  }
  return options;
}

export function transport(url: URL): typeof http | typeof https {
  return url.protocol === 'https:' ? https : http;
}

export function asTransportError(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  const e = err as NodeJS.ErrnoException;
  return new TransportError(e.code ?? 'ERROR', e.message);
}

/** One request with a small body; the answer's body is read up to 1 MiB. */
export function send(state: DoctorState, url: URL, options: SendOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = transport(url).request({
      ...requestOptions(state, url),
      method: options.method ?? 'GET',
      headers: {
        'user-agent': 'berth-doctor',
        ...(options.body ? { 'content-length': options.body.length } : {}),
        ...options.headers,
      },
    });
    req.setTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, () =>
      req.destroy(new TransportError('ETIMEDOUT', 'no answer in time')),
    );
    req.once('error', (err) => reject(asTransportError(err)));
    req.once('response', (res) => {
      const receivedAtMs = Date.now();
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      res.once('error', (err) => reject(asTransportError(err)));
      res.once('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          receivedAtMs,
        }),
      );
    });
    req.end(options.body);
  });
}

/** The value of a header that may repeat (node joins most, but not `www-authenticate`). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Plain words for a request that got no HTTP answer. */
export function transportAdvice(err: TransportError, url: URL, target: Target): Advice {
  const where = url.host;
  const text = `${err.code} ${err.message}`.toLowerCase();
  if (err.code === 'ECONNREFUSED') {
    return {
      summary: `nothing accepts connections on ${where} (connection refused)`,
      explanation: 'No process listens on that address and port, or a firewall rejects it.',
      fix: `start Berth (berth serve --listen HOST:PORT) or check the port; from the server itself try curl -v ${url.origin}/v2/`,
    };
  }
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
    return {
      summary: `${url.hostname} does not resolve`,
      fix: 'add the name to DNS or /etc/hosts on this client, or use the address',
    };
  }
  if (err.code === 'ETIMEDOUT') {
    return {
      summary: `no answer from ${where} in time`,
      explanation: 'Packets are dropped (a firewall) or the server hangs.',
      fix: 'check firewalls between this client and the server, and that Berth is running',
    };
  }
  if (
    url.protocol === 'https:' &&
    (text.includes('wrong version number') ||
      text.includes('packet length too long') ||
      text.includes('http request'))
  ) {
    return {
      summary: `${where} speaks plain HTTP, not TLS`,
      explanation: 'The TLS handshake got an HTTP answer: the server on this port has no TLS.',
      fix: `use http://${where} (and configure clients for an insecure registry), or serve TLS: ${serveTlsFix(target)}`,
    };
  }
  if (url.protocol === 'http:' && (err.code === 'ECONNRESET' || err.code.startsWith('HPE_'))) {
    return {
      summary: `${where} closed the connection or answered something that is not HTTP`,
      explanation: 'This is what a TLS port does when it receives plain HTTP.',
      fix: `if the server serves TLS on this port, use https://${where}`,
    };
  }
  if (err.code === 'ECONNRESET') {
    return {
      summary: `${where} closed the connection without an answer`,
      explanation: 'The server or a proxy in front of it dropped the connection.',
      fix: 'look at the server and proxy logs for this request',
    };
  }
  return { summary: `request to ${where} failed: ${err.code} ${err.message}` };
}
