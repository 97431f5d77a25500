/**
 * @module doctor/runner
 * `berth doctor`: runs the checks in order, each with what the earlier ones learned (DNS → TLS →
 * `/v2/` and its challenge → token → clock → upload → token lifetime against the upload rate), and
 * renders the findings as text (one line each, with the why and the fix under warnings and
 * failures) or JSON. A check that cannot run because an earlier one failed is skipped, not failed.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import { checkRegistry } from './challenge.js';
import { checkClock } from './clock.js';
import { checkDns } from './dns.js';
import { bareHostname } from './http-client.js';
import { judgeLifetime } from './lifetime.js';
import { checkTls } from './tls.js';
import { checkToken } from './token.js';
import { checkUpload } from './upload.js';
import {
  finding,
  type CheckId,
  type DoctorOptions,
  type DoctorState,
  type Finding,
  type Status,
  type Target,
} from './types.js';

/** Debian's system trust store (update-ca-certificates), which Go clients use too. */
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export class DoctorUsageError extends Error {}

/** The registry as a client names it: `host:port` alone means https, as with docker. */
export function parseTarget(input: string): Target {
  const text = input.includes('://') ? input : `https://${input}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DoctorUsageError(`not a URL: ${input}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new DoctorUsageError(`the URL must be http:// or https://, not ${url.protocol}//`);
  const https = url.protocol === 'https:';
  return {
    url: new URL(url.origin),
    https,
    hostname: bareHostname(url),
    port: url.port === '' ? (https ? 443 : 80) : Number(url.port),
    dialled: url.host,
    origin: url.origin,
  };
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The CAs a client here trusts for the target: the system's, docker's certs.d, `--ca-file`. */
export async function trustedCas(
  target: Target,
  caFile: string | undefined,
): Promise<{ ca: string[]; sources: string[] }> {
  const ca: string[] = [...rootCertificates];
  const sources: string[] = [];
  const system = await readIfPresent(SYSTEM_BUNDLE);
  if (system !== undefined) ca.push(system);
  if (target.https) {
    // Docker trusts every *.crt in the folder named exactly like the host:port it dials.
    const dir = path.join('/etc/docker/certs.d', target.dialled);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.crt')).sort()) {
      const pem = await readIfPresent(path.join(dir, name));
      if (pem !== undefined) {
        ca.push(pem);
        sources.push(path.join(dir, name));
      }
    }
  }
  if (caFile !== undefined) {
    const pem = await readIfPresent(caFile);
    if (pem === undefined) throw new DoctorUsageError(`cannot read --ca-file ${caFile}`);
    if (!pem.includes('-----BEGIN CERTIFICATE-----'))
      throw new DoctorUsageError(`--ca-file ${caFile} holds no PEM certificate`);
    ca.push(pem);
    sources.push(caFile);
  }
  return { ca, sources };
}

export interface DoctorReport {
  url: string;
  ok: boolean;
  counts: Record<Status, number>;
  findings: Finding[];
}

async function guarded(
  check: CheckId,
  run: () => Promise<Finding[]> | Finding[],
): Promise<Finding[]> {
  try {
    return await run();
  } catch (err) {
    return [
      finding(check, 'fail', {
        summary: `the check itself failed: ${err instanceof Error ? err.message : String(err)}`,
      }),
    ];
  }
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const target = parseTarget(options.url);
  const { ca, sources } = await trustedCas(target, options.caFile);
  const state: DoctorState = { target, ca, caSources: sources, tlsVerified: true, reachable: true };
  const findings: Finding[] = [];
  findings.push(...(await guarded('dns', () => checkDns(state))));
  if (state.reachable) findings.push(...(await guarded('tls', () => checkTls(state))));
  if (state.reachable) {
    findings.push(...(await guarded('registry', () => checkRegistry(state))));
  } else {
    findings.push(finding('registry', 'skip', { summary: 'GET /v2/ not tried: no connection' }));
  }
  findings.push(...(await guarded('token', () => checkToken(state, options))));
  findings.push(...(await guarded('clock', () => checkClock(state))));
  findings.push(...(await guarded('upload', () => checkUpload(state, options))));
  findings.push(
    judgeLifetime(
      state.challenge?.scheme.toLowerCase() === 'bearer' ? state.token?.expiresIn : undefined,
      state.upload,
    ),
  );
  const counts: Record<Status, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const f of findings) counts[f.status] += 1;
  return { url: target.origin, ok: counts.fail === 0, counts, findings };
}

const SYMBOL: Record<Status, string> = { pass: '✓', warn: '!', fail: '✗', skip: '-' };
const WIDTH = 100;
const INDENT = ' '.repeat(4);

/** Word-wraps `text` to {@link WIDTH} columns (never inside a word), every line indented. */
function wrap(text: string, prefix: string): string[] {
  const lines: string[] = [];
  const hanging = INDENT + ' '.repeat(prefix.length);
  let line = INDENT + prefix;
  let empty = true;
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = hanging + word;
    } else {
      line += empty ? word : ` ${word}`;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}

export function formatReport(report: DoctorReport): string {
  const out: string[] = [`berth doctor ${report.url}`];
  const width = Math.max(...report.findings.map((f) => f.check.length));
  for (const f of report.findings) {
    out.push(`${SYMBOL[f.status]} ${f.check.padEnd(width)}  ${f.summary}`);
    if (f.status === 'warn' || f.status === 'fail') {
      if (f.explanation !== undefined) out.push(...wrap(f.explanation, ''));
      if (f.fix !== undefined) out.push(...wrap(f.fix, 'fix: '));
    }
  }
  const { pass, warn, fail, skip } = report.counts;
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  out.push(
    `${report.ok ? 'no failures' : plural(fail, 'failure')}: ${pass} passed, ${plural(warn, 'warning')}, ${skip} skipped`,
  );
  return `${out.join('\n')}\n`;
}
