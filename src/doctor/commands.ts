/**
 * @module doctor/commands
 * The Berth commands that fixes name, in one place so every finding spells them the same way.
 */
import { isIP } from 'node:net';
import type { Target } from './types.js';

/** `berth cert` for the name (or address) the client dialled. */
export function certCommand(target: Target): string {
  return isIP(target.hostname) === 0
    ? `berth cert --host ${target.hostname}`
    : `berth cert --ip ${target.hostname}`;
}

/** Making and serving a certificate with subjectAltNames for the dialled name. */
export function serveTlsFix(target: Target): string {
  return `on the server: ${certCommand(target)} (add every other name with --host/--ip), then restart berth serve, which serves <data>/tls/server.crt (or give server.crt and server.key to the proxy that terminates TLS)`;
}
