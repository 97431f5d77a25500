/**
 * A throwaway real nginx (Debian's) for tests: run in the foreground by its PID, on a free port
 * on 127.0.0.1, with a minimal main config around the caller's `upstream`/`server` text.
 * Everything nginx writes (pid, logs, temp files) stays in a directory of its own, removed when
 * it stops.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canConnect, freePort } from './net.js';

// Debian's nginx lives in /usr/sbin, which a non-login PATH may lack.
export const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

export interface NginxOptions {
  /** What goes inside `http { }` (upstream and server blocks) for nginx listening on `port`. */
  http: (port: number) => string | Promise<string>;
  /** Starts the name of nginx's directory. */
  label: string;
  /** Where nginx's directory goes (default: the system temp dir). */
  parent?: string;
  /** Off for a load balancer under load; else every request lands in `access.log`. */
  accessLog?: boolean;
}

export interface Nginx {
  port: number;
  /** nginx's directory: `error.log`, `access.log`, and the `client_body`/`proxy` temp dirs. */
  dir: string;
  /** The master process. */
  pid: number;
  /** nginx's error log so far. */
  errors(): Promise<string>;
  /** Stops nginx and removes its directory; a second call does nothing more. */
  stop(): Promise<void>;
}

const running = new Set<Nginx>();

/** Stops every nginx still running: for an afterAll, in case a test ended before its stop. */
export async function stopAllNginx(): Promise<void> {
  for (const nginx of running) await nginx.stop();
}

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dir = await mkdtemp(path.join(options.parent ?? tmpdir(), `${options.label}-`));
    let started: { nginx: Nginx } | { failure: string };
    try {
      started = await launch(port, dir, await options.http(port), options.accessLog ?? true);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    if ('nginx' in started) return started.nginx;
    await rm(dir, { recursive: true, force: true });
    // Another process may have taken the port between the probe and nginx's bind.
    if (attempt < 3 && /Address already in use/.test(started.failure)) continue;
    throw new Error(`nginx did not start:\n${started.failure}`);
  }
}

async function launch(
  port: number,
  dir: string,
  http: string,
  accessLog: boolean,
): Promise<{ nginx: Nginx } | { failure: string }> {
  const config = [
    'daemon off;',
    'worker_processes 1;',
    // As root, nginx would otherwise run its worker as nobody, who cannot use the temp dirs.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `pid ${dir}/nginx.pid;`,
    // warn: where nginx says "a client request body is buffered to a temporary file".
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 1024; }',
    'http {',
    `    access_log ${accessLog ? `${dir}/access.log` : 'off'};`,
    `    client_body_temp_path ${dir}/client_body;`,
    `    proxy_temp_path ${dir}/proxy;`,
    `    fastcgi_temp_path ${dir}/fastcgi;`,
    `    uwsgi_temp_path ${dir}/uwsgi;`,
    `    scgi_temp_path ${dir}/scgi;`,
    http,
    '}',
    '',
  ].join('\n');
  const file = path.join(dir, 'nginx.conf');
  await writeFile(file, config);
  const child = spawn(NGINX, ['-c', file, '-p', `${dir}/`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // An object: the exit handler sets it, which flow analysis does not see.
  const state = { alive: true };
  void exited.then(() => (state.alive = false));
  const kill = (): void => {
    if (state.alive && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
  };
  const errors = (): Promise<string> => readFile(path.join(dir, 'error.log'), 'utf8');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && state.alive && !(await canConnect(port))) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (state.alive && child.pid !== undefined && (await canConnect(port))) {
    const nginx: Nginx = {
      port,
      dir,
      pid: child.pid,
      errors,
      async stop() {
        running.delete(nginx);
        kill();
        await exited;
        await rm(dir, { recursive: true, force: true });
      },
    };
    running.add(nginx);
    return { nginx };
  }
  kill();
  await exited;
  return { failure: `${output}\n${await errors().catch(() => '')}` };
}
