/**
 * The storage lifecycle in the web UI, in real Chromium against the built server with
 * authentication on. On a namespace's page an administrator sets its quota, retention and tag
 * rules (the API then returns exactly those), reads the usage against the quota and previews what
 * retention would remove (nothing is removed); a viewer reads the same rules without controls. On
 * the system page, after an image's tag was deleted through the API, "Check" shows what garbage
 * collection would reclaim, and "Collect garbage" shows that preview (naming the manifest that
 * goes), collects it, and lists the run; the untagged image is then gone from /v2 while the kept
 * image pulls intact, and the Storage panel drops by exactly the bytes freed.
 *
 * The server runs with `gc.grace: 0` and `gc.untaggedAfter: 1ms` (what was untagged is
 * reclaimable at once) and no schedule (nothing collects behind the test's back).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ADMIN_PASSWORD,
  CLI,
  ROOT,
  startServerProcess,
  type ServerProcess,
} from '../helpers/server.js';
import { launchChromium, openPage, screenshot, type WatchedPage } from './browser.js';
import { clientSandbox } from './client-sandbox.js';
import {
  OCI_MANIFEST,
  buildImage,
  initLayout,
  runOk,
  type ImageManifest,
  type StoredManifest,
} from './images.js';

const NAMESPACE = 'team-life';
const APP = `${NAMESPACE}/app`;
/** In the default namespace, which has no retention policy: gc.untaggedAfter applies. */
const DOOMED = 'library/doomed';
const GiB = 1024 ** 3;
const VIEWER = { name: 'viewer-life', password: `view-${randomBytes(6).toString('hex')}` };
const ADMIN_AUTHORIZATION = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

let server: ServerProcess | undefined;
let browser: Browser | undefined;
let work = '';
let url = '';
let admin: WatchedPage | undefined;
const watched: WatchedPage[] = [];
let doomed: StoredManifest<ImageManifest> | undefined;
let kept: StoredManifest<ImageManifest> | undefined;

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not ready`);
  return value;
}

function adminPage(): Page {
  return must(admin, 'the admin page').page;
}

/** The admin API as the administrator, outside the browser: what the UI saved, read back. */
async function api<T>(method: string, at: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}/api/v1${at}`, {
    method,
    headers: {
      authorization: ADMIN_AUTHORIZATION,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  expect(res.status, `${method} ${at}`).toBeLessThan(300);
  const text = await res.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

interface NamespaceView {
  quotaBytes: number | null;
  usedBytes: number;
  retention: Record<string, unknown> | null;
  immutableTags: string[];
  indexChildren: string | null;
}

interface RetentionView {
  tags: { repository: string; tag: string; digest: string }[];
  manifests: { repository: string; digest: string }[];
  kept: number;
}

/** `1 tag`, `2 tags`: the UI's words for a count. */
const plural = (n: number, word: string): string => `${String(n)} ${word}${n === 1 ? '' : 's'}`;

interface GcRunView {
  dryRun: boolean;
  status: string;
  trigger: string;
  report: { bytes: number; blobs: number } | null;
}

const namespace = (): Promise<NamespaceView> =>
  api<NamespaceView>('GET', `/namespaces/${NAMESPACE}`);

async function v2(at: string): Promise<number> {
  const res = await fetch(`${url}/v2/${at}`, {
    headers: { accept: OCI_MANIFEST, authorization: ADMIN_AUTHORIZATION },
  });
  await res.arrayBuffer();
  return res.status;
}

/** The exact byte count the first <data> element (the UI's Bytes) in `scope` carries. */
async function bytesIn(scope: Locator): Promise<number> {
  const value = await scope.locator('data').first().getAttribute('value');
  return Number(must(value ?? undefined, 'a byte count'));
}

beforeAll(async () => {
  for (const built of [CLI, path.join(ROOT, 'web', 'dist', 'index.html')]) {
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
  }
  work = path.join(tmpdir(), `berth-e2e-ui-life-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  const config = path.join(work, 'berth.yaml');
  await writeFile(config, 'gc:\n  grace: "0"\n  untaggedAfter: "1ms"\n  schedule: "off"\n');
  server = await startServerProcess({
    dataDir: path.join(work, 'data'),
    auth: true,
    args: ['--config', config],
  });
  url = server.url;
  const { env } = await clientSandbox(work, { isolateCredentials: true });

  // Two images with layers of their own (random, so nothing is shared): one stays, one goes.
  const layout = path.join(work, 'layout');
  await initLayout(layout);
  const platform = { architecture: 'amd64', os: 'linux' };
  kept = await buildImage(layout, {
    tag: 'kept',
    platform,
    layers: [['/srv/kept.bin', randomBytes(64 * 1024)]],
  });
  doomed = await buildImage(layout, {
    tag: 'doomed',
    platform,
    layers: [['/srv/doomed.bin', randomBytes(128 * 1024)]],
  });
  await api('POST', '/namespaces', { name: NAMESPACE });
  const push = (source: string, target: string): Promise<unknown> =>
    runOk(
      'skopeo',
      [
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        `admin:${ADMIN_PASSWORD}`,
        `oci:${layout}:${source}`,
        `docker://${server?.host ?? ''}/${target}`,
      ],
      env,
    );
  // Oldest first: retention orders tags by push time.
  await push('kept', `${APP}:old-1`);
  await push('kept', `${APP}:old-2`);
  await push('kept', `${APP}:v1`);
  await push('doomed', `${DOOMED}:1`);
  await api('POST', '/users', {
    name: VIEWER.name,
    password: VIEWER.password,
    roles: [{ role: 'viewer', namespace: null }],
  });

  browser = await launchChromium();
  admin = await openPage(browser);
  watched.push(admin);
  await signIn(admin.page, 'admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function signIn(page: Page, user: string, password: string): Promise<void> {
  await page.goto(`${url}/login`);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

describe('a namespace page', () => {
  test('quota, retention and tag rules set in the UI are what the API returns', async () => {
    const page = adminPage();
    await page.goto(`${url}/namespaces`);
    await page.getByRole('link', { name: NAMESPACE, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: NAMESPACE }).waitFor();
    const rules = page.getByRole('region', { name: 'Rules' });
    await rules.getByLabel('Immutable tags').fill('release-*, v*');
    await rules.getByRole('radio', { name: 'None need exist (sparse)' }).check();
    await rules.getByLabel('Quota').fill('10 GiB');
    await rules.getByLabel('Keep the newest').fill('1');
    await rules.getByLabel('Keep tags matching').fill('^v');
    await rules.getByLabel('Remove untagged manifests after').fill('7');
    await rules.getByRole('button', { name: 'Save rules' }).click();
    await rules.getByRole('status').getByText('Rules saved.').waitFor();

    expect(await namespace()).toMatchObject({
      quotaBytes: 10 * GiB,
      retention: { keepLast: 1, keepTags: '^v', untaggedDays: 7 },
      immutableTags: ['release-*', 'v*'],
      indexChildren: 'none',
    });
    const saved = await namespace();
    expect(saved.retention).not.toHaveProperty('keepDays');

    // What the registry refuses is shown in its words, and changes nothing.
    await rules.getByLabel('Keep tags matching').fill('(');
    await rules.getByRole('button', { name: 'Save rules' }).click();
    await rules
      .getByRole('alert')
      .getByText(/not a regular expression/)
      .waitFor();
    expect((await namespace()).retention).toEqual(saved.retention);
    // A slip the page catches itself never reaches the registry.
    await rules.getByLabel('Keep tags matching').fill('^v');
    await rules.getByLabel('Quota').fill('ten gigs');
    await rules.getByRole('button', { name: 'Save rules' }).click();
    await rules
      .getByRole('alert')
      .getByText(/The quota must be a size/)
      .waitFor();
    expect((await namespace()).quotaBytes).toBe(10 * GiB);

    // After a reload the form starts from what was saved.
    await page.reload();
    await rules.getByLabel('Quota').waitFor();
    expect(await rules.getByLabel('Quota').inputValue()).toBe('10 GiB');
    expect(await rules.getByLabel('Keep the newest').inputValue()).toBe('1');
    expect(await rules.getByLabel('Keep tags matching').inputValue()).toBe('^v');
    expect(await rules.getByLabel('Remove untagged manifests after').inputValue()).toBe('7');
    expect(await rules.getByLabel('Keep tags pushed or pulled within').inputValue()).toBe('');
    expect(await rules.getByRole('radio', { name: 'None need exist (sparse)' }).isChecked()).toBe(
      true,
    );
    await screenshot(page, 'lifecycle-namespace');
  });

  test('the usage is shown against the quota, here and in the list', async () => {
    const page = adminPage();
    await page.goto(`${url}/namespaces/${NAMESPACE}`);
    const { usedBytes, quotaBytes } = await namespace();
    // The kept image's layer and config (and manifest) are stored in the namespace.
    const { parsed } = must(kept, 'kept');
    const layers = [...parsed.layers, parsed.config];
    expect(usedBytes).toBeGreaterThanOrEqual(layers.reduce((sum, d) => sum + d.size, 0));

    const meter = page.getByRole('meter', { name: `Quota used by ${NAMESPACE}` });
    expect(Number(await meter.getAttribute('value'))).toBe(usedBytes);
    expect(Number(await meter.getAttribute('max'))).toBe(quotaBytes);
    const usage = page.getByRole('region', { name: 'Usage' });
    expect(await bytesIn(usage)).toBe(usedBytes);
    await usage.getByText('(0%)', { exact: false }).waitFor();

    await page.goto(`${url}/namespaces`);
    const row = page
      .getByRole('row')
      .filter({ has: page.getByRole('link', { name: NAMESPACE, exact: true }) });
    await row.getByText('of 10 GiB (0%)', { exact: false }).waitFor();
  });

  test('the retention preview lists the tags the saved policy would remove, and removes none', async () => {
    const page = adminPage();
    await page.goto(`${url}/namespaces/${NAMESPACE}`);
    const preview = page.getByRole('region', { name: 'Retention preview' });
    await preview.getByRole('button', { name: 'Preview retention' }).click();
    const status = preview.getByRole('status');
    await status.getByText(/^Retention would remove/).waitFor();

    // Exactly the registry's own dry run: old tags beyond the newest go, v1 (^v) stays.
    const plan = await api<RetentionView>('POST', `/retention?namespace=${NAMESPACE}&dryRun=true`);
    expect(plan.tags.map((t) => t.tag)).toContain('old-1');
    expect(plan.tags.map((t) => t.tag)).not.toContain('v1');
    expect(await status.textContent()).toBe(
      `Retention would remove ${plural(plan.tags.length, 'tag')} and ` +
        `${plural(plan.manifests.length, 'manifest')}, and keep ${plural(plan.kept, 'tag')}.`,
    );
    const rows = preview
      .getByRole('table', { name: 'What retention would remove' })
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader') });
    expect(await rows.count()).toBe(plan.tags.length + plan.manifests.length);
    for (const t of plan.tags) {
      const row = rows.filter({ has: page.getByRole('cell', { name: t.tag, exact: true }) });
      expect(await row.getByRole('rowheader').textContent()).toBe(t.repository);
      expect(await row.textContent()).toContain(t.digest.slice(0, 'sha256:'.length + 12));
    }
    await screenshot(page, 'lifecycle-retention-preview');
    for (const tag of ['old-1', 'old-2', 'v1'])
      expect(await v2(`${APP}/manifests/${tag}`)).toBe(200);
  });

  test('a viewer reads the rules and the usage, with no control to change them', async () => {
    const opened = await openPage(must(browser, 'the browser'));
    watched.push(opened);
    const { page } = opened;
    await signIn(page, VIEWER.name, VIEWER.password);
    await page.goto(`${url}/namespaces/${NAMESPACE}`);
    const rules = page.getByRole('region', { name: 'Rules' });
    const retention = rules.getByRole('list', { name: 'Retention rules' });
    await retention.getByText('keep the newest tag of each repository').waitFor();
    await retention.getByText('keep tags matching ^v').waitFor();
    await retention.getByText('remove untagged manifests after 7 days').waitFor();
    await rules.getByText('children may be missing').waitFor();
    await rules
      .getByRole('list', { name: 'Immutable tag patterns' })
      .getByText('release-*')
      .waitFor();
    await page.getByRole('meter', { name: `Quota used by ${NAMESPACE}` }).waitFor();
    expect(await page.getByRole('button', { name: 'Save rules' }).count()).toBe(0);
    expect(await page.getByRole('textbox').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Preview retention' }).count()).toBe(0);
    await screenshot(page, 'lifecycle-namespace-viewer');
  });
});

describe('garbage collection on the system page', () => {
  test('after an image is untagged, Check shows what it frees, and Collect garbage frees it', async () => {
    const gone = must(doomed, 'the doomed image');
    const layer = must(gone.parsed.layers[0], 'its layer');
    await api('DELETE', `/repositories/${encodeURIComponent(DOOMED)}/tags/1`);
    expect(await v2(`${DOOMED}/manifests/1`)).toBe(404);
    // Untagged, but still stored until a collection.
    expect(await v2(`${DOOMED}/manifests/${gone.digest}`)).toBe(200);
    const unique = layer.size + gone.parsed.config.size;

    const page = adminPage();
    await page.goto(`${url}/system`);
    const gc = page.getByRole('region', { name: 'Garbage collection' });
    await gc.getByRole('button', { name: 'Check' }).click();
    const reclaimable = gc.locator('dd').first();
    await reclaimable.getByText('checked', { exact: false }).waitFor();
    const estimate = await bytesIn(reclaimable);
    expect(estimate).toBeGreaterThanOrEqual(unique);
    const afterCheck = await api<{ runs: GcRunView[] }>('GET', '/gc');
    expect(afterCheck.runs[0]).toMatchObject({ dryRun: true, status: 'done', trigger: 'api' });
    expect(afterCheck.runs[0]?.report?.bytes).toBe(estimate);
    await reclaimable.getByText('1 manifest', { exact: false }).waitFor();
    // A dry run removes nothing.
    expect(await v2(`${DOOMED}/manifests/${gone.digest}`)).toBe(200);

    const storage = page.getByRole('region', { name: 'Storage', exact: true });
    const storedBefore = await bytesIn(storage);
    await gc.getByRole('button', { name: 'Collect garbage' }).click();
    const dialog = page.getByRole('dialog', { name: 'Collect garbage?' });
    await dialog.getByText('A dry run just now found', { exact: false }).waitFor();
    expect(await bytesIn(dialog)).toBe(estimate);
    await dialog.getByText('Manifests that go (1)').click();
    const shortGone = gone.digest.slice(0, 'sha256:'.length + 12);
    await dialog.getByRole('link', { name: `${DOOMED}@${shortGone}` }).waitFor();
    await screenshot(page, 'lifecycle-gc-confirm');
    await dialog.getByRole('button', { name: 'Collect garbage' }).click();
    const collected = gc.getByRole('status').filter({ hasText: 'Garbage collected' });
    await collected.waitFor();
    expect(await bytesIn(collected)).toBe(estimate);
    await expect.poll(() => dialog.count()).toBe(0);
    // The Storage panel follows: what is stored went down by exactly what was freed.
    await expect.poll(() => bytesIn(storage)).toBe(storedBefore - estimate);

    expect(await v2(`${DOOMED}/manifests/${gone.digest}`)).toBe(404);
    expect(await v2(`${DOOMED}/blobs/${layer.digest}`)).toBe(404);
    const stays = must(kept, 'the kept image');
    expect(await v2(`${APP}/manifests/v1`)).toBe(200);
    for (const d of [...stays.parsed.layers, stays.parsed.config]) {
      expect(await v2(`${APP}/blobs/${d.digest}`)).toBe(200);
    }

    // The run heads the list: a collection from the UI, done, with what it freed.
    const { runs } = await api<{ runs: GcRunView[] }>('GET', '/gc');
    expect(runs[0]).toMatchObject({ dryRun: false, status: 'done', trigger: 'api' });
    expect(runs[0]?.report?.bytes).toBe(estimate);
    const table = gc.getByRole('table', { name: 'Garbage collection runs' });
    const first = table.getByRole('row').nth(1);
    await expect.poll(() => first.textContent()).toMatch(/collection\s*from the UI or API.*done/);
    expect(await bytesIn(first)).toBe(estimate);
    await table.getByRole('row').filter({ hasText: 'dry run' }).first().waitFor();
    await screenshot(page, 'lifecycle-gc-done');
  });

  test('on a phone in dark mode, the namespace and system pages do not scroll sideways', async () => {
    const opened = await openPage(must(browser, 'the browser'), {
      width: 390,
      height: 844,
      colorScheme: 'dark',
    });
    watched.push(opened);
    const { page } = opened;
    await signIn(page, 'admin', ADMIN_PASSWORD);
    const width = (): Promise<unknown> => page.evaluate('document.documentElement.scrollWidth');
    await page.goto(`${url}/namespaces/${NAMESPACE}`);
    await page.getByRole('button', { name: 'Preview retention' }).click();
    await page.getByRole('status').getByText('Retention would remove').waitFor();
    expect(await width()).toBeLessThanOrEqual(390);
    await screenshot(page, 'lifecycle-namespace-phone-dark');
    await page.goto(`${url}/system`);
    await page.getByRole('table', { name: 'Garbage collection runs' }).waitFor();
    expect(await width()).toBeLessThanOrEqual(390);
    await screenshot(page, 'lifecycle-system-phone-dark');
  });

  test('no page had a script error or a CSP violation', () => {
    for (const { problems } of watched) expect(problems).toEqual([]);
  });
});
