/**
 * One load-generator process (run by `loadgen.ts`): keeps `connections` keep-alive sockets busy
 * with the same small request for `durationMs`, one request in flight per socket, and prints one
 * JSON line with its latencies.
 *
 * Raw sockets rather than node:http because the client must not be the bottleneck: on this 2-core
 * machine it drives a trivial node:http server at about twice the rate of `wrk -c64` (which also
 * cannot send HEAD: it waits for a body that never comes). Responses must carry Content-Length.
 */
import net from 'node:net';

export interface LoadgenChildArgs {
  host: string;
  port: number;
  method: 'GET' | 'HEAD';
  path: string;
  headers: Record<string, string>;
  connections: number;
  durationMs: number;
  timeoutMs: number;
}

export interface LoadgenChildResult {
  requests: number;
  /** Connections that ended with an error (timeout, reset, unparseable response). */
  errors: number;
  non2xx: number;
  elapsedMs: number;
  /** Latencies in microseconds, as base64 of a Uint32Array. */
  latenciesUs: string;
}

const HEADER_END = Buffer.from('\r\n\r\n');

interface Recorder {
  record(us: number, ok: boolean): void;
  more(): boolean;
  closed(hadError: boolean): void;
}

class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  /**
   * Bytes of the response in progress (head + body) not yet dropped from `buffer`, -1 while the
   * head is incomplete.
   */
  private responseBytes = -1;
  private status = 0;
  private sentAt = 0n;
  private readonly socket: net.Socket;

  constructor(
    private readonly args: LoadgenChildArgs,
    private readonly requestBytes: Buffer,
    private readonly recorder: Recorder,
  ) {
    this.socket = net.connect({ host: args.host, port: args.port, noDelay: true });
    this.socket.setTimeout(args.timeoutMs, () => this.socket.destroy(new Error('timeout')));
    this.socket.on('connect', () => this.send());
    this.socket.on('data', (data: Buffer) => this.receive(data));
    this.socket.on('error', () => undefined);
    this.socket.on('close', (hadError) => this.recorder.closed(hadError));
  }

  private send(): void {
    this.sentAt = process.hrtime.bigint();
    this.socket.write(this.requestBytes);
  }

  private receive(data: Buffer): void {
    // A large body (a blob GET) is counted, not kept: concatenating it would cost quadratic time.
    if (this.responseBytes >= 0 && this.buffer.length + data.length < this.responseBytes) {
      this.responseBytes -= this.buffer.length + data.length;
      this.buffer = Buffer.alloc(0);
      return;
    }
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
    for (;;) {
      if (this.responseBytes < 0 && !this.parseHead()) return;
      if (this.buffer.length < this.responseBytes) return;
      this.buffer = this.buffer.subarray(this.responseBytes);
      this.responseBytes = -1;
      const us = Number((process.hrtime.bigint() - this.sentAt) / 1000n);
      this.recorder.record(us, this.status >= 200 && this.status < 300);
      if (!this.recorder.more()) {
        this.socket.end();
        return;
      }
      this.send();
    }
  }

  /** False while the head is incomplete. */
  private parseHead(): boolean {
    const end = this.buffer.indexOf(HEADER_END);
    if (end < 0) return false;
    const head = this.buffer.toString('latin1', 0, end);
    this.status = Number(head.slice(9, 12));
    if (/\r\ntransfer-encoding:/i.test(head)) {
      this.socket.destroy(new Error('chunked responses are not supported'));
      return false;
    }
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
    const bodyBytes = this.args.method === 'HEAD' || length === undefined ? 0 : Number(length);
    this.responseBytes = end + HEADER_END.length + bodyBytes;
    return true;
  }
}

function main(): void {
  const args = JSON.parse(process.argv[2] ?? '{}') as LoadgenChildArgs;
  const lines = [`${args.method} ${args.path} HTTP/1.1`, `Host: ${args.host}:${args.port}`];
  for (const [name, value] of Object.entries(args.headers)) lines.push(`${name}: ${value}`);
  const requestBytes = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');

  let latencies = new Uint32Array(1 << 16);
  let count = 0;
  let errors = 0;
  let non2xx = 0;
  let open = args.connections;
  const t0 = performance.now();
  const deadline = t0 + args.durationMs;
  const recorder: Recorder = {
    record(us, ok) {
      if (count === latencies.length) {
        const bigger = new Uint32Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[count++] = us;
      if (!ok) non2xx++;
    },
    more: () => performance.now() < deadline,
    closed(hadError) {
      if (hadError) errors++;
      if (--open > 0) return;
      const result: LoadgenChildResult = {
        requests: count,
        errors,
        non2xx,
        elapsedMs: performance.now() - t0,
        latenciesUs: Buffer.from(latencies.buffer, 0, count * 4).toString('base64'),
      };
      process.stdout.write(`${JSON.stringify(result)}\n`);
    },
  };
  for (let i = 0; i < args.connections; i++) new Connection(args, requestBytes, recorder);
}

main();
