/**
 * @module tls/files
 * Writing certificates and keys: to a temp file in the same directory, created with its final
 * mode (0600 for keys, so a private key is never readable by others, not even for a moment),
 * synced, then renamed over the old one — a reader sees the old file or the new, never half.
 *
 * The directory `berth cert` and `tls: auto` write:
 *
 * ```
 * <dir>/ca.crt       the private CA clients trust (0644)
 * <dir>/ca.key       its key (0600): whoever has it can impersonate any host to those clients
 * <dir>/server.crt   the server certificate (0644)
 * <dir>/server.key   its key (0600)
 * ```
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;

export async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const temp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const handle = await fs.open(temp, 'wx', mode);
  try {
    // The umask may have taken bits away, never added them; chmod makes the mode exact.
    await handle.chmod(mode);
    await handle.writeFile(data);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await fs.rename(temp, file);
  } catch (e) {
    await fs.rm(temp, { force: true });
    throw e;
  }
}

/** The file's text, or undefined when it does not exist. */
export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface TlsFiles {
  dir: string;
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

export function tlsFiles(dir: string): TlsFiles {
  const root = path.resolve(dir);
  return {
    dir: root,
    caCert: path.join(root, 'ca.crt'),
    caKey: path.join(root, 'ca.key'),
    cert: path.join(root, 'server.crt'),
    key: path.join(root, 'server.key'),
  };
}
