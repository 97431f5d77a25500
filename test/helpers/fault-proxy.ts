/**
 * A small HTTP reverse proxy between Berth and an upstream registry, for the proxy tests: it
 * forwards every request and its answer unchanged and streaming, records each request, and
 * injects faults on demand (an answer of its own, a delay, a hang, a cut or corrupted body, the
 * upstream unreachable). Only `Host` is set to the upstream's, as a reverse proxy does; a
 * `Location` or a `WWW-Authenticate` realm naming the upstream stays as the upstream wrote it.
 */
import http from 'node:http';
import type { Socket } from 'node:net';

export type Fault =
  /** Answer this instead of forwarding (429 with Retry-After, 500, 503...). */
  | { status: number; headers?: Record<string, string>; body?: string | Uint8Array }
  /** Wait this long, then forward. */
  | { delayMs: number }
  /** Never answer; the connection is destroyed on `clear()` or `stop()`. */
  | { hang: true }
  /** Forward the status and headers, then destroy the connection after this many body bytes. */
  | { cutAfterBytes: number }
  /** Forward with the first body byte flipped: same length, another digest. */
  | { corrupt: true };

export interface FaultRule {
  /** Any method when absent. */
  method?: string;
  /** Matched against path and query; any when absent. */
  path?: RegExp;
  /** How many matching requests get the fault; unlimited when absent. */
  times?: number;
  fault: Fault;
}

export interface ProxiedRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** The status sent to the client; 0 while none has been (a hang, a delay, in flight). */
  status: number;
  /** Which fault the request got, if any. */
  fault?: 'status' | 'delay' | 'hang' | 'cut' | 'corrupt';
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Adds a rule; the first rule a request matches (with times left) applies. */
  inject(rule: FaultRule): void;
  /** Drops every rule and destroys the connections of hanging requests. */
  clear(): void;
  /** While down, connections are destroyed as they arrive and open ones at once. */
  setDown(down: boolean): void;
  /** Every request received so far, in arrival order (recorded as it arrives). */
  requests(): ProxiedRequest[];
  count(method: string, path: RegExp): number;
  /** Closes the proxy and every connection it holds; a second call does nothing more. */
  stop(): Promise<void>;
}

/** Connection-level headers a proxy does not pass on (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

/** Raw headers (name, value, name, value...) without the hop-by-hop ones, for a flat array. */
function endToEnd(raw: string[], host?: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    if (host !== undefined && lower === 'host') continue;
    out.push(name, raw[i + 1] ?? '');
  }
  if (host !== undefined) out.push('Host', host);
  return out;
}

const running = new Set<FaultProxy>();

/** Stops every fault proxy still running: for an afterAll, in case a test ended before its stop. */
export async function stopAllFaultProxies(): Promise<void> {
  for (const proxy of running) await proxy.stop();
}

/** Starts a proxy to `upstream` (`http://HOST:PORT`) on a free port on 127.0.0.1. */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  const rules: (FaultRule & { left: number })[] = [];
  const records: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<Socket>();
  let down = false;

  const take = (req: http.IncomingMessage, url: string): Fault | undefined => {
    const rule = rules.find(
      (r) =>
        r.left > 0 &&
        (r.method === undefined || r.method === req.method) &&
        (r.path === undefined || r.path.test(url)),
    );
    if (!rule) return undefined;
    rule.left--;
    return rule.fault;
  };

  const forward = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    record: ProxiedRequest,
    body: { cutAfter?: number; corrupt?: boolean },
  ): void => {
    const upstreamReq = http.request({
      agent,
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: endToEnd(req.rawHeaders, target.host),
    });
    upstreamReq.on('response', (upstreamRes) => {
      record.status = upstreamRes.statusCode ?? 0;
      res.writeHead(record.status, endToEnd(upstreamRes.rawHeaders));
      // Sent now, so that even a cut before the first body byte leaves the client a response.
      if (body.cutAfter !== undefined) res.flushHeaders();
      let sent = 0;
      let flipped = false;
      let cut = false;
      upstreamRes.on('data', (chunk: Buffer) => {
        let out = chunk;
        if (body.corrupt === true && !flipped && out.length > 0) {
          out = Buffer.from(out);
          out[0] = (out[0] ?? 0) ^ 0xff;
          flipped = true;
        }
        if (body.cutAfter !== undefined && sent + out.length > body.cutAfter) {
          const socket = res.socket;
          upstreamRes.destroy();
          // The first bytes reach the kernel before the connection goes, so the client reads
          // exactly `cutAfter` body bytes and then the end of a response shorter than announced.
          res.write(out.subarray(0, body.cutAfter - sent), () => socket?.destroy());
          cut = true;
          return;
        }
        sent += out.length;
        // Back-pressure: a slow client slows the upstream read, as a streaming proxy should.
        if (!res.write(out)) {
          upstreamRes.pause();
          res.once('drain', () => upstreamRes.resume());
        }
      });
      // A body shorter than `cutAfter` passes whole.
      upstreamRes.on('end', () => {
        if (!cut) res.end();
      });
      upstreamRes.on('error', () => res.destroy());
    });
    // The upstream unreachable or gone mid-answer: the client sees its connection end.
    upstreamReq.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  };

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const record: ProxiedRequest = { method: req.method ?? '', path: url, status: 0 };
    records.push(record);
    const fault = take(req, url);
    if (fault === undefined) {
      forward(req, res, record, {});
    } else if ('status' in fault) {
      record.fault = 'status';
      record.status = fault.status;
      req.resume();
      res.writeHead(fault.status, fault.headers);
      res.end(fault.body);
    } else if ('delayMs' in fault) {
      record.fault = 'delay';
      // A client that gave up meanwhile (or clear/stop) leaves nothing to forward.
      setTimeout(() => {
        if (!req.socket.destroyed) forward(req, res, record, {});
      }, fault.delayMs);
    } else if ('hang' in fault) {
      record.fault = 'hang';
      req.resume();
      hanging.add(req.socket);
      req.socket.once('close', () => hanging.delete(req.socket));
    } else if ('cutAfterBytes' in fault) {
      record.fault = 'cut';
      forward(req, res, record, { cutAfter: fault.cutAfterBytes });
    } else {
      record.fault = 'corrupt';
      forward(req, res, record, { corrupt: true });
    }
  });
  server.on('connection', (socket: Socket) => {
    if (down) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const port = address.port;
  let stopped: Promise<void> | undefined;

  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    inject(rule) {
      rules.push({ ...rule, left: rule.times ?? Infinity });
    },
    clear() {
      rules.length = 0;
      for (const socket of hanging) socket.destroy();
    },
    setDown(value) {
      down = value;
      if (down) for (const socket of sockets) socket.destroy();
    },
    requests: () => records.map((r) => ({ ...r })),
    count: (method, path) => records.filter((r) => r.method === method && path.test(r.path)).length,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        running.delete(proxy);
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        agent.destroy();
      });
      return stopped;
    },
  };
  running.add(proxy);
  return proxy;
}
