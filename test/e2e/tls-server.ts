/**
 * The built server over HTTPS for the TLS e2e tests: like startServerProcess, but on the listen
 * addresses the test chooses (docker's TLS test needs `[::1]`), ready when it prints its https://
 * URL, optionally pinned to CPUs with taskset (the seed's one-core box), plus a sampler of its
 * resident set from /proc. Also a Node TLS client that trusts only the CA it is given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { ADMIN_PASSWORD, CLI, collectOutput } from '../helpers/server.js';

export interface TlsServer {
  /** `https://127.0.0.1:PORT` or `https://[::1]:PORT`: the first listener. */
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr), in whole lines. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output (whole lines; a string literally), waiting up to 30 s. */
  waitFor(pattern: RegExp | string): Promise<RegExpExecArray>;
  /** SIGTERM, then the exit code once it has exited and its output is read. */
  stop(): Promise<number | null>;
}

export async function startTlsServer(options: {
  dataDir: string;
  listen: string[];
  args?: string[];
  auth?: boolean;
  nodeArgs?: string[];
  /** `taskset -c CPUS`: the server runs on those CPUs only. */
  cpus?: string;
}): Promise<TlsServer> {
  const node = [
    process.execPath,
    ...(options.nodeArgs ?? []),
    CLI,
    'serve',
    '--data',
    options.dataDir,
    '--log-level',
    'warn',
    ...options.listen.flatMap((l) => ['--listen', l]),
    ...(options.auth === false ? ['--no-auth'] : []),
    ...(options.args ?? []),
  ];
  // taskset execs the command: the PID is the server's own, so /proc/PID is the server.
  const [command, ...args] = options.cpus ? ['taskset', '-c', options.cpus, ...node] : node;
  const child = spawn(command ?? process.execPath, args, {
    env: { ...process.env, BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const exited = output.closed.then(({ code }) => code);
  let url: string;
  try {
    url = (await output.waitFor(/serving the registry on (https:\/\/[^\s,]+)/, 60_000))[1] ?? '';
  } catch (e) {
    // A failed start leaves no process behind.
    child.kill('SIGKILL');
    await exited;
    throw e;
  }
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid ?? -1,
    child,
    output: output.text,
    waitFor: (pattern) => output.waitFor(pattern, 30_000),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface HttpsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * GET over TLS trusting only `ca`; `servername` is the name the certificate must carry (Node
 * checks it as a client would). Rejects with Node's TLS error (e.g. ERR_TLS_CERT_ALTNAME_INVALID).
 */
export function httpsGet(
  url: string,
  options: { ca: string; servername?: string; headers?: Record<string, string> },
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      url,
      {
        ca: options.ca,
        agent: false,
        headers: options.headers ?? {},
        ...(options.servername ? { servername: options.servername } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.once('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.once('error', reject);
      },
    );
    request.once('error', reject);
  });
}

/** VmRSS and VmHWM (the kernel's peak) of a process, in MB. */
export function memoryOf(pid: number): { rssMB: number; hwmMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!m?.[1]) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Math.round((Number(m[1]) / 1024) * 10) / 10;
  };
  return { rssMB: field('VmRSS'), hwmMB: field('VmHWM') };
}

export interface RssSampler {
  /** Stops sampling: peak of the samples, the kernel's peak, and how many samples. */
  stop(): { peakMB: number; hwmMB: number; samples: number };
}

/** Samples VmRSS every `ms` until stopped. */
export function sampleRss(pid: number, ms = 100): RssSampler {
  let peak = 0;
  let samples = 0;
  let hwm = 0;
  const take = (): void => {
    try {
      const m = memoryOf(pid);
      peak = Math.max(peak, m.rssMB);
      hwm = m.hwmMB;
      samples++;
    } catch {
      // The process has exited: the last readings stand.
    }
  };
  take();
  const timer = setInterval(take, ms);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakMB: peak, hwmMB: hwm, samples };
    },
  };
}
