/**
 * @module config/load
 * Effective configuration = defaults < YAML file < BERTH_* environment < command-line flags,
 * validated by one schema; a bad key fails at start with its exact path.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import type * as Yaml from 'yaml';
import { ConfigError } from './errors.js';
import { ConfigSchema, LOG_LEVELS, type Config } from './schema.js';

export { ConfigError };

/** Loads on demand: most starts have no config file, and the YAML parser is 70 modules. */
const require = createRequire(import.meta.url);

export interface ConfigSources {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Already-parsed flags, shaped like the config (only keys that were given). */
  flags?: Partial<{
    trustedProxies: string[];
    listen: string[];
    data: string;
    meta: string;
    storage: string;
    logLevel: string;
    externalUrl: string;
    auth: boolean;
    mirrors: { listen: string; namespace: string }[];
    tls: Partial<{
      enabled: boolean;
      cert: string;
      key: string;
      auto: boolean;
      hosts: string[];
      ips: string[];
      redirectFrom: string;
    }>;
  }>;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const file = sources.file ?? env['BERTH_CONFIG'];
  const raw: Record<string, unknown> = file
    ? readYaml(file, sources.file ? '--config' : 'BERTH_CONFIG')
    : {};
  // Where each setting given outside the file came from, so an error names what to fix.
  const origins = new Map<string, string>();
  const given = (key: string, origin: string): void => void origins.set(key, origin);

  const envListen = env['BERTH_LISTEN'];
  if (envListen) {
    raw['listen'] = envListen.split(/[\s,]+/).filter(Boolean);
    given('/listen', 'BERTH_LISTEN');
  }
  if (env['BERTH_DATA']) {
    raw['data'] = env['BERTH_DATA'];
    given('/data', 'BERTH_DATA');
  }
  if (env['BERTH_META_URL']) {
    raw['meta'] = env['BERTH_META_URL'];
    given('/meta', 'BERTH_META_URL');
  }
  if (env['BERTH_STORAGE_URL']) {
    raw['storage'] = env['BERTH_STORAGE_URL'];
    given('/storage', 'BERTH_STORAGE_URL');
  }
  if (env['BERTH_LOG_LEVEL']) {
    raw['log'] = { ...asObject(raw['log']), level: env['BERTH_LOG_LEVEL'] };
    given('/log/level', 'BERTH_LOG_LEVEL');
  }
  if (env['BERTH_TRUSTED_PROXIES']) {
    raw['trustedProxies'] = env['BERTH_TRUSTED_PROXIES'].split(/[\s,]+/).filter(Boolean);
    given('/trustedProxies', 'BERTH_TRUSTED_PROXIES');
  }
  if (env['BERTH_EXTERNAL_URL']) {
    raw['externalUrl'] = env['BERTH_EXTERNAL_URL'].replace(/\/+$/, '');
    given('/externalUrl', 'BERTH_EXTERNAL_URL');
  }
  if (env['BERTH_AUTH']) {
    raw['auth'] = {
      ...asObject(raw['auth']),
      enabled: parseSwitch('BERTH_AUTH', env['BERTH_AUTH']),
    };
  }

  if (env['BERTH_TLS_CERT']) raw['tls'] = { ...asObject(raw['tls']), cert: env['BERTH_TLS_CERT'] };
  if (env['BERTH_TLS_KEY']) raw['tls'] = { ...asObject(raw['tls']), key: env['BERTH_TLS_KEY'] };

  const { flags = {} } = sources;
  if (flags.listen && flags.listen.length > 0) {
    raw['listen'] = flags.listen;
    given('/listen', '--listen');
  }
  if (flags.data) {
    raw['data'] = flags.data;
    given('/data', '--data');
  }
  if (flags.meta) {
    raw['meta'] = flags.meta;
    given('/meta', '--meta');
  }
  if (flags.storage) {
    raw['storage'] = flags.storage;
    given('/storage', '--storage');
  }
  if (flags.logLevel) {
    raw['log'] = { ...asObject(raw['log']), level: flags.logLevel };
    given('/log/level', '--log-level');
  }
  if (flags.trustedProxies && flags.trustedProxies.length > 0) {
    raw['trustedProxies'] = flags.trustedProxies;
    given('/trustedProxies', '--trusted-proxy');
  }
  if (flags.externalUrl) {
    raw['externalUrl'] = flags.externalUrl.replace(/\/+$/, '');
    given('/externalUrl', '--external-url');
  }
  if (flags.mirrors && flags.mirrors.length > 0) {
    raw['mirrors'] = flags.mirrors;
    given('/mirrors', '--mirror');
  }
  if (flags.auth !== undefined) raw['auth'] = { ...asObject(raw['auth']), enabled: flags.auth };
  if (flags.tls) raw['tls'] = { ...asObject(raw['tls']), ...flags.tls };
  if (flags.tls?.redirectFrom) given('/tls/redirectFrom', '--http-redirect');

  /** `--log-level`, `BERTH_LOG_LEVEL`, or `log.level in berth.yaml`: where to fix a value. */
  const originOf = (path: string): string => {
    for (const [key, origin] of origins) {
      if (path === key || path.startsWith(`${key}/`)) return origin;
    }
    const key = path.slice(1).replaceAll('/', '.') || 'the configuration';
    return file ? `${key} in ${file}` : key;
  };

  const withDefaults = Value.Default(ConfigSchema, raw);
  const [first, ...more] = Value.Errors(ConfigSchema, withDefaults);
  if (first) {
    const hint = HINTS.find((h) => h.path === first.path);
    const others = new Set(more.map((e) => e.path).filter((p) => p !== first.path)).size;
    throw new ConfigError(
      hint
        ? `invalid ${hint.what} ${JSON.stringify(first.value)} (${originOf(first.path)}): ${hint.fix}`
        : `invalid configuration: ${originOf(first.path)}: ${first.message}` +
            (others > 0 ? ` (and ${others} more)` : ''),
    );
  }
  const config = withDefaults as Config;
  for (const address of config.listen) parseListen(address, originOf('/listen'));
  if (config.tls.redirectFrom !== undefined)
    parseListen(config.tls.redirectFrom, originOf('/tls/redirectFrom'));
  for (const mirror of config.mirrors) parseListen(mirror.listen, originOf('/mirrors'));
  for (const proxy of config.trustedProxies) {
    if (!isTrustedProxyEntry(proxy)) {
      throw new ConfigError(
        `invalid trusted proxy ${JSON.stringify(proxy)} (${originOf('/trustedProxies')}): ` +
          'give an IP address or a CIDR range, e.g. 10.0.0.5, 10.0.0.0/8 or fd00::/8 ' +
          '(or loopback, linklocal, uniquelocal)',
      );
    }
  }
  return config;
}

/** Friendlier words than the schema's for the settings people type by hand. */
const HINTS: readonly { path: string; what: string; fix: string }[] = [
  { path: '/log/level', what: 'log level', fix: `use one of ${LOG_LEVELS.join(', ')}` },
  {
    path: '/externalUrl',
    what: 'external URL',
    fix:
      'give the scheme and host clients use, with a port unless it is the default and no path, ' +
      'e.g. https://registry.example.com or http://10.0.0.5:5000',
  },
];

/** What Fastify's trustProxy (proxy-addr) takes: an IP, IP/prefix, IPv4/netmask, or a range name. */
function isTrustedProxyEntry(value: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(value)) return true;
  const [ip = '', mask, ...rest] = value.split('/');
  const family = isIP(ip);
  if (family === 0 || rest.length > 0) return false;
  if (mask === undefined) return true;
  if (/^\d{1,3}$/.test(mask)) return Number(mask) <= (family === 4 ? 32 : 128);
  return family === 4 && isIP(mask) === 4;
}

/** `--mirror HOST:PORT=NAMESPACE`, e.g. `127.0.0.1:5001=hub`; the address is checked with the rest. */
export function parseMirrorFlag(value: string): { listen: string; namespace: string } {
  const eq = value.lastIndexOf('=');
  if (eq <= 0 || eq === value.length - 1)
    throw new ConfigError(
      `invalid mirror "${value}" (--mirror): use HOST:PORT=NAMESPACE, e.g. 127.0.0.1:5001=hub ` +
        '(NAMESPACE is a proxy namespace: berth namespace create hub --proxy https://registry-1.docker.io)',
    );
  return { listen: value.slice(0, eq), namespace: value.slice(eq + 1) };
}

export interface ListenAddress {
  host: string | undefined;
  port: number;
}

/** `127.0.0.1:5000`, `[::1]:5000`, `localhost:5000`, `:5000`; `origin` is where it was given. */
export function parseListen(value: string, origin?: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new ConfigError(
      `invalid listen address "${value}"${origin ? ` (${origin})` : ''}: ` +
        'use HOST:PORT, [IPv6]:PORT or :PORT, e.g. 127.0.0.1:5000',
    );
  const host = m[1] ?? (m[2] === '' ? undefined : m[2]);
  return { host, port };
}

function readYaml(file: string, origin: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (e as Error).message;
    throw new ConfigError(`cannot read config file ${file} (${origin}): ${why}; check the path`);
  }
  const { parse } = require('yaml') as typeof Yaml;
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    // The parser's message ends in " at line L, column C:" and a multi-line excerpt.
    const pos = (e as Partial<Yaml.YAMLError>).linePos?.[0];
    const what = (e as Error).message.split(/ at line \d+, column \d+/)[0]?.replace(/\s+/g, ' ');
    throw new ConfigError(
      `YAML syntax error in ${file}${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ` +
        `${what ?? 'unreadable'}; fix the file there (indent with spaces, close quotes and brackets)`,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigError(`config file ${file} must be a YAML mapping (key: value lines)`);
  return doc as Record<string, unknown>;
}

/** The metadata URL as it may be printed or logged: any password replaced by `***`. */
export function redactMetaUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

function parseSwitch(name: string, value: string): boolean {
  if (/^(1|true|on|yes)$/i.test(value)) return true;
  if (/^(0|false|off|no)$/i.test(value)) return false;
  throw new ConfigError(`${name} must be on or off, not "${value}"`);
}

function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}
