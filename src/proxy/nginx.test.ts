import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/load.js';
import { renderNginxConfig } from './nginx.js';

/** The directive lines (comments and blank lines dropped) of the block opened by `header {`. */
function block(text: string, header: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === `${header} {`);
  if (start < 0) throw new Error(`no block ${header}`);
  const body: string[] = [];
  let depth = 1;
  for (const line of lines.slice(start + 1)) {
    const trimmed = line.trim();
    if (trimmed.endsWith('{')) depth++;
    if (trimmed === '}') depth--;
    if (depth === 0) return body;
    if (depth === 1 && trimmed !== '' && !trimmed.startsWith('#')) body.push(trimmed);
  }
  throw new Error(`block ${header} is not closed`);
}

const defaults = renderNginxConfig({ serverName: 'registry.example.com' });

describe('nginx-config text', () => {
  it('terminates TLS on 443 with modern protocols and the default certificate paths', () => {
    const server = block(defaults, 'server');
    expect(server).toContain('listen 443 ssl;');
    expect(server).toContain('server_name registry.example.com;');
    expect(server).toContain('ssl_protocols TLSv1.2 TLSv1.3;');
    expect(server).toContain('ssl_certificate /etc/nginx/tls/registry.example.com.crt;');
    expect(server).toContain('ssl_certificate_key /etc/nginx/tls/registry.example.com.key;');
  });

  it('forwards the scheme, host and port Berth needs for an https realm, to both locations', () => {
    const server = block(defaults, 'server');
    for (const header of [
      'Host $http_host',
      'X-Forwarded-Proto $scheme',
      'X-Forwarded-Host $host',
      'X-Forwarded-Port $server_port',
      'X-Forwarded-For $proxy_add_x_forwarded_for',
    ]) {
      expect(server).toContain(`proxy_set_header ${header};`);
    }
    expect(server).toContain('proxy_http_version 1.1;');
    // nginx inherits proxy_set_header only into locations that set none of their own.
    for (const location of ['location /v2/', 'location /']) {
      expect(block(defaults, location).some((l) => l.startsWith('proxy_set_header'))).toBe(false);
    }
  });

  it('lets /v2/ take layers of any size, streamed both ways, with long timeouts', () => {
    expect(block(defaults, 'location /v2/')).toEqual([
      'proxy_pass http://127.0.0.1:5000;',
      'client_max_body_size 0;',
      'proxy_request_buffering off;',
      'proxy_buffering off;',
      'proxy_read_timeout 900s;',
      'proxy_send_timeout 900s;',
      'chunked_transfer_encoding on;',
    ]);
    expect(block(defaults, 'location /')).toEqual(['proxy_pass http://127.0.0.1:5000;']);
  });

  it('says why next to every directive whose reason is not obvious', () => {
    const lines = defaults.split('\n').map((l) => l.trim());
    for (const directive of [
      'ssl_protocols',
      'proxy_set_header Host',
      'proxy_http_version',
      'proxy_pass',
      'client_max_body_size',
      'proxy_request_buffering',
      'proxy_buffering',
      'proxy_read_timeout',
      'chunked_transfer_encoding',
    ]) {
      const at = lines.findIndex((l) => l.startsWith(`${directive} `));
      expect(at, directive).toBeGreaterThan(0);
      expect(lines[at - 1], directive).toMatch(/^#/);
    }
  });

  it('opens with the Berth flags that go with it', () => {
    const header = defaults.slice(0, defaults.indexOf('server {'));
    expect(header.split('\n').every((l) => l === '' || l.startsWith('#'))).toBe(true);
    expect(header).toContain('berth serve --listen 127.0.0.1:5000 --trusted-proxy 127.0.0.1');
    expect(header).toContain(
      'berth serve --listen 127.0.0.1:5000 --external-url https://registry.example.com\n',
    );
    expect(header).toContain('docker login registry.example.com\n');
  });

  it('follows --listen, --upstream, --http2 and the TLS files into every place they appear', () => {
    const text = renderNginxConfig({
      serverName: 'reg.internal',
      listen: '127.0.0.1:8443',
      upstream: '10.0.0.5:5001',
      tlsCert: '/srv/tls/my cert.pem',
      tlsKey: '/srv/tls/key.pem',
      http2: true,
    });
    const server = block(text, 'server');
    expect(server).toContain('listen 127.0.0.1:8443 ssl http2;');
    expect(server).toContain('ssl_certificate "/srv/tls/my cert.pem";');
    expect(server).toContain('ssl_certificate_key /srv/tls/key.pem;');
    expect(block(text, 'location /v2/')).toContain('proxy_pass http://10.0.0.5:5001;');
    expect(block(text, 'location /')).toEqual(['proxy_pass http://10.0.0.5:5001;']);
    // A port other than 443 is part of the address clients dial.
    expect(text).toContain('--external-url https://reg.internal:8443\n');
    expect(text).toContain('docker login reg.internal:8443\n');
    // Berth is not on loopback: the proxy's own address is for the operator to fill in.
    expect(text).toContain('--listen 10.0.0.5:5001 --trusted-proxy NGINX_ADDRESS');
    expect(text).toContain('# NGINX_ADDRESS: the address nginx connects to Berth from');
  });

  it('names ::1 as the trusted proxy for an IPv6 loopback upstream', () => {
    const text = renderNginxConfig({
      serverName: 'r.test',
      listen: '8443',
      upstream: '[::1]:5000',
    });
    expect(block(text, 'server')).toContain('listen 8443 ssl;');
    expect(text).toContain('--listen [::1]:5000 --trusted-proxy ::1\n');
    expect(block(text, 'location /v2/')).toContain('proxy_pass http://[::1]:5000;');
  });

  it('balances several --upstream replicas round robin, reusing connections', () => {
    const text = renderNginxConfig({
      serverName: 'registry.example.com',
      upstream: ['127.0.0.1:5001', '127.0.0.1:5002', '10.0.0.7:05003'],
    });
    expect(block(text, 'upstream berth')).toEqual([
      'server 127.0.0.1:5001;',
      'server 127.0.0.1:5002;',
      'server 10.0.0.7:5003;',
      'keepalive 32;',
      'keepalive_timeout 60s;',
    ]);
    // nginx reads `upstream` only at the http level: the block stands before the server block.
    expect(text.indexOf('upstream berth {')).toBeLessThan(text.indexOf('server {'));
    for (const location of ['location /v2/', 'location /']) {
      expect(block(text, location)[0]).toBe('proxy_pass http://berth;');
      // nginx inherits proxy_set_header only into locations that set none of their own.
      expect(block(text, location).some((l) => l.startsWith('proxy_set_header'))).toBe(false);
    }
    const server = block(text, 'server');
    // Kept-alive upstream connections need HTTP/1.1 and no `Connection: close`.
    expect(server).toContain('proxy_http_version 1.1;');
    expect(server).toContain('proxy_set_header Connection "";');
    expect(server).toContain('proxy_next_upstream error timeout;');
    // The rest of the /v2/ rules are those of a single upstream.
    expect(block(text, 'location /v2/').slice(1)).toEqual(
      block(defaults, 'location /v2/').slice(1),
    );
  });

  it('says why next to each directive that replicas add', () => {
    const text = renderNginxConfig({ serverName: 'r.test', upstream: ['h1:1', 'h2:2'] });
    const lines = text.split('\n').map((l) => l.trim());
    for (const directive of [
      'upstream berth {',
      'keepalive ',
      'keepalive_timeout ',
      'proxy_set_header Connection ',
      'proxy_next_upstream ',
    ]) {
      const at = lines.findIndex((l) => l.startsWith(directive));
      expect(at, directive).toBeGreaterThan(0);
      expect(lines[at - 1], directive).toMatch(/^#/);
    }
    expect(text).toMatch(
      /`Connection: close`, which over HTTP\/1\.1 makes Berth close the connection/,
    );
    expect(text).toMatch(/only if it is idempotent[^]*never a POST or\n *# PATCH\./);
  });

  it('shows the serve line of each replica, all on the same database and blob store', () => {
    const text = renderNginxConfig({
      serverName: 'registry.example.com',
      upstream: ['127.0.0.1:5001', '[::1]:5002', 'replica3.internal:5000'],
    });
    const header = text.slice(0, text.indexOf('upstream berth {'));
    expect(header.split('\n').every((l) => l === '' || l.startsWith('#'))).toBe(true);
    expect(header).toContain('#   META=postgres://');
    expect(header).toContain("#   STORAGE='s3://");
    const serve = header.split('\n').filter((l) => l.startsWith('#   berth serve'));
    expect(serve).toEqual([
      '#   berth serve --listen 127.0.0.1:5001 --meta "$META" --storage "$STORAGE" --trusted-proxy 127.0.0.1',
      '#   berth serve --listen [::1]:5002 --meta "$META" --storage "$STORAGE" --trusted-proxy ::1',
      '#   berth serve --listen replica3.internal:5000 --meta "$META" --storage "$STORAGE" --trusted-proxy NGINX_ADDRESS',
    ]);
    expect(header).toContain('# NGINX_ADDRESS: the address nginx connects to Berth from');
    expect(header).toContain(
      '--external-url https://registry.example.com in place of --trusted-proxy',
    );
    expect(header).toContain('docker login registry.example.com\n');
  });

  it('keeps the single-upstream text when --upstream is given once or not at all', () => {
    expect(renderNginxConfig({ serverName: 'registry.example.com', upstream: [] })).toBe(defaults);
    const once = renderNginxConfig({ serverName: 'r.test', upstream: ['10.0.0.5:5001'] });
    expect(once).toBe(renderNginxConfig({ serverName: 'r.test', upstream: '10.0.0.5:5001' }));
    for (const text of [defaults, once]) {
      expect(text).not.toContain('upstream berth');
      expect(text).not.toContain('keepalive');
      expect(text).not.toContain('proxy_set_header Connection');
      expect(text).not.toContain('proxy_next_upstream');
    }
  });

  it.each([
    [{ serverName: 'bad name' }, /--server-name/],
    [{ serverName: 'x;y' }, /--server-name/],
    [{ serverName: 'r.test', listen: '0' }, /--listen: 0 is not a port/],
    [{ serverName: 'r.test', listen: '70000' }, /--listen: 70000 is not a port/],
    [{ serverName: 'r.test', listen: 'x:443;' }, /--listen/],
    [{ serverName: 'r.test', upstream: '5000' }, /--upstream: expected HOST:PORT/],
    [{ serverName: 'r.test', upstream: 'a b:5000' }, /--upstream: expected HOST:PORT/],
    [{ serverName: 'r.test', upstream: ['h1:5000', 'x'] }, /--upstream: expected HOST:PORT, got x/],
    [{ serverName: 'r.test', upstream: ['h1:5000', 'h2:0'] }, /--upstream: 0 is not a port/],
    [
      { serverName: 'r.test', upstream: ['h1:5000', 'h2:5000', 'H1:05000'] },
      /--upstream: H1:5000 is given twice; list each replica once/,
    ],
    [{ serverName: 'r.test', tlsCert: '/a.crt' }, /give both or neither/],
    [{ serverName: 'r.test', tlsCert: '/$x.crt', tlsKey: '/k' }, /--tls-cert/],
    [{ serverName: 'r.test', tlsCert: '/c', tlsKey: '/k"' }, /--tls-key/],
  ])('refuses %o', (options, message) => {
    expect(() => renderNginxConfig(options)).toThrow(ConfigError);
    expect(() => renderNginxConfig(options)).toThrow(message);
  });
});
