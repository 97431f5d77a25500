/**
 * @module cli/commands/nginx-config
 * `berth nginx-config`: prints an nginx `server` block that terminates TLS and proxies to Berth,
 * or to several replicas through an `upstream` block (the text and the reasons for each directive
 * are in proxy/nginx). Needs no data directory.
 */
import type { Command } from 'commander';
import { DEFAULT_UPSTREAM, renderNginxConfig } from '../../proxy/nginx.js';
import { collect } from '../output.js';

interface NginxConfigFlags {
  serverName: string;
  listen: string;
  upstream: string[];
  tlsCert?: string;
  tlsKey?: string;
  http2: boolean;
}

export function registerNginxConfigCommand(program: Command): void {
  program
    .command('nginx-config')
    .description('print an nginx server block that terminates TLS in front of Berth')
    .requiredOption(
      '--server-name <name>',
      'the host name clients use (must be in the certificate)',
    )
    .option('--listen <port>', 'port nginx listens on, or ADDRESS:PORT', '443')
    .option(
      '--upstream <host:port>',
      `where Berth listens (default ${DEFAULT_UPSTREAM}); repeat it for replicas, which nginx balances round robin`,
      collect,
      [],
    )
    .option('--tls-cert <file>', "nginx's certificate file (default /etc/nginx/tls/NAME.crt)")
    .option('--tls-key <file>', 'its private key (default /etc/nginx/tls/NAME.key)')
    .option('--http2', 'also offer HTTP/2 to clients', false)
    .action((flags: NginxConfigFlags) => {
      process.stdout.write(
        renderNginxConfig({
          serverName: flags.serverName,
          listen: flags.listen,
          upstream: flags.upstream,
          tlsCert: flags.tlsCert,
          tlsKey: flags.tlsKey,
          http2: flags.http2,
        }),
      );
    });
}
