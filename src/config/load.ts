/**
 * @module config/load
 * Effective configuration = defaults < YAML file < BERTH_* environment < command-line flags,
 * validated by one schema; a bad key fails at start with its exact path.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Value } from '@sinclair/typebox/value';
import type * as Yaml from 'yaml';
import { ConfigError } from './errors.js';
import { ConfigSchema, type Config } from './schema.js';

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
    logLevel: string;
    externalUrl: string;
    auth: boolean;
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
  const raw: Record<string, unknown> = file ? readYaml(file) : {};

  const envListen = env['BERTH_LISTEN'];
  if (envListen) raw['listen'] = envListen.split(/[\s,]+/).filter(Boolean);
  if (env['BERTH_DATA']) raw['data'] = env['BERTH_DATA'];
  if (env['BERTH_LOG_LEVEL'])
    raw['log'] = { ...asObject(raw['log']), level: env['BERTH_LOG_LEVEL'] };
  if (env['BERTH_TRUSTED_PROXIES'])
    raw['trustedProxies'] = env['BERTH_TRUSTED_PROXIES'].split(/[\s,]+/).filter(Boolean);
  if (env['BERTH_EXTERNAL_URL']) raw['externalUrl'] = env['BERTH_EXTERNAL_URL'].replace(/\/+$/, '');
  if (env['BERTH_AUTH']) {
    raw['auth'] = {
      ...asObject(raw['auth']),
      enabled: parseSwitch('BERTH_AUTH', env['BERTH_AUTH']),
    };
  }

  if (env['BERTH_TLS_CERT']) raw['tls'] = { ...asObject(raw['tls']), cert: env['BERTH_TLS_CERT'] };
  if (env['BERTH_TLS_KEY']) raw['tls'] = { ...asObject(raw['tls']), key: env['BERTH_TLS_KEY'] };

  const { flags = {} } = sources;
  if (flags.listen && flags.listen.length > 0) raw['listen'] = flags.listen;
  if (flags.data) raw['data'] = flags.data;
  if (flags.logLevel) raw['log'] = { ...asObject(raw['log']), level: flags.logLevel };
  if (flags.trustedProxies && flags.trustedProxies.length > 0)
    raw['trustedProxies'] = flags.trustedProxies;
  if (flags.externalUrl) raw['externalUrl'] = flags.externalUrl.replace(/\/+$/, '');
  if (flags.auth !== undefined) raw['auth'] = { ...asObject(raw['auth']), enabled: flags.auth };
  if (flags.tls) raw['tls'] = { ...asObject(raw['tls']), ...flags.tls };

  const withDefaults = Value.Default(ConfigSchema, raw);
  const errors = [...Value.Errors(ConfigSchema, withDefaults)];
  if (errors.length > 0) {
    const lines = errors.slice(0, 5).map((e) => `  ${e.path || '/'}: ${e.message}`);
    throw new ConfigError(
      `invalid configuration${file ? ` in ${file}` : ''}:\n${lines.join('\n')}`,
    );
  }
  const config = withDefaults as Config;
  for (const address of config.listen) parseListen(address);
  if (config.tls.redirectFrom !== undefined) parseListen(config.tls.redirectFrom);
  return config;
}

export interface ListenAddress {
  host: string | undefined;
  port: number;
}

/** `127.0.0.1:5000`, `[::1]:5000`, `localhost:5000`, `:5000`. */
export function parseListen(value: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new ConfigError(`invalid listen address "${value}": use HOST:PORT, [IPv6]:PORT or :PORT`);
  const host = m[1] ?? (m[2] === '' ? undefined : m[2]);
  return { host, port };
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  const { parse } = require('yaml') as typeof Yaml;
  const doc: unknown = parse(text);
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigError(`config file ${file} must be a YAML mapping`);
  return doc as Record<string, unknown>;
}

function parseSwitch(name: string, value: string): boolean {
  if (/^(1|true|on|yes)$/i.test(value)) return true;
  if (/^(0|false|off|no)$/i.test(value)) return false;
  throw new ConfigError(`${name} must be on or off, not "${value}"`);
}

function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}
