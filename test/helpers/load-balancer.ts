/**
 * Real nginx (Debian's) as a round-robin load balancer in front of Berth replicas, as the
 * scale-out mode runs (ENGINES.md §3): HTTP/1.1 with keepalive to the replicas, request bodies
 * and responses streamed (no spooling), no body size limit. Each response says which replica
 * served it (`X-Upstream`), so tests can show that consecutive requests of one upload landed on
 * different replicas. nginx.ts runs nginx (its own temp directory, stopped by its PID).
 */
import { startNginx } from './nginx.js';

export interface LoadBalancer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  host: string;
  pid: number;
  /** nginx's error log so far (for a failing test's message). */
  errors(): Promise<string>;
  stop(): Promise<void>;
}

/** `upstreams`: `HOST:PORT` of each replica, in round-robin order. */
export async function startLoadBalancer(upstreams: string[]): Promise<LoadBalancer> {
  const nginx = await startNginx({
    label: 'berth-lb',
    accessLog: false,
    http: (port) =>
      [
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
      ].join('\n'),
  });
  return {
    url: `http://127.0.0.1:${nginx.port}`,
    host: `127.0.0.1:${nginx.port}`,
    pid: nginx.pid,
    // Empty once stopped (the directory is gone).
    errors: () => nginx.errors().catch(() => ''),
    stop: () => nginx.stop(),
  };
}
