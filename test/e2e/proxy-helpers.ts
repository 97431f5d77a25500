/**
 * What the proxy e2e tests share: a proxy namespace made on a running server's data directory
 * with `berth namespace create NAME --proxy URL …`, as an operator makes it, and the memory
 * figures of a process.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { CLI } from '../helpers/server.js';
import { describeResult, runWithTimeout } from './dockerd.js';

export interface ProxyNamespace {
  /** The upstream registry's origin. */
  url: string;
  /** Upstream credentials; the password goes in on stdin. */
  credentials?: { username: string; password: string };
  /** `--proxy-ttl`, e.g. `6h`. */
  ttl?: string;
  public: boolean;
}

/**
 * `berth namespace create` beside the running server: its router reads a namespace's kind from
 * the database, so the next pull sees the new namespace. The server must have initialised the
 * directory first (with the tests' admin password).
 */
export async function createProxyNamespace(
  dataDir: string,
  name: string,
  proxy: ProxyNamespace,
): Promise<void> {
  const args = [CLI, 'namespace', 'create', name, '--proxy', proxy.url, '--data', dataDir];
  if (proxy.public) args.push('--public');
  if (proxy.ttl !== undefined) args.push('--proxy-ttl', proxy.ttl);
  if (proxy.credentials)
    args.push('--proxy-username', proxy.credentials.username, '--proxy-password-stdin');
  const result = await runWithTimeout(
    process.execPath,
    args,
    process.env,
    60_000,
    proxy.credentials ? `${proxy.credentials.password}\n` : undefined,
  );
  if (result.code !== 0) throw new Error(describeResult(result));
  // The password is read, never echoed.
  if (proxy.credentials && result.output.includes(proxy.credentials.password))
    throw new Error(`berth namespace create printed the upstream password:\n${result.output}`);
}

/** A field of /proc/PID/status in bytes (VmRSS: resident now; VmHWM: its peak). */
export function memoryOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(
    readFileSync(`/proc/${pid}/status`, 'utf8'),
  );
  if (!m?.[1]) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * Resets the process's VmHWM to its current RSS (`clear_refs` 5), so a later VmHWM is the peak of
 * what happened in between. False where the kernel does not allow it (the peak then includes the
 * start).
 */
export function resetPeakMemory(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
