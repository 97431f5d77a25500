/**
 * @module proxy/nginx
 * The nginx `server` block that `berth nginx-config` prints: TLS ends at nginx, which passes every
 * request to Berth over plain HTTP on a private address. Each directive in it prevents a failure
 * people hit with a registry behind nginx (413 on a layer, uploads spooled to disk, an `http://`
 * token realm, a push cut off by a timeout), so the text says why next to each one. With several
 * upstreams (stateless replicas sharing one database and one blob store) it adds an `upstream`
 * block that nginx balances round robin, with the connection reuse and retry rules that go with
 * it. A pure function of its options, so what the CLI prints is what the unit and nginx e2e tests
 * check.
 */
import { ConfigError } from '../config/load.js';

export interface NginxConfigOptions {
  /** The name clients dial (`docker login NAME`); the certificate must list it in its SANs. */
  serverName: string;
  /** `PORT`, or `ADDRESS:PORT` to bind one address. Default 443. */
  listen?: string | undefined;
  /**
   * Where Berth listens, `HOST:PORT`; several for replicas behind this nginx. Default (also for an
   * empty list, what the CLI passes when `--upstream` is not given) 127.0.0.1:5000.
   */
  upstream?: string | readonly string[] | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  /** Adds `http2` to the listen line (nginx 1.22 syntax). */
  http2?: boolean | undefined;
}

export const DEFAULT_UPSTREAM = '127.0.0.1:5000';
/** The `upstream` block's name when there are several replicas: what `proxy_pass` names. */
const UPSTREAM_NAME = 'berth';

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

interface Upstream {
  host: string;
  port: number;
  /** `HOST:PORT` as written into the config (the port without leading zeros). */
  address: string;
}

/** Each `--upstream` checked, once: a replica listed twice would get twice its share of requests. */
function parseUpstreams(option: string | readonly string[] | undefined): Upstream[] {
  const list = typeof option === 'string' ? [option] : (option ?? []);
  const seen = new Set<string>();
  return (list.length === 0 ? [DEFAULT_UPSTREAM] : list).map((text) => {
    const { host, port } = parseHostPort(text, '--upstream');
    const address = `${host}:${port}`;
    // Host names are case-insensitive: REPLICA1:5000 is replica1:5000.
    const key = address.toLowerCase();
    if (seen.has(key)) {
      throw new ConfigError(`--upstream: ${address} is given twice; list each replica once`);
    }
    seen.add(key);
    return { host, port, address };
  });
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
  const upstreams = parseUpstreams(options.upstream);
  const [first] = upstreams;
  if (!first) throw new Error('parseUpstreams returned no upstream');
  const replicas = upstreams.length > 1;
  const target = replicas ? UPSTREAM_NAME : first.address;
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together: give both or neither');
  }
  const cert = pathToken(options.tlsCert ?? `/etc/nginx/tls/${name}.crt`, '--tls-cert');
  const key = pathToken(options.tlsKey ?? `/etc/nginx/tls/${name}.key`, '--tls-key');
  const external = listen.port === 443 ? `https://${name}` : `https://${name}:${listen.port}`;
  const clientHost = listen.port === 443 ? name : `${name}:${listen.port}`;
  const listenLine = [
    `${listen.address === null ? '' : `${listen.address}:`}${listen.port}`,
    'ssl',
    ...(options.http2 === true ? ['http2'] : []),
  ].join(' ');

  const proxies = upstreams.map((u) => proxyAddress(u.host));

  const header = replicas
    ? [
        `# TLS ends here; nginx passes each request over plain HTTP to one of ${upstreams.length} Berth replicas,`,
        '# in turn. The replicas share their state: every one runs with the same metadata database',
        '# (--meta postgres://…) and the same blob store (--storage s3://…), so any replica can answer',
        '# any request, including the next PATCH of an upload that another replica began. With',
        '#',
        '#   META=postgres://USER:PASSWORD@DBHOST:5432/berth',
        "#   STORAGE='s3://BUCKET?endpoint=https://S3HOST&region=REGION&forcePathStyle=true'",
        '#',
        "# and the S3 keys in each replica's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run each",
        "# replica on its address only, believing this proxy's X-Forwarded-* headers (they make the",
        `# token realm ${external}/v2/token instead of http://${first.address}/v2/token):`,
        '#',
        ...upstreams.map(
          (u, i) =>
            `#   berth serve --listen ${u.address} --meta "$META" --storage "$STORAGE" --trusted-proxy ${proxies[i] ?? ''}`,
        ),
        '#',
        '# or pin the address clients see, whatever the headers say: the same lines with',
        `# --external-url ${external} in place of --trusted-proxy.`,
      ]
    : [
        `# TLS ends here; nginx passes every request to Berth over plain HTTP at ${first.address}.`,
        "# Run Berth on that address only, believing this proxy's X-Forwarded-* headers (they make the",
        `# token realm ${external}/v2/token instead of http://${first.address}/v2/token):`,
        '#',
        `#   berth serve --listen ${first.address} --trusted-proxy ${proxies[0] ?? ''}`,
        '#',
        '# or pin the address clients see, whatever the headers say:',
        '#',
        `#   berth serve --listen ${first.address} --external-url ${external}`,
      ];

  const upstreamBlock = replicas
    ? [
        '',
        '# The replicas, taken in turn (round robin). Consecutive requests of one upload may land on',
        '# different replicas, which is fine: they share the upload through the database and store.',
        `upstream ${UPSTREAM_NAME} {`,
        ...upstreams.map((u) => `    server ${u.address};`),
        '    # Up to 32 idle connections to the replicas stay open in each nginx worker for the next',
        '    # requests, instead of a new TCP connection per request. Needs HTTP/1.1 and an empty',
        '    # Connection header, both set in the server block.',
        '    keepalive 32;',
        '    # nginx drops an idle connection before Berth does (after 65 s): if Berth closed it first,',
        '    # a request nginx had just sent on it would fail (502) instead of reaching a replica.',
        '    keepalive_timeout 60s;',
        '}',
        '',
      ]
    : [];

  const replicaDirectives = replicas
    ? [
        "    # Empty, so that the kept-alive connections above are reused. nginx's default to upstreams",
        '    # is `Connection: close`, which over HTTP/1.1 makes Berth close the connection after every',
        '    # response: each request would open a new connection to Berth.',
        '    proxy_set_header Connection "";',
        "    # A replica that cannot be reached or times out is skipped for the next one (nginx's",
        '    # default, stated so that a setting in the http block cannot widen it). Once a request has',
        '    # reached a replica, nginx sends it to another only if it is idempotent and its body was',
        '    # not streamed: a GET, a HEAD, the bodiless PUT that closes an upload; never a POST or',
        '    # PATCH. That is safe: any replica can continue or close any upload, and the client',
        '    # retries what nginx does not.',
        '    proxy_next_upstream error timeout;',
      ]
    : [];

  const lines = [
    `# nginx in front of Berth, from \`berth nginx-config --server-name ${name}\`.`,
    '#',
    ...header,
    ...(proxies.includes('NGINX_ADDRESS')
      ? ['#', '# NGINX_ADDRESS: the address nginx connects to Berth from (an IP or a CIDR).']
      : []),
    '#',
    '# Debian: save as /etc/nginx/sites-enabled/berth, then `nginx -t && nginx -s reload`.',
    `# Clients then use: docker login ${clientHost}`,
    ...upstreamBlock,
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
    ...replicaDirectives,
    '',
    '    # The registry API, including the token endpoint /v2/token.',
    '    location /v2/ {',
    `        # No path after the ${replicas ? 'upstream name' : 'address'}: nginx passes the request URI on exactly as received.`,
    `        proxy_pass http://${target};`,
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
    `        proxy_pass http://${target};`,
    '    }',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}
