/**
 * @module app
 * The composition root: config → data directory → registry → HTTP server → listeners, and a
 * graceful shutdown that lets in-flight requests finish before the database closes.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/schema.js';
import { parseListen } from './config/load.js';
import { openDataDir, registryFor, type DataDir } from './data-dir.js';
import { createAuditLog, type AuditLog } from './auth/audit.js';
import { createIdentityService, type IdentityService } from './auth/identity.js';
import { loadTokenSigner } from './auth/jwt.js';
import { createAuthService, type AuthService } from './auth/service.js';
import { createThrottle } from './auth/throttle.js';
import { buildServer } from './http/server.js';
import type { Registry } from './registry/index.js';

async function createAuth(
  config: Config,
  dataDir: DataDir,
  registry: Registry,
  audit: AuditLog,
): Promise<AuthService> {
  const meta = dataDir.meta;
  return createAuthService({
    meta,
    signer: await loadTokenSigner(meta, config.auth.issuer),
    throttle: createThrottle({
      userFree: 5,
      maxUserDelaySeconds: 300,
      clientLimit: 50,
      clientWindowSeconds: 300,
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
  /** Starts every listener; resolves to the bound addresses (`host:port`). */
  listen(): Promise<string[]>;
  /** Stops accepting, lets requests finish (up to the grace period), then closes the stores. */
  close(): Promise<void>;
}

const PURGE_INTERVAL_MS = 10 * 60 * 1000;

export interface AppOptions {
  /** Password for the `admin` user if this start creates it (BERTH_ADMIN_PASSWORD). */
  adminPassword?: string | undefined;
}

export async function createApp(config: Config, options: AppOptions = {}): Promise<BerthApp> {
  const dataDir = await openDataDir(config.data, {
    defaultNamespace: config.registry.defaultNamespace,
    adminPassword: options.adminPassword,
  });
  const registry = registryFor(config, dataDir, (digest) =>
    server.log.error({ digest }, 'metadata names a blob the storage does not have'),
  );
  const audit = createAuditLog(dataDir.meta, (err) =>
    server.log.error({ err }, 'audit write failed'),
  );
  const auth = config.auth.enabled ? await createAuth(config, dataDir, registry, audit) : null;
  const identity = createIdentityService({
    meta: dataDir.meta,
    audit,
    onCredentialsChanged: (user) => auth?.forget(user),
  });
  const server = await buildServer({
    registry,
    logger: config.log.level === 'silent' ? false : { level: config.log.level },
    maxManifestBytes: config.registry.maxManifestBytes,
    auth,
    identity,
    audit,
    meta: dataDir.meta,
    tokenTtlSeconds: config.auth.tokenTtlSeconds,
    externalUrl: config.externalUrl,
    trustedProxies: config.trustedProxies,
  });
  await server.ready();
  await registry.uploads.removeOrphans();

  const listeners: http.Server[] = [];
  const sockets = new Set<Socket>();
  const purge = setInterval(() => {
    const idleSince = new Date(Date.now() - config.registry.uploadTtlHours * 3600_000);
    registry.uploads.purgeStale(idleSince).then(
      (n) => n > 0 && server.log.info({ purged: n }, 'expired upload sessions removed'),
      (err: unknown) => server.log.error({ err }, 'upload purge failed'),
    );
  }, PURGE_INTERVAL_MS);
  purge.unref();

  async function listen(): Promise<string[]> {
    const bound: string[] = [];
    for (const address of config.listen) {
      const { host, port } = parseListen(address);
      const listener = http.createServer(
        {
          // Node's 300 s whole-request limit would cut a slow layer upload: only idle time counts.
          requestTimeout: 0,
          headersTimeout: 60_000,
          keepAliveTimeout: 65_000,
        },
        (req, res) => server.routing(req, res),
      );
      listener.setTimeout(config.http.idleTimeoutSeconds * 1000);
      listener.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen({ port, ...(host !== undefined ? { host } : {}) }, () => {
          listener.off('error', reject);
          resolve();
        });
      });
      listeners.push(listener);
      const info = listener.address() as AddressInfo;
      bound.push(
        info.family === 'IPv6' ? `[${info.address}]:${info.port}` : `${info.address}:${info.port}`,
      );
    }
    return bound;
  }

  async function close(): Promise<void> {
    clearInterval(purge);
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
    await audit.flush();
    await dataDir.meta.close();
  }

  return { config, registry, server, dataDir, auth, identity, listen, close };
}
