#!/usr/bin/env node
/**
 * @module cli/main
 * `berth`: the operator's command line. Commands call the services directly (not HTTP), so the
 * ones that take `--data` work whether or not a server runs on that directory.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { RegistryError } from '../core/errors.js';
import { registerAuditCommand } from './commands/audit.js';
import { registerCertCommand } from './commands/cert.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerNamespaceCommands } from './commands/namespace.js';
import { registerNginxConfigCommand } from './commands/nginx-config.js';
import { registerRoleCommands } from './commands/role.js';
import { registerServeCommand } from './commands/serve.js';
import { registerTokenCommands } from './commands/token.js';
import { registerUserCommands } from './commands/user.js';
import { VERSION } from './version.js';

const program = new Command('berth')
  .description('Berth: a private container image registry in one small process')
  .version(VERSION)
  .showHelpAfterError();

registerServeCommand(program);
registerCertCommand(program);
registerNamespaceCommands(program);
registerUserCommands(program);
registerRoleCommands(program);
registerTokenCommands(program);
registerAuditCommand(program);
registerNginxConfigCommand(program);
registerDoctorCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
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
