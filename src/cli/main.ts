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
};

/** The command being run: the first argument, since no option of the program takes a value. */
function chosenCommand(argv: readonly string[]): (() => Promise<Register>) | undefined {
  const first = argv[2];
  return first !== undefined && Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
}

const program = new Command('berth')
  .description('Berth: a private container image registry in one small process')
  .version(VERSION)
  .showHelpAfterError();

async function run(): Promise<void> {
  const chosen = chosenCommand(process.argv);
  const registers = await Promise.all(
    chosen ? [chosen()] : Object.values(COMMANDS).map((c) => c()),
  );
  for (const register of registers) register(program);
  await program.parseAsync(process.argv);
}

run().catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof ConfigError || err instanceof RegistryError) {
    process.stderr.write(`berth: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(
    `berth: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
