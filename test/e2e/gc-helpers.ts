/**
 * For the garbage collection e2e tests: running the built CLI (`berth gc`, `berth fsck`) beside a
 * server, where blobs and GC's trash sit on disk, and pulling an image back intact.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { OCI_INDEX, OCI_MANIFEST, pullBlobHashed, sha256 } from '../helpers/oci.js';
import { CLI } from '../helpers/server.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliRun {
  child: ChildProcess;
  /** Exited, its output read to the end. */
  done: Promise<CliResult>;
}

const running = new Set<ChildProcess>();
// A test that failed half-way leaves no CLI process behind (each killed by its own PID).
afterAll(async () => {
  for (const child of running) {
    const closed = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGKILL');
    await closed;
  }
});

/** Starts `node dist/cli/main.js ARGS`. */
export function startBerth(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      running.delete(child);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
  });
  return { child, done };
}

export function berth(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return startBerth(args, env).done;
}

/** What `berth gc --json` reports (lifecycle/gc.ts GcReport), as far as these tests read it. */
export interface GcReport {
  manifests: number;
  links: number;
  blobs: number;
  bytes: number;
  trashSettled: number;
  removed: { manifests: string[]; blobs: string[] };
  error?: string;
}

/** `berth gc --json ARGS` that must succeed: its report. */
export async function gcOk(args: readonly string[]): Promise<GcReport> {
  const result = await berth(['gc', '--json', ...args]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as GcReport;
}

export interface FsckReport {
  clean: boolean;
  trashSettled: number;
  findings: { kind: string; subject: string; recent?: boolean }[];
}

/** `berth fsck --json` must find nothing wrong. */
export async function expectFsckClean(dataArgs: readonly string[]): Promise<FsckReport> {
  const result = await berth(['fsck', '--json', ...dataArgs]);
  const report = JSON.parse(result.stdout) as FsckReport;
  expect(report.findings).toEqual([]);
  expect(report.clean).toBe(true);
  expect(result.code).toBe(0);
  return report;
}

export function blobFile(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

export function trashFile(dataDir: string, digest: string): string {
  return path.join(dataDir, 'trash', 'sha256', digest.slice('sha256:'.length));
}

/** The files under a folder, as paths (none when it does not exist). */
export async function filesUnder(root: string): Promise<string[]> {
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** The digests of the files in GC's trash. */
export async function trashed(dataDir: string): Promise<string[]> {
  return (await filesUnder(path.join(dataDir, 'trash'))).map((f) => `sha256:${path.basename(f)}`);
}

/** An image as pushed: its manifest's bytes and the digests of its config and layers. */
export interface Image {
  repo: string;
  /** Null: pushed by digest only. */
  tag: string | null;
  manifest: string;
  digest: string;
  blobs: string[];
}

/**
 * Pulls the image by tag (when it has one) and by digest, and every blob, hashing what arrives:
 * a problem found is returned as text (so a loop of pulls can count them), null when intact.
 */
export async function pullProblem(url: string, image: Image): Promise<string | null> {
  const where = `${image.repo}@${image.digest}`;
  for (const reference of image.tag === null ? [image.digest] : [image.tag, image.digest]) {
    const res = await fetch(`${url}/v2/${image.repo}/manifests/${reference}`, {
      headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
    });
    if (res.status !== 200)
      return `${where}: manifest ${reference}: ${res.status} ${await res.text()}`;
    const digest = sha256(Buffer.from(await res.arrayBuffer()));
    if (digest !== image.digest) return `${where}: manifest ${reference} hashes to ${digest}`;
  }
  for (const blob of image.blobs) {
    const pulled = await pullBlobHashed(url, image.repo, blob);
    if (pulled.status !== 200) return `${where}: blob ${blob}: ${pulled.status}`;
    if (pulled.digest !== blob) return `${where}: blob ${blob} hashes to ${pulled.digest}`;
  }
  return null;
}
