#!/usr/bin/env node
/**
 * @module cli/main
 * `berth`: the operator's command line. Commands call the services directly (not HTTP), so the
 * ones that take `--data` work whether or not a server runs on that directory.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { RegistryError } from '../core/errors.js';
import { VERSION } from './version.js';

type Register = (program: Command) => void;

/**
 * Each top-level command's module, in help order. Only the module of the command being run is
 * loaded (the others would cost start time and memory for nothing); help and unknown commands
 * load them all.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  serve: async () => (await import('./commands/serve.js')).registerServeCommand,
  cert: async () => (await import('./commands/cert.js')).registerCertCommand,
  namespace: async () => (await import('./commands/namespace.js')).registerNamespaceCommands,
  user: async () => (await import('./commands/user.js')).registerUserCommands,
  role: async () => (await import('./commands/role.js')).registerRoleCommands,
  token: async () => (await import('./commands/token.js')).registerTokenCommands,
  audit: async () => (await import('./commands/audit.js')).registerAuditCommand,
  'nginx-config': async () =>
    (await import('./commands/nginx-config.js')).registerNginxConfigCommand,
  doctor: async () => (await import('./commands/doctor.js')).registerDoctorCommand,
  fsck: async () => (await import('./commands/fsck.js')).registerFsckCommand,
  gc: async () => (await import('./commands/gc.js')).registerGcCommand,
  retention: async () => (await import('./commands/retention.js')).registerRetentionCommand,
};

/** The command being run: the first argument, since no option of the program takes a value. */
function chosenCommand(argv: readonly string[]): (() => Promise<Register>) | undefined {
  const first = argv[2];
  return first !== undefined && Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
}

const program = new Command('berth')
  .description('Berth: a private container image registry in one small process')
  .version(VERSION);

/**
 * A usage error prints the error and where the usage is, not the whole help text (which buried
 * the one line that mattered). Set on every command: commander copies settings only into
 * commands created after them.
 */
function hintUsage(command: Command, name: string): void {
  command
    .configureOutput({
      outputError: (text, write) => write(`${name}: ${text.replace(/^error: /, '')}`),
    })
    .showHelpAfterError(`(see: ${name} --help)`);
  for (const sub of command.commands) hintUsage(sub, `${name} ${sub.name()}`);
}

async function run(): Promise<void> {
  const chosen = chosenCommand(process.argv);
  const registers = await Promise.all(
    chosen ? [chosen()] : Object.values(COMMANDS).map((c) => c()),
  );
  for (const register of registers) register(program);
  hintUsage(program, 'berth');
  await program.parseAsync(process.argv);
}

/** Node's own errors (EACCES, ENOSPC, …): the message names the call and the path. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

// Every failure is one line and exit code 1; only a bug (an error nobody expected) shows its
// stack, because that is what a bug report needs.
run().catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof ConfigError || err instanceof RegistryError || isSystemError(err)) {
    process.stderr.write(`berth: ${err.message}\n`);
  } else {
    process.stderr.write(
      `berth: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
  }
  process.exit(1);
});
