/**
 * @module app
 * The composition root: config → data directory → registry → HTTP server → listeners, and a
 * graceful shutdown that lets in-flight requests finish before the database closes.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import type { Config } from './config/schema.js';
import { parseListen } from './config/load.js';
import { parseDuration } from './core/duration.js';
import { openDataDir, registryFor, type DataDir } from './data-dir.js';
import type { RetryLog } from './meta/postgres/open.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import { createAuditLog, type AuditLog } from './auth/audit.js';
import { createIdentityService, type IdentityService } from './auth/identity.js';
import { createAuthService, type AuthService } from './auth/service.js';
import { createThrottle } from './auth/throttle.js';
import type { TlsStatus } from './http/api/index.js';
import { buildServer } from './http/server.js';
import { loadWebUi } from './http/ui.js';
import { markMirrorRequest, mirrorProblem } from './federation/mirror.js';
import { createGcService } from './lifecycle/gc-service.js';
import type { Registry } from './registry/index.js';
import { settleTrash } from './registry/trash.js';
import { createPullLog, type PullLog } from './registry/pull-log.js';
import { clientSetupForServing, resolveTls, type ServingTls } from './tls/setup.js';

async function createAuth(
  config: Config,
  dataDir: DataDir,
  registry: Registry,
  audit: AuditLog,
  clock: (() => number) | undefined,
): Promise<AuthService> {
  const meta = dataDir.meta;
  // Loaded here: the JWT library is needed only with authentication on.
  const { loadTokenSigner } = await import('./auth/jwt.js');
  return createAuthService({
    meta,
    signer: await loadTokenSigner(meta, config.auth.issuer),
    throttle: createThrottle(meta, {
      userFree: 5,
      maxUserDelaySeconds: 300,
      clientLimit: 50,
      clientWindowSeconds: 300,
      ...(clock ? { now: clock } : {}),
    }),
    audit,
    options: {
      service: config.auth.service,
      credentialCacheSeconds: config.auth.credentialCacheSeconds,
    },
    namespaceOf: (repository) => registry.repository(repository).namespace,
  });
}

export interface BerthApp {
  readonly config: Config;
  readonly registry: Registry;
  readonly server: FastifyInstance;
  readonly dataDir: DataDir;
  /** Null when authentication is off. */
  readonly auth: AuthService | null;
  readonly identity: IdentityService;
  /** Manifest GETs waiting to be written (every 10 s and on close); `flush()` writes them now. */
  readonly pulls: PullLog;
  /** How the listeners speak TLS; null for plain HTTP. */
  readonly tls: ServingTls | null;
  /** The HTTP→HTTPS redirect listener's bound address, once listening (tls.redirectFrom). */
  readonly redirectAddress: string | null;
  /** The docker mirror listeners (config `mirrors`), with their bound addresses once listening. */
  readonly mirrors: readonly { namespace: string; address: string }[];
  /** Starts every listener; resolves to the bound addresses (`host:port`). */
  listen(): Promise<string[]>;
  /**
   * Reads the certificate again (a renewal by `berth cert`) and hands it to the listeners for
   * new connections; a certificate that fails the checks leaves the current one in place.
   */
  reloadTls(): Promise<ServingTls | null>;
  /** Stops accepting, lets requests finish (up to the grace period), then closes the stores. */
  close(): Promise<void>;
}

const PURGE_INTERVAL_MS = 10 * 60 * 1000;

export interface AppOptions {
  /** Password for the `admin` user if this start creates it (BERTH_ADMIN_PASSWORD). */
  adminPassword?: string | undefined;
  /** The web UI's build directory (default: this install's `web/dist`). */
  webRoot?: string | undefined;
  /** Where the server's log lines go instead of stdout (tests read them). */
  logStream?: DestinationStream | undefined;
  /** The login throttle's clock in ms (default Date.now): tests move it instead of waiting. */
  throttleClock?: (() => number) | undefined;
}

export async function createApp(config: Config, options: AppOptions = {}): Promise<BerthApp> {
  // Before anything in the data directory is read or changed: one server per directory.
  const lock = await lockDataDir(config.data);
  try {
    return await assembleApp(config, options, lock);
  } catch (err) {
    await lock.release();
    throw err;
  }
}

async function assembleApp(
  config: Config,
  options: AppOptions,
  lock: DataDirLock,
): Promise<BerthApp> {
  // First: a certificate that clients would refuse stops the start before anything is created.
  let tls = await resolveTls(config);
  // Set once the server's logger exists: a retry while the data directory opens goes unlogged.
  let logRetry: RetryLog = () => undefined;
  const dataDir = await openDataDir(config.data, {
    defaultNamespace: config.registry.defaultNamespace,
    adminPassword: options.adminPassword,
    meta: config.meta,
    storage: config.storage,
    onMetaRetry: (fields, msg) => {
      logRetry(fields, msg);
    },
  });
  const registry = registryFor(config, dataDir, (digest) =>
    server.log.error({ digest }, 'metadata names a blob the storage does not have'),
  );
  const audit = createAuditLog(dataDir.meta, (err) =>
    server.log.error({ err }, 'audit write failed'),
  );
  const auth = config.auth.enabled
    ? await createAuth(config, dataDir, registry, audit, options.throttleClock)
    : null;
  const gc = createGcService({
    meta: dataDir.meta,
    storage: dataDir.storage,
    uploads: registry.uploads,
    config,
    audit,
  });
  const identity = createIdentityService({
    meta: dataDir.meta,
    audit,
    onCredentialsChanged: (user) => auth?.forget(user),
  });
  // A password changed or a user disabled through another replica: its cached logins go too.
  dataDir.meta.watchChanges((table) => {
    if (table === 'users' || table === '*') auth?.forget();
  });
  const pulls = createPullLog({
    meta: dataDir.meta,
    onError: (err) => server.log.warn({ err }, 'pull times not recorded'),
  });
  const server = await buildServer({
    registry,
    logger: config.log.level === 'silent' ? false : { level: config.log.level },
    logStream: options.logStream,
    maxManifestBytes: config.registry.maxManifestBytes,
    auth,
    identity,
    audit,
    meta: dataDir.meta,
    pulls,
    gc,
    proxy: {
      upstreamTimeoutMs: parseDuration(config.proxy.upstreamTimeout) ?? 30_000,
      notFoundTtlMs: parseDuration(config.proxy.notFoundTtl) ?? 60_000,
    },
    tokenTtlSeconds: config.auth.tokenTtlSeconds,
    externalUrl: config.externalUrl,
    trustedProxies: config.trustedProxies,
    // A getter: SIGHUP may swap the certificate (and its CA) while serving.
    caCertificate: () => {
      if (tls === null) return { none: 'plain-http' };
      return tls.ca ? { pem: tls.ca.pem } : { none: 'foreign' };
    },
    tlsStatus: () => tlsStatus(tls),
    clientSetup: (dial) => (tls ? clientSetupForServing(tls, [dial]) : null),
    webUi: loadWebUi(options.webRoot),
  });
  logRetry = (fields, msg) => {
    server.log.debug(fields, msg);
  };
  await server.ready();
  if (lock.replaced !== null) {
    server.log.warn(
      `replaced the stale lock ${lock.file} (${lock.replaced}): the server before did not shut down cleanly`,
    );
  }
  await registry.uploads.removeOrphans();
  const trash = await settleTrash(dataDir.meta, dataDir.storage);
  if (trash.restored + trash.removed > 0)
    server.log.warn(trash, 'settled the trash of a garbage collection that did not finish');
  gc.schedule(
    (r) =>
      server.log.info(
        {
          gc: {
            id: r.id,
            manifests: r.manifests,
            blobs: r.blobs,
            bytes: r.bytes,
            ms: r.durationMs,
          },
        },
        'scheduled garbage collection finished',
      ),
    (err: unknown) => server.log.error({ err }, 'scheduled garbage collection failed'),
  );

  const listeners: (http.Server | https.Server)[] = [];
  let redirectAddress: string | null = null;
  const mirrors: { namespace: string; address: string }[] = [];
  const sockets = new Set<Socket>();
  const purge = setInterval(() => {
    const idleSince = new Date(Date.now() - config.registry.uploadTtlHours * 3600_000);
    registry.uploads.purgeStale(idleSince).then(
      (n) => n > 0 && server.log.info({ purged: n }, 'expired upload sessions removed'),
      (err: unknown) => server.log.error({ err }, 'upload purge failed'),
    );
  }, PURGE_INTERVAL_MS);
  purge.unref();

  function track(listener: http.Server | https.Server): void {
    listener.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    listeners.push(listener);
  }

  async function bind(listener: http.Server | https.Server, address: string): Promise<string> {
    const { host, port } = parseListen(address);
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ port, ...(host !== undefined ? { host } : {}) }, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    const info = listener.address() as AddressInfo;
    return info.family === 'IPv6'
      ? `[${info.address}]:${info.port}`
      : `${info.address}:${info.port}`;
  }

  async function listen(): Promise<string[]> {
    const bound: string[] = [];
    const options = {
      // Node's 300 s whole-request limit would cut a slow layer upload: only idle time counts.
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 65_000,
    };
    const handler: http.RequestListener = (req, res) => server.routing(req, res);
    for (const address of config.listen) {
      const listener = createListener(options, handler);
      listener.setTimeout(config.http.idleTimeoutSeconds * 1000);
      track(listener);
      bound.push(await bind(listener, address));
    }
    if (tls && config.tls.redirectFrom !== undefined) {
      const httpsPort = Number(bound[0]?.slice(bound[0].lastIndexOf(':') + 1));
      const redirect = http.createServer(options, (req, res) => {
        const location = httpsLocation(req.headers.host, req.url, httpsPort);
        res.writeHead(308, { location, 'content-type': 'text/plain; charset=utf-8' });
        res.end(`This registry speaks HTTPS: ${location}\n`);
      });
      redirect.setTimeout(config.http.idleTimeoutSeconds * 1000);
      track(redirect);
      redirectAddress = await bind(redirect, config.tls.redirectFrom);
    }
    for (const mirror of config.mirrors) {
      const listener = createListener(options, mirrorHandler(mirror.namespace));
      listener.setTimeout(config.http.idleTimeoutSeconds * 1000);
      track(listener);
      mirrors.push({ namespace: mirror.namespace, address: await bind(listener, mirror.listen) });
      await warnUnlessProxy(mirror.namespace);
    }
    return bound;
  }

  function createListener(
    options: http.ServerOptions,
    handler: http.RequestListener,
  ): http.Server | https.Server {
    const listener = tls
      ? https.createServer({ ...options, ...secureContext(tls) }, handler)
      : http.createServer(options, handler);
    if (listener instanceof https.Server) {
      // A client that does not trust the CA hangs up mid-handshake: worth a line at debug only.
      listener.on('tlsClientError', (err: Error) =>
        server.log.debug({ err: err.message }, 'TLS handshake failed'),
      );
    }
    return listener;
  }

  /**
   * A docker mirror listener: the same app, but only the distribution API, with every repository
   * name taken as one in `namespace` (federation/mirror.ts). The web UI and admin API stay on the
   * main listeners: a mirror port is often opened wider than they should be.
   */
  function mirrorHandler(namespace: string): http.RequestListener {
    return (req, res) => {
      const path = req.url?.split('?', 1)[0] ?? '';
      if (path !== '/v2' && !path.startsWith('/v2/')) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`This is a registry mirror of namespace "${namespace}": it serves /v2/ only.\n`);
        return;
      }
      markMirrorRequest(req, namespace);
      server.routing(req, res);
    };
  }

  /** A mirror of a hosted namespace (or of none) serves nothing docker asks for: say so at start. */
  async function warnUnlessProxy(namespace: string): Promise<void> {
    const problem = mirrorProblem(namespace, await registry.namespaces.get(namespace));
    if (problem !== null) server.log.warn({ namespace }, `mirror: ${problem}`);
  }

  /** Where a plain-HTTP request goes: the external URL, else the same host on the HTTPS port. */
  function httpsLocation(
    hostHeader: string | undefined,
    url: string | undefined,
    port: number,
  ): string {
    const path = url?.startsWith('/') ? url : '/';
    if (config.externalUrl?.startsWith('https://')) return `${config.externalUrl}${path}`;
    // Only a plain host name or IP from the Host header: anything else could steer the redirect.
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/.exec(hostHeader ?? '');
    const names = tls?.credentials.names;
    const fallback = names?.dns[0] ?? names?.ips[0] ?? 'localhost';
    const host = m?.[1] ?? (fallback.includes(':') ? `[${fallback}]` : fallback);
    return `https://${host}${port === 443 ? '' : `:${port}`}${path}`;
  }

  async function reloadTls(): Promise<ServingTls | null> {
    // A plain-HTTP server stays plain: switching would need new listeners.
    if (!tls) return null;
    const next = await resolveTls(config);
    if (!next) return tls;
    for (const listener of listeners) {
      if (listener instanceof https.Server) listener.setSecureContext(secureContext(next));
    }
    tls = next;
    return tls;
  }

  async function close(): Promise<void> {
    clearInterval(purge);
    await gc.stop();
    const closed = listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve())));
    // Keep-alive connections become idle as their last response ends: close them as they do.
    const reaper = setInterval(() => {
      for (const l of listeners) l.closeIdleConnections();
    }, 50);
    for (const l of listeners) l.closeIdleConnections();
    const grace = new Promise<void>((resolve) =>
      setTimeout(resolve, config.http.shutdownGraceSeconds * 1000).unref(),
    );
    await Promise.race([Promise.all(closed), grace]);
    clearInterval(reaper);
    // Whatever is still running is cut off: an interrupted upload keeps only its acknowledged bytes.
    for (const socket of sockets) socket.destroy();
    await Promise.all(closed);
    await server.close();
    // After the last request: every pull it noted is written.
    await pulls.close();
    await audit.flush();
    await dataDir.meta.close();
    await lock.release();
  }

  return {
    config,
    registry,
    server,
    dataDir,
    auth,
    identity,
    pulls,
    get tls() {
      return tls;
    },
    get redirectAddress() {
      return redirectAddress;
    },
    mirrors,
    listen,
    reloadTls,
    close,
  };
}

/** The certificate's public facts for the admin API's system page. */
function tlsStatus(tls: ServingTls | null): TlsStatus {
  if (!tls) return { enabled: false, caAvailable: false, caFingerprint: null, certificate: null };
  const { leaf, names, notAfter } = tls.credentials;
  return {
    enabled: true,
    caAvailable: tls.ca !== null,
    caFingerprint: tls.ca?.cert.fingerprint256 ?? null,
    certificate: {
      subject: leaf.subject,
      issuer: leaf.issuer,
      dnsNames: names.dns,
      ipAddresses: names.ips,
      notAfter: notAfter.toISOString(),
    },
  };
}

/** TLS 1.2 and 1.3 only, with Node's default (modern, forward-secret first) cipher list. */
function secureContext(tls: ServingTls): https.ServerOptions {
  return { cert: tls.credentials.certPem, key: tls.credentials.keyPem, minVersion: 'TLSv1.2' };
}
