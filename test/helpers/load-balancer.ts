/**
 * Real nginx (Debian's) as a round-robin load balancer in front of Berth replicas, as the
 * scale-out mode runs (ENGINES.md §3): HTTP/1.1 with keepalive to the replicas, request bodies
 * and responses streamed (no spooling), no body size limit. Each response says which replica
 * served it (`X-Upstream`), so tests can show that consecutive requests of one upload landed on
 * different replicas. Everything lives in one temp directory; nginx is stopped by its PID.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

export interface LoadBalancer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  host: string;
  pid: number;
  /** nginx's error log so far (for a failing test's message). */
  errors(): Promise<string>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** `upstreams`: `HOST:PORT` of each replica, in round-robin order. */
export async function startLoadBalancer(upstreams: string[]): Promise<LoadBalancer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-lb-'));
  try {
    const port = await freePort();
    const config = [
      'daemon off;',
      'worker_processes 1;',
      // As root, nginx would otherwise run its worker as nobody, who cannot use the temp dirs.
      ...(process.getuid?.() === 0 ? ['user root;'] : []),
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '    access_log off;',
      `    client_body_temp_path ${dir}/client_body;`,
      `    proxy_temp_path ${dir}/proxy;`,
      `    fastcgi_temp_path ${dir}/fastcgi;`,
      `    uwsgi_temp_path ${dir}/uwsgi;`,
      `    scgi_temp_path ${dir}/scgi;`,
      '    upstream berth {',
      // A replica that refuses a connection (killed) is skipped for 2 s, then tried again.
      ...upstreams.map((u) => `        server ${u} max_fails=1 fail_timeout=2s;`),
      '        keepalive 32;',
      '    }',
      '    server {',
      `        listen 127.0.0.1:${port};`,
      '        location / {',
      '            proxy_pass http://berth;',
      '            proxy_http_version 1.1;',
      '            proxy_set_header Connection "";',
      '            proxy_set_header Host $http_host;',
      '            client_max_body_size 0;',
      '            proxy_request_buffering off;',
      '            proxy_buffering off;',
      '            proxy_read_timeout 900s;',
      '            proxy_send_timeout 900s;',
      '            add_header X-Upstream $upstream_addr always;',
      '        }',
      '    }',
      '}',
      '',
    ].join('\n');
    const file = path.join(dir, 'nginx.conf');
    await writeFile(file, config);
    const child = spawn(NGINX, ['-c', file, '-p', `${dir}/`], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const state = { alive: true };
    void exited.then(() => (state.alive = false));
    const deadline = Date.now() + 30_000;
    while (state.alive && !(await canConnect(port))) {
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (!state.alive || !(await canConnect(port))) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`nginx did not start (config ${file})`);
    }
    const readErrors = async (): Promise<string> => {
      const { readFile } = await import('node:fs/promises');
      return readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
    };
    return {
      url: `http://127.0.0.1:${port}`,
      host: `127.0.0.1:${port}`,
      pid: child.pid ?? -1,
      errors: readErrors,
      async stop() {
        if (state.alive) child.kill('SIGTERM');
        await exited;
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
