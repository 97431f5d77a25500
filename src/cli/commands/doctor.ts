/**
 * @module cli/commands/doctor
 * `berth doctor URL`: checks a registry from a client's point of view (DNS, TLS, the `/v2/`
 * challenge, the token endpoint, clock skew, a streamed blob upload, token lifetime) and says in
 * plain words what is wrong and how to fix it. Exit code 0 without failures, 1 with any.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { DoctorUsageError, formatReport, runDoctor } from '../../doctor/runner.js';
import { SCRATCH_REPOSITORY, type DoctorOptions } from '../../doctor/types.js';

interface DoctorFlags {
  username?: string;
  passwordStdin: boolean;
  caFile?: string;
  blobSizeMb: number;
  repository: string;
  stallTimeout: number;
  json: boolean;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0');
  return n;
}

function usage(message: string): never {
  process.stderr.write(`berth doctor: ${message}\n`);
  process.exit(2);
}

/** The first line of stdin (`echo "$PW" | berth doctor … --password-stdin`). */
async function readStdinLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += (chunk as Buffer).toString('utf8');
    if (text.includes('\n')) break;
  }
  const line = text.split('\n', 1)[0] ?? '';
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor <url>')
    .description(
      'check a registry as a client sees it (DNS, TLS, token realm, token, clock, a 50 MB upload) and explain each problem with its fix',
    )
    .option('--username <name>', 'user to log in as (to check the token and a push)')
    .option(
      '--password-stdin',
      'read the password (or an access token) from the first line of stdin',
      false,
    )
    .option(
      '--ca-file <file>',
      'also trust this CA certificate (PEM), e.g. the ca.crt of berth cert',
    )
    .option('--blob-size-mb <n>', 'size of the test upload in MB', positiveNumber, 50)
    .option(
      '--repository <name>',
      'scratch repository for the test upload (doctor deletes it again)',
      SCRATCH_REPOSITORY,
    )
    .option(
      '--stall-timeout <seconds>',
      'an upload that moves nothing for this long counts as stalled',
      positiveNumber,
      30,
    )
    .option('--json', 'print the findings as JSON', false)
    .action(async (url: string, flags: DoctorFlags) => {
      if (flags.passwordStdin !== (flags.username !== undefined))
        usage('--username and --password-stdin go together (the password comes from stdin)');
      const options: DoctorOptions = {
        url,
        blobSizeBytes: Math.round(flags.blobSizeMb * 1_000_000),
        repository: flags.repository,
        stallSeconds: flags.stallTimeout,
      };
      if (flags.username !== undefined) {
        options.username = flags.username;
        options.password = await readStdinLine();
      }
      if (flags.caFile !== undefined) options.caFile = flags.caFile;
      let report;
      try {
        report = await runDoctor(options);
      } catch (err) {
        if (err instanceof DoctorUsageError) usage(err.message);
        throw err;
      }
      process.stdout.write(
        flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report),
      );
      process.exitCode = report.ok ? 0 : 1;
    });
}
