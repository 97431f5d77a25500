/**
 * @module proxy/nginx
 * The nginx `server` block that `berth nginx-config` prints: TLS ends at nginx, which passes every
 * request to Berth over plain HTTP on a private address. Each directive in it prevents a failure
 * people hit with a registry behind nginx (413 on a layer, uploads spooled to disk, an `http://`
 * token realm, a push cut off by a timeout), so the text says why next to each one. A pure function
 * of its options, so what the CLI prints is what the unit and nginx e2e tests check.
 */
import { ConfigError } from '../config/load.js';

export interface NginxConfigOptions {
  /** The name clients dial (`docker login NAME`); the certificate must list it in its SANs. */
  serverName: string;
  /** `PORT`, or `ADDRESS:PORT` to bind one address. Default 443. */
  listen?: string | undefined;
  /** Where Berth listens, `HOST:PORT`. Default 127.0.0.1:5000. */
  upstream?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  /** Adds `http2` to the listen line (nginx 1.22 syntax). */
  http2?: boolean | undefined;
}

export const DEFAULT_UPSTREAM = '127.0.0.1:5000';

/** DNS name (optionally a leading `*.` wildcard) or an IP address, as nginx's server_name takes it. */
const SERVER_NAME =
  /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/;

function parsePort(text: string, what: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535))
    throw new ConfigError(`${what}: ${text} is not a port (1-65535)`);
  return port;
}

/** Splits `HOST:PORT` (`[v6]:PORT` for IPv6) and checks both parts. */
function parseHostPort(text: string, what: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  const host = colon > 0 ? text.slice(0, colon) : '';
  if (!HOST.test(host)) throw new ConfigError(`${what}: expected HOST:PORT, got ${text}`);
  return { host, port: parsePort(text.slice(colon + 1), what) };
}

function parseListen(text: string): { address: string | null; port: number } {
  if (/^\d+$/.test(text)) return { address: null, port: parsePort(text, '--listen') };
  const { host, port } = parseHostPort(text, '--listen');
  return { address: host, port };
}

/** A file path as one nginx token: quoted when it holds spaces or nginx's special characters. */
function pathToken(file: string, what: string): string {
  // `$` would be read as a variable (ssl_certificate takes variables); the rest cannot be quoted.
  if (file === '' || /[$"\\\p{Cc}]/u.test(file)) {
    throw new ConfigError(`${what}: ${JSON.stringify(file)} is not a usable file path for nginx`);
  }
  return /[\s;{}#']/.test(file) ? `"${file}"` : file;
}

/** Where nginx's connections to Berth come from, for `--trusted-proxy`. */
function proxyAddress(upstreamHost: string): string {
  // A loopback upstream is reached from 127.0.0.1 (Linux picks it as the source for 127/8).
  if (upstreamHost === 'localhost' || (IPV4.test(upstreamHost) && upstreamHost.startsWith('127.')))
    return '127.0.0.1';
  if (upstreamHost === '[::1]') return '::1';
  return 'NGINX_ADDRESS';
}

/** The nginx configuration text for the options (see the module comment). */
export function renderNginxConfig(options: NginxConfigOptions): string {
  const name = options.serverName;
  if (!SERVER_NAME.test(name)) {
    throw new ConfigError(`--server-name: ${JSON.stringify(name)} is not a host name`);
  }
  const listen = parseListen(options.listen ?? '443');
  const upstream = parseHostPort(options.upstream ?? DEFAULT_UPSTREAM, '--upstream');
  const upstreamText = `${upstream.host}:${upstream.port}`;
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together: give both or neither');
  }
  const cert = pathToken(options.tlsCert ?? `/etc/nginx/tls/${name}.crt`, '--tls-cert');
  const key = pathToken(options.tlsKey ?? `/etc/nginx/tls/${name}.key`, '--tls-key');
  const external = listen.port === 443 ? `https://${name}` : `https://${name}:${listen.port}`;
  const clientHost = listen.port === 443 ? name : `${name}:${listen.port}`;
  const proxy = proxyAddress(upstream.host);
  const listenLine = [
    `${listen.address === null ? '' : `${listen.address}:`}${listen.port}`,
    'ssl',
    ...(options.http2 === true ? ['http2'] : []),
  ].join(' ');

  const lines = [
    `# nginx in front of Berth, from \`berth nginx-config --server-name ${name}\`.`,
    '#',
    `# TLS ends here; nginx passes every request to Berth over plain HTTP at ${upstreamText}.`,
    "# Run Berth on that address only, believing this proxy's X-Forwarded-* headers (they make the",
    `# token realm ${external}/v2/token instead of http://${upstreamText}/v2/token):`,
    '#',
    `#   berth serve --listen ${upstreamText} --trusted-proxy ${proxy}`,
    '#',
    '# or pin the address clients see, whatever the headers say:',
    '#',
    `#   berth serve --listen ${upstreamText} --external-url ${external}`,
    ...(proxy === 'NGINX_ADDRESS'
      ? ['#', '# NGINX_ADDRESS: the address nginx connects to Berth from (an IP or a CIDR).']
      : []),
    '#',
    '# Debian: save as /etc/nginx/sites-enabled/berth, then `nginx -t && nginx -s reload`.',
    `# Clients then use: docker login ${clientHost}`,
    'server {',
    `    listen ${listenLine};`,
    `    server_name ${name};`,
    '',
    "    # Clients check the name they dial against the certificate's subjectAltName, not its",
    '    # common name. The file holds the server certificate, then any intermediates.',
    `    # \`berth cert --host ${name}\` makes one, signed by a private CA it also makes`,
    '    # (<data>/tls/server.crt and server.key; copy them where nginx can read them).',
    `    ssl_certificate ${cert};`,
    `    ssl_certificate_key ${key};`,
    '    # TLS 1.0 and 1.1 are broken, and every current registry client speaks 1.2 or 1.3.',
    '    ssl_protocols TLSv1.2 TLSv1.3;',
    '',
    '    # Berth builds absolute URLs (the token realm) from these, and believes them only from an',
    '    # address given to --trusted-proxy. Host keeps the port the client dialled;',
    '    # X-Forwarded-Host is the bare name and X-Forwarded-Port the port, so a port other than 443',
    "    # stays in the realm. X-Forwarded-For gives Berth the client's address for its logs and",
    '    # login throttling. Both locations below inherit these headers.',
    '    proxy_set_header Host $http_host;',
    '    proxy_set_header X-Forwarded-Proto $scheme;',
    '    proxy_set_header X-Forwarded-Host $host;',
    '    proxy_set_header X-Forwarded-Port $server_port;',
    '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    "    # HTTP/1.1 to Berth: over nginx's default HTTP/1.0 a chunked upload (docker sends each layer",
    '    # as one) cannot be passed on as it arrives, so nginx would store the whole layer first.',
    '    proxy_http_version 1.1;',
    '',
    '    # The registry API, including the token endpoint /v2/token.',
    '    location /v2/ {',
    '        # No path after the address: nginx passes the request URI on exactly as received.',
    `        proxy_pass http://${upstreamText};`,
    "        # 0 = no limit. A layer can be gigabytes, and nginx's default of 1m is the classic",
    '        # "413 Request Entity Too Large" on push. Berth checks each upload\'s size and digest.',
    '        client_max_body_size 0;',
    '        # Pass upload bytes to Berth as they arrive. With buffering on, nginx first writes the',
    '        # whole layer to its temp directory (disk space, twice the I/O, and a client waiting',
    "        # with no reply until the last byte is on nginx's disk).",
    '        proxy_request_buffering off;',
    '        # Stream blob downloads straight to the client, instead of spooling large layers to',
    "        # nginx's temp files (up to 1 GB each by default) while a slow client catches up.",
    '        proxy_buffering off;',
    '        # A large layer on a slow link or a busy disk can leave the connection to Berth quiet',
    "        # for longer than nginx's 60 s default, which would cut the push or pull off.",
    '        proxy_read_timeout 900s;',
    '        proxy_send_timeout 900s;',
    '        # Responses Berth streams without a length reach HTTP/1.1 clients chunked. This is',
    "        # nginx's default, stated so that an `off` in the http block cannot break them.",
    '        chunked_transfer_encoding on;',
    '    }',
    '',
    "    # The web UI and the admin API (/api/v1): small requests, nginx's defaults suit them.",
    '    location / {',
    `        proxy_pass http://${upstreamText};`,
    '    }',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}
