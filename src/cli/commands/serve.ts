/**
 * @module cli/commands/serve
 * `berth serve`: runs the registry. SIGTERM/SIGINT shut it down gracefully.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { collect } from '../output.js';

interface ServeFlags {
  listen?: string[];
  data?: string;
  config?: string;
  logLevel?: string;
  externalUrl?: string;
  trustedProxy: string[];
  auth: boolean;
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
    .option('--config <file>', 'YAML configuration file (env BERTH_CONFIG)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env BERTH_LOG_LEVEL)')
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
    .action(async (flags: ServeFlags) => {
      const config = loadConfig({
        file: flags.config,
        flags: {
          ...(flags.listen && flags.listen.length > 0 ? { listen: flags.listen } : {}),
          ...(flags.data ? { data: flags.data } : {}),
          ...(flags.logLevel ? { logLevel: flags.logLevel } : {}),
          ...(flags.externalUrl ? { externalUrl: flags.externalUrl } : {}),
          ...(flags.trustedProxy.length > 0 ? { trustedProxies: flags.trustedProxy } : {}),
          ...(flags.auth ? {} : { auth: false }),
        },
      });
      const started = performance.now();
      // Loaded here, not at the top: other commands start without the HTTP server's modules.
      const { createApp } = await import('../../app.js');
      const app = await createApp(config, { adminPassword: process.env['BERTH_ADMIN_PASSWORD'] });
      const bound = await app.listen();
      const ms = Math.round(performance.now() - started);
      const out = process.stdout;
      out.write(
        `berth: serving the registry on ${bound.map((b) => `http://${b}`).join(', ')} (ready in ${ms} ms)\n`,
      );
      out.write(`berth: data in ${app.dataDir.path}${app.dataDir.created ? ' (new)' : ''}\n`);
      printAdminPassword(app.dataDir.generatedAdminPassword, bound[0]);
      if (!config.auth.enabled) {
        out.write(
          'berth: WARNING: authentication is OFF: anyone who can reach this port may push and delete\n',
        );
      }
      out.write(
        'berth: plain HTTP (no TLS). Clients other than on this machine need it allowed:\n' +
          `       docker: "insecure-registries": ["${exampleHost(bound[0])}"] in /etc/docker/daemon.json ` +
          '(not needed for 127.0.0.0/8)\n' +
          '       podman/skopeo: --tls-verify=false\n',
      );

      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        out.write(`berth: ${signal}: finishing in-flight requests\n`);
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
    });
}

/** The generated first password is shown exactly once, with the command to use it. */
export function printAdminPassword(password: string | undefined, host: string | undefined): void {
  if (password === undefined) return;
  process.stdout.write(
    'berth: created user "admin" with password:\n\n' +
      `    ${password}\n\n` +
      `       log in with: docker login ${host ?? 'HOST:5000'} -u admin   (this password is not shown again;\n` +
      '       change it with: berth user passwd admin)\n',
  );
}

function exampleHost(bound: string | undefined): string {
  if (!bound) return 'HOST:5000';
  const port = bound.slice(bound.lastIndexOf(':') + 1);
  return bound.startsWith('[::]') || bound.startsWith('0.0.0.0') ? `HOST:${port}` : bound;
}
