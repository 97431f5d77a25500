/**
 * What the proxy e2e tests share: a proxy namespace made on a running server's data directory the
 * way `berth namespace create NAME --proxy URL` makes it, and the memory figures of a process.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { withDataDir } from '../../src/cli/data.js';
import type { ProxyInput } from '../../src/registry/namespaces.js';

/**
 * Creates a proxy namespace through the code path of `berth namespace create` (cli/data.ts
 * `withDataDir`, the registry's validation), beside the running server: its router reads a
 * namespace's kind from the database, so the next pull sees the new namespace. The server must
 * have initialised the directory first (with the tests' admin password).
 */
export async function createProxyNamespace(
  dataDir: string,
  name: string,
  proxy: ProxyInput,
  options: { public: boolean },
): Promise<void> {
  await withDataDir({ data: dataDir }, async ({ registry }) => {
    await registry.namespaces.create(name, { public: options.public, proxy });
  });
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
