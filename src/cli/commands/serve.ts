/**
 * @module cli/commands/serve
 * `berth serve`: runs the registry. SIGTERM/SIGINT shut it down gracefully; SIGHUP reloads the
 * TLS certificate (after `berth cert` renewed it).
 *
 * stdout carries only the JSON log lines (for jq, journald, a log shipper); everything written
 * for a person — the banner, the client set-up, the first admin password — goes to stderr.
 */
import type { Command } from 'commander';
import { ConfigError } from '../../config/errors.js';
import {
  loadConfig,
  parseMirrorFlag,
  redactMetaUrl,
  type ConfigSources,
} from '../../config/load.js';
import { LOG_LEVELS } from '../../config/schema.js';
import type { BerthApp } from '../../app.js';
import { dialName, dialNames } from '../../tls/client-setup.js';
import { clientSetupForServing } from '../../tls/setup.js';
import { mirrorProblem } from '../../federation/mirror.js';
import { mirrorSetupText } from '../../federation/mirror-setup.js';
import { checkDataPath } from '../data.js';
import { collect } from '../output.js';

interface ServeFlags {
  listen?: string[];
  data?: string;
  meta?: string;
  storage?: string;
  config?: string;
  logLevel?: string;
  externalUrl?: string;
  trustedProxy: string[];
  auth: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsAuto?: boolean;
  tlsHost: string[];
  tlsIp: string[];
  httpRedirect?: string;
  tls: boolean;
  mirror: string[];
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the registry (default: ./data, all interfaces, port 5000)')
    .option(
      '--listen <host:port>',
      'address to listen on; repeat for several (env BERTH_LISTEN)',
      collect,
      [],
    )
    .option('--data <dir>', 'data directory (env BERTH_DATA, default ./data)')
    .option('--meta <url>', 'metadata database: sqlite:<file> or postgres://… (env BERTH_META_URL)')
    .option(
      '--storage <url>',
      'blob storage: file:<dir> or s3://bucket[/prefix]?endpoint=…&region=… (env BERTH_STORAGE_URL)',
    )
    .option('--config <file>', 'YAML configuration file (env BERTH_CONFIG)')
    .option('--log-level <level>', `${LOG_LEVELS.join('|')} (env BERTH_LOG_LEVEL)`)
    .option(
      '--external-url <url>',
      'the URL clients reach this registry at, e.g. https://registry.example.com (env BERTH_EXTERNAL_URL)',
    )
    .option(
      '--trusted-proxy <address>',
      'a reverse proxy (IP or CIDR) whose X-Forwarded-* headers are believed; repeatable (env BERTH_TRUSTED_PROXIES)',
      collect,
      [],
    )
    .option(
      '--no-auth',
      'turn authentication off: everyone may do everything (trusted networks and tests only; env BERTH_AUTH=off)',
    )
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (env BERTH_TLS_CERT)')
    .option('--tls-key <file>', 'the private key of --tls-cert (env BERTH_TLS_KEY)')
    .option(
      '--tls-auto',
      'make a CA and certificate in <data>/tls on first start and serve HTTPS with them',
    )
    .option(
      '--tls-host <name>',
      'a DNS name for --tls-auto (default: this host name and localhost); repeatable',
      collect,
      [],
    )
    .option(
      '--tls-ip <ip>',
      'an IP address for --tls-auto (default: 127.0.0.1 and ::1); repeatable',
      collect,
      [],
    )
    .option(
      '--http-redirect <host:port>',
      'also listen for plain HTTP there and redirect every request to HTTPS (308)',
    )
    .option('--no-tls', 'plain HTTP even if berth cert wrote a certificate into <data>/tls')
    .option(
      '--mirror <host:port=namespace>',
      "also listen there as a docker registry mirror of a proxy namespace (e.g. 127.0.0.1:5001=hub, for daemon.json's registry-mirrors); repeatable",
      collect,
      [],
    )
    .action(async (flags: ServeFlags) => {
      const config = loadConfig({
        file: flags.config,
        flags: {
          ...(flags.listen && flags.listen.length > 0 ? { listen: flags.listen } : {}),
          ...(flags.data ? { data: flags.data } : {}),
          ...(flags.meta ? { meta: flags.meta } : {}),
          ...(flags.storage ? { storage: flags.storage } : {}),
          ...(flags.logLevel ? { logLevel: flags.logLevel } : {}),
          ...(flags.externalUrl ? { externalUrl: flags.externalUrl } : {}),
          ...(flags.trustedProxy.length > 0 ? { trustedProxies: flags.trustedProxy } : {}),
          ...(flags.auth ? {} : { auth: false }),
          ...(flags.mirror.length > 0 ? { mirrors: flags.mirror.map(parseMirrorFlag) } : {}),
          tls: tlsFlags(flags),
        },
      });
      const started = performance.now();
      await checkDataPath(config.data);
      // Loaded here, not at the top: other commands start without the HTTP server's modules.
      const { createApp } = await import('../../app.js');
      const app = await createApp(config, { adminPassword: process.env['BERTH_ADMIN_PASSWORD'] });
      // Before the listeners open and the banner says ready: a SIGTERM that comes right after
      // (a test, systemd) must find the handler, or it kills the process without a shutdown.
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`berth: ${signal}: finishing in-flight requests\n`);
        app.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`berth: shutdown failed: ${String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      // SIGHUP's default action ends the process: the reload handler must be there as early.
      process.on('SIGHUP', () => {
        app.reloadTls().then(
          (tls) => {
            if (tls) {
              process.stderr.write(
                `berth: SIGHUP: serving ${tls.credentials.certFile} (valid until ${tls.credentials.notAfter.toISOString()})\n`,
              );
            }
          },
          (err: unknown) => {
            process.stderr.write(
              `berth: SIGHUP: kept the current certificate: ${err instanceof Error ? err.message : String(err)}\n`,
            );
          },
        );
      });
      const bound = await app.listen().catch((err: unknown) => {
        throw listenFailure(err);
      });
      const ms = Math.round(performance.now() - started);
      const out = process.stderr;
      const scheme = app.tls ? 'https' : 'http';
      out.write(
        `berth: serving the registry on ${bound.map((b) => `${scheme}://${b}`).join(', ')} (ready in ${ms} ms)\n`,
      );
      out.write(`berth: data in ${app.dataDir.path}${app.dataDir.created ? ' (new)' : ''}\n`);
      if (config.meta?.startsWith('postgres') === true)
        out.write(`berth: metadata in ${redactMetaUrl(config.meta)}\n`);
      if (config.storage?.startsWith('s3:') === true)
        out.write(`berth: blobs in ${app.dataDir.storage.name} ${config.storage}\n`);
      printAdminPassword(app.dataDir.generatedAdminPassword, exampleHost(bound[0]));
      if (!config.auth.enabled) {
        out.write(
          'berth: WARNING: authentication is OFF: anyone who can reach this port may push and delete\n',
        );
      }
      await printMirrors(app, `${scheme}://${exampleHost(bound[0])}`);
      if (app.tls) printTls(app, bound);
      else {
        out.write(
          'berth: plain HTTP (no TLS). Clients other than on this machine need it allowed:\n' +
            `       docker: "insecure-registries": ["${exampleHost(bound[0])}"] in /etc/docker/daemon.json ` +
            '(not needed for 127.0.0.0/8)\n' +
            '       podman/skopeo: --tls-verify=false\n' +
            '       or serve HTTPS: berth cert --host NAME, then berth serve again\n',
        );
      }
    });
}

function tlsFlags(flags: ServeFlags): NonNullable<NonNullable<ConfigSources['flags']>['tls']> {
  return {
    ...(flags.tls ? {} : { enabled: false }),
    ...(flags.tlsCert ? { cert: flags.tlsCert } : {}),
    ...(flags.tlsKey ? { key: flags.tlsKey } : {}),
    ...(flags.tlsAuto ? { auto: true } : {}),
    ...(flags.tlsHost.length > 0 ? { hosts: flags.tlsHost } : {}),
    ...(flags.tlsIp.length > 0 ? { ips: flags.tlsIp } : {}),
    ...(flags.httpRedirect ? { redirectFrom: flags.httpRedirect } : {}),
  };
}

/** The certificate being served, what happened to it at start, and how clients trust it. */
function printTls(app: BerthApp, bound: readonly string[]): void {
  const tls = app.tls;
  if (!tls) return;
  const out = process.stderr;
  const { credentials, ca } = tls;
  const names = [...credentials.names.dns, ...credentials.names.ips].join(', ');
  out.write(
    `berth: TLS with ${credentials.certFile} for ${names} (valid until ${credentials.notAfter.toISOString().slice(0, 10)})\n`,
  );
  for (const note of tls.notes) out.write(`berth: ${note}\n`);
  if (ca) out.write(`berth: clients can download the CA at /ca.crt (${ca.file})\n`);
  if (app.redirectAddress) {
    out.write(`berth: plain HTTP on ${app.redirectAddress} redirects to HTTPS\n`);
  }
  const port = Number(bound[0]?.slice(bound[0].lastIndexOf(':') + 1) ?? 5000);
  const external = app.config.externalUrl?.startsWith('https://')
    ? new URL(app.config.externalUrl)
    : undefined;
  const dial = external
    ? [dialName(external.hostname.replace(/^\[|\]$/g, ''), Number(external.port || 443))]
    : dialNames(credentials.names, port);
  const text = clientSetupForServing(tls, dial);
  out.write(`\n${text}\n`);
}

/** Each mirror listener and the docker and containerd configuration that sends pulls to it. */
async function printMirrors(app: BerthApp, registryUrl: string): Promise<void> {
  const scheme = app.tls ? 'https' : 'http';
  for (const mirror of app.mirrors) {
    const row = await app.registry.namespaces.get(mirror.namespace);
    const text = mirrorSetupText({
      namespace: mirror.namespace,
      mirrorUrl: `${scheme}://${exampleHost(mirror.address)}`,
      registryUrl,
      upstreamUrl: row?.federation.kind === 'proxy' ? row.federation.proxy.url : null,
      problem: mirrorProblem(mirror.namespace, row),
    });
    process.stderr.write(`berth: ${text}\n`);
  }
}

/** The generated first password is shown exactly once, with the command to use it. */
function printAdminPassword(password: string | undefined, host: string): void {
  if (password === undefined) return;
  process.stderr.write(
    'berth: created user "admin" with password:\n\n' +
      `    ${password}\n\n` +
      `       log in with: docker login ${host} -u admin   (this password is not shown again;\n` +
      '       change it with: berth user passwd admin)\n',
  );
}

/**
 * A listener that could not start, said as what to change: Node's errors name neither the flag
 * nor the fix, and a stack trace says nothing to an operator.
 */
function listenFailure(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const host = e.address?.includes(':') ? `[${e.address}]` : e.address;
  const where = host !== undefined ? `${host}:${String(e.port)}` : (e.hostname ?? 'the address');
  const fail = (why: string, fix: string): ConfigError =>
    new ConfigError(`cannot listen on ${where}: ${why}; ${fix}`);
  switch (e.code) {
    case 'EADDRINUSE':
      return fail(
        'the address is already in use (another berth serve or another program listens there)',
        'stop it or choose another port with --listen',
      );
    case 'EADDRNOTAVAIL':
      return fail(
        'no network interface of this machine has that address',
        'listen on one of its own addresses, 127.0.0.1:PORT, or :PORT for all of them (--listen)',
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return fail(
        'the host name does not resolve',
        'give an IP address of this machine (e.g. --listen 127.0.0.1:5000) or :PORT for all interfaces',
      );
    case 'EACCES':
      return fail(
        'ports below 1024 need root or CAP_NET_BIND_SERVICE',
        'use a port from 1024 up (e.g. --listen :5000) or put nginx in front (berth nginx-config)',
      );
    case undefined:
    default:
      return err;
  }
}

function exampleHost(bound: string | undefined): string {
  if (!bound) return 'HOST:5000';
  const port = bound.slice(bound.lastIndexOf(':') + 1);
  return bound.startsWith('[::]') || bound.startsWith('0.0.0.0') ? `HOST:${port}` : bound;
}
