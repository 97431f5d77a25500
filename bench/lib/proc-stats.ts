/**
 * Server footprint from /proc: resident memory and CPU time of one PID. Peak RSS is taken two ways
 * and the larger wins: VmRSS sampled every 50 ms, and the kernel's own high-water mark VmHWM after
 * resetting it (`5` into /proc/PID/clear_refs), which also catches spikes between samples.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const CLOCK_TICKS = readClockTicks();

function readClockTicks(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
}

function statusField(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m?.[1] ? Number(m[1]) * 1024 : 0;
}

export function rssBytes(pid: number): number {
  return statusField(pid, 'VmRSS');
}

/**
 * The resident set split by kind: anonymous memory is the process's own (heap, stacks, buffers);
 * file-backed memory is mapped files (the executable and its libraries), shared and reclaimable.
 */
export function rssParts(pid: number): { anonBytes: number; fileBytes: number } {
  return { anonBytes: statusField(pid, 'RssAnon'), fileBytes: statusField(pid, 'RssFile') };
}

/** utime + stime of the process (all its threads), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface Usage {
  peakRssBytes: number;
  cpuSeconds: number;
  wallSeconds: number;
}

/** Measures one PID while `work` runs. */
export async function measure<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; usage: Usage }> {
  const hwmReset = resetPeak(pid);
  let peak = rssBytes(pid);
  const sample = (): void => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // The process is gone; the work will fail and say why.
    }
  };
  const timer = setInterval(sample, 50);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  try {
    const result = await work();
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(pid) - cpu0;
    sample();
    if (hwmReset) peak = Math.max(peak, statusField(pid, 'VmHWM'));
    return { result, usage: { peakRssBytes: peak, cpuSeconds: cpu, wallSeconds } };
  } finally {
    clearInterval(timer);
  }
}

/** `pid` and all its descendants alive now (from /proc/PID/task/TID/children). */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift();
    if (next === undefined) break;
    out.push(next);
    try {
      for (const tid of readdirSync(`/proc/${next}/task`)) {
        const children = readFileSync(`/proc/${next}/task/${tid}/children`, 'utf8').trim();
        if (children !== '') queue.push(...children.split(' ').map(Number));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** The children of this process whose command name is one of `names` (e.g. Ceph's daemons). */
export function childrenNamed(names: readonly string[]): number[] {
  return processTree(process.pid).filter((pid) => {
    try {
      return names.includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    } catch {
      return false;
    }
  });
}

/** CPU seconds of several processes together; those that are gone count as 0. */
export function cpuSecondsOf(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += cpuSeconds(pid);
    } catch {
      // Gone.
    }
  }
  return sum;
}

/** Busy CPU seconds of the whole machine (all cores, every process), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
}

/**
 * CPU seconds of this process's children that have ended and been reaped (cutime + cstime of
 * /proc/self/stat): how the load generator's CPU is counted, as it ends with its load.
 */
export function reapedChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3: cutime (16) and cstime (17) are at 13 and 14.
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}
