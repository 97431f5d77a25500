/**
 * @module cli/commands/cert
 * `berth cert --host NAME… --ip IP…`: a private CA and a server certificate with those names as
 * subjectAltNames, written where `berth serve` finds them (`<data>/tls` unless --out), and the
 * commands that make each kind of client trust the CA. Run again to renew: the CA stays.
 */
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { collect } from '../output.js';

interface CertFlags {
  host: string[];
  ip: string[];
  out?: string;
  rsa: boolean;
  port: number;
  data?: string;
  config?: string;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError('a port number (1-65535)');
  }
  return port;
}

export function registerCertCommand(program: Command): void {
  program
    .command('cert')
    .description(
      'make a private CA and a server certificate for HTTPS (run again to renew; the CA stays)',
    )
    .option(
      '--host <name>',
      'a DNS name clients use for this registry; repeatable (the first is the CN)',
      collect,
      [],
    )
    .option(
      '--ip <address>',
      'an IP address clients use for this registry; repeatable',
      collect,
      [],
    )
    .option(
      '--out <dir>',
      'where to write ca.crt, ca.key, server.crt, server.key (default <data>/tls)',
    )
    .option('--rsa', 'RSA 3072 keys instead of ECDSA P-256 (for old clients)', false)
    .option(
      '--port <port>',
      'the port clients dial, for the printed client set-up',
      parsePort,
      5000,
    )
    .option('--data <dir>', 'data directory (env BERTH_DATA, default ./data)')
    .option('--config <file>', 'YAML configuration file (env BERTH_CONFIG)')
    .addHelpText(
      'after',
      '\nExample:\n  berth cert --host registry.example.com --ip 10.0.0.5\n  berth serve      # finds <data>/tls/server.crt and serves HTTPS\n',
    )
    .action(async (flags: CertFlags) => {
      // Loaded on use: only this command needs the X.509 generator.
      const [{ certificateNames }, { issueCertificates }, { clientSetupText, dialNames }] =
        await Promise.all([
          import('../../tls/names.js'),
          import('../../tls/issue.js'),
          import('../../tls/client-setup.js'),
        ]);
      const names = certificateNames(flags.host, flags.ip);
      const config = loadConfig({
        file: flags.config,
        flags: flags.data ? { data: flags.data } : {},
      });
      const dir = path.resolve(flags.out ?? path.join(config.data, 'tls'));
      const result = await issueCertificates({
        dir,
        names,
        algorithm: flags.rsa ? 'rsa-3072' : 'ecdsa-p256',
      });
      const { files } = result;
      const until = (date: string): string => new Date(date).toISOString().slice(0, 10);
      const out = process.stdout;
      if (result.caCreated) {
        out.write(
          `berth: wrote a new private CA: ${files.caCert} (valid until ${until(result.ca.validTo)})\n` +
            `       and its key ${files.caKey} (mode 0600: keep it secret, back it up)\n`,
        );
      } else {
        out.write(
          `berth: kept the CA in ${files.caCert}: clients that trust it need nothing new\n`,
        );
      }
      out.write(
        `berth: wrote the server certificate ${files.cert} and its key ${files.key} (mode 0600)\n` +
          `       for ${[...names.dns, ...names.ips].join(', ')}; ${flags.rsa ? 'RSA 3072' : 'ECDSA P-256'}; ` +
          `valid until ${until(result.server.validTo)} (renew by running this command again)\n`,
      );
      const inDataDir = dir === path.resolve(config.data, 'tls');
      out.write(
        inDataDir
          ? `berth: serve it with: berth serve${flags.data ? ` --data ${flags.data}` : ''}   (it uses ${files.dir})\n`
          : `berth: serve it with: berth serve --tls-cert ${files.cert} --tls-key ${files.key}\n`,
      );
      out.write(
        '       a running server picks up a renewed certificate on SIGHUP (kill -HUP <pid>)\n\n',
      );
      out.write(
        clientSetupText({
          dial: dialNames(names, flags.port),
          caFile: files.caCert,
          caFingerprint: result.ca.fingerprint256,
          servesCa: true,
        }),
      );
    });
}
