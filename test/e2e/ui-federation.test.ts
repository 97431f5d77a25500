/**
 * Proxy and group namespaces in the web UI, in real Chromium against the built server with
 * authentication on, and a real upstream registry (CNCF Distribution 2.8). An administrator
 * creates a proxy of the upstream and a group (members picked and ordered in the form) and sees
 * them in the namespace list with their kind and what they pull from, exactly as the API stored
 * them; a registry's refusal is shown in its words. After a pull through Berth's /v2 the proxy's
 * page shows the cached repository and the upstream's last success; with the upstream stopped,
 * a pull of what is not cached fails and the page and the list warn about the upstream. On their
 * pages the administrator changes the proxy's TTL and credentials and the group's members.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  startDistribution,
  stopAllDistributions,
  type Distribution,
} from '../helpers/distribution.js';
import { OCI_MANIFEST, pushImage, sha256, type PushedImage } from '../helpers/oci.js';
import {
  ADMIN_PASSWORD,
  CLI,
  ROOT,
  startServerProcess,
  type ServerProcess,
} from '../helpers/server.js';
import { launchChromium, openPage, screenshot, type WatchedPage } from './browser.js';

const HOSTED = 'team-fed';
const PROXY = 'hub-fed';
const GROUP = 'all-fed';
/** The repository pushed to the upstream, pulled as `hub-fed/team/app`. */
const UPSTREAM_REPO = 'team/app';
/** How long a poll waits for the page or the cache to come round: long, for a busy machine. */
const UNTIL = { timeout: 30_000 };
const ADMIN_AUTHORIZATION = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

let server: ServerProcess | undefined;
let upstream: Distribution | undefined;
let browser: Browser | undefined;
let image: PushedImage | undefined;
let work = '';
let url = '';
let admin: WatchedPage | undefined;
const watched: WatchedPage[] = [];

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not ready`);
  return value;
}

function adminPage(): Page {
  return must(admin, 'the admin page').page;
}

interface NamespaceView {
  kind: string;
  repositories: number;
  usedBytes: number;
  proxy: {
    url: string;
    username: string | null;
    ttl: string;
    health: {
      lastSuccessAt: string | null;
      lastFailureAt: string | null;
      lastFailure: string | null;
    };
  } | null;
  group: { members: string[]; pushTo: string | null } | null;
}

/** The admin API as the administrator, outside the browser: the status and the body. */
async function api(
  method: string,
  at: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/api/v1${at}`, {
    method,
    headers: {
      authorization: ADMIN_AUTHORIZATION,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, text: await res.text() };
}

async function namespace(name: string): Promise<NamespaceView> {
  const { status, text } = await api('GET', `/namespaces/${name}`);
  expect(status, `GET /namespaces/${name}`).toBe(200);
  return JSON.parse(text) as NamespaceView;
}

/** A pull of one manifest or blob through Berth's /v2, read to its end: the status and digest. */
async function pull(at: string): Promise<{ status: number; digest: string | null }> {
  const res = await fetch(`${url}/v2/${at}`, {
    headers: { accept: OCI_MANIFEST, authorization: ADMIN_AUTHORIZATION },
  });
  await res.arrayBuffer();
  return { status: res.status, digest: res.headers.get('docker-content-digest') };
}

/** The row of the namespace list that names `name`. */
function row(page: Page, name: string): Locator {
  return page
    .getByRole('table', { name: 'Namespaces' })
    .getByRole('row')
    .filter({ has: page.getByRole('link', { name, exact: true }) });
}

/** The value beside a term in a definition list of `scope`. */
function fact(scope: Locator, term: string): Locator {
  return scope.locator(`dt:text-is("${term}") + dd`);
}

beforeAll(async () => {
  for (const built of [CLI, path.join(ROOT, 'web', 'dist', 'index.html')]) {
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
  }
  work = path.join(tmpdir(), `berth-e2e-ui-fed-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  upstream = await startDistribution({ label: 'berth-e2e-ui-fed-upstream' });
  image = await pushImage(upstream.url, UPSTREAM_REPO, 'v1', { layers: 2 });
  server = await startServerProcess({ dataDir: path.join(work, 'data'), auth: true });
  url = server.url;
  expect((await api('POST', '/namespaces', { name: HOSTED })).status).toBe(201);

  browser = await launchChromium();
  admin = await openPage(browser);
  watched.push(admin);
  await signIn(admin.page);
});

async function signIn(
  page: Page,
  user: { name: string; password: string } = { name: 'admin', password: ADMIN_PASSWORD },
): Promise<void> {
  await page.goto(`${url}/login`);
  await page.getByLabel('Username').fill(user.name);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await stopAllDistributions();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('creating proxy and group namespaces', () => {
  test('a proxy of the upstream: its kind, upstream and TTL in the list, as the API stored it', async () => {
    const page = adminPage();
    const upstreamUrl = must(upstream, 'the upstream').url;
    await page.goto(`${url}/namespaces`);
    const create = page.getByRole('region', { name: 'Create a namespace' });
    await create.getByLabel('Name', { exact: true }).fill(PROXY);
    await create.getByRole('radio', { name: /^Proxy/ }).check();
    await create.getByText('Pushes into a proxy namespace are refused').waitFor();

    // What the registry refuses is shown in its words, and nothing is created.
    await create.getByLabel('Upstream URL').fill('ftp://127.0.0.1/');
    await create.getByRole('button', { name: 'Create namespace' }).click();
    await create
      .getByRole('alert')
      .getByText(/must be http:\/\/ or https:\/\//)
      .waitFor();
    expect((await api('GET', `/namespaces/${PROXY}`)).status).toBe(404);

    await create.getByLabel('Upstream URL').fill(upstreamUrl);
    await create.getByLabel('Cache TTL').fill('2h');
    await create.getByRole('button', { name: 'Create namespace' }).click();
    await create.getByRole('status').getByText(`Namespace ${PROXY} created.`).waitFor();

    const listed = row(page, PROXY);
    await listed.getByText('proxy', { exact: true }).waitFor();
    await listed.getByText(`${upstreamUrl} · TTL 2h · anonymous`).waitFor();
    expect(await namespace(PROXY)).toMatchObject({
      kind: 'proxy',
      proxy: { url: upstreamUrl, username: null, ttl: '2h' },
      group: null,
    });
    // The hosted namespace says what it is too, and pulls from nothing.
    await row(page, HOSTED).getByText('hosted', { exact: true }).waitFor();
  });

  test('a group: members picked and ordered, hosted members offered for pushes', async () => {
    const page = adminPage();
    await page.goto(`${url}/namespaces`);
    const create = page.getByRole('region', { name: 'Create a namespace' });
    await create.getByLabel('Name', { exact: true }).fill(GROUP);
    await create.getByRole('radio', { name: /^Group/ }).check();

    // Without members the form says so itself.
    await create.getByRole('button', { name: 'Create namespace' }).click();
    await create.getByRole('alert').getByText('Add at least one member namespace.').waitFor();

    const add = create.getByLabel('Member to add');
    await add.selectOption(PROXY);
    await create.getByRole('button', { name: 'Add member' }).click();
    await add.selectOption(HOSTED);
    await create.getByRole('button', { name: 'Add member' }).click();
    const members = create.getByRole('list', { name: 'Members in pull order' });
    await expect
      .poll(() => members.getByRole('listitem').allTextContents(), UNTIL)
      .toEqual([expect.stringContaining(PROXY), expect.stringContaining(HOSTED)]);
    await create.getByRole('button', { name: `Move ${HOSTED} up` }).click();
    await expect
      .poll(() => members.getByRole('listitem').allTextContents(), UNTIL)
      .toEqual([expect.stringContaining(HOSTED), expect.stringContaining(PROXY)]);
    // Only the hosted member can take pushes; the proxy is not offered.
    const pushTo = create.getByLabel('Push member');
    await expect
      .poll(() => pushTo.locator('option').allTextContents(), UNTIL)
      .toEqual(['None: pushes are refused', HOSTED]);
    await pushTo.selectOption(HOSTED);
    await screenshot(page, 'federation-create-group');
    await create.getByRole('button', { name: 'Create namespace' }).click();
    await create.getByRole('status').getByText(`Namespace ${GROUP} created.`).waitFor();

    const listed = row(page, GROUP);
    await listed.getByText('group', { exact: true }).waitFor();
    await listed.getByText(`members ${HOSTED}, ${PROXY} · pushes to ${HOSTED}`).waitFor();
    expect(await namespace(GROUP)).toMatchObject({
      kind: 'group',
      proxy: null,
      group: { members: [HOSTED, PROXY], pushTo: HOSTED },
    });
    await screenshot(page, 'federation-namespaces');
  });
});

describe('the proxy namespace page', () => {
  test('after a pull it shows what is cached and the last success; with the upstream down, the failure', async () => {
    const page = adminPage();
    const pushed = must(image, 'the upstream image');
    const repo = `${PROXY}/${UPSTREAM_REPO}`;
    expect(await pull(`${repo}/manifests/v1`)).toEqual({ status: 200, digest: pushed.digest });
    for (const layer of pushed.layers) {
      expect((await pull(`${repo}/blobs/${sha256(layer)}`)).status).toBe(200);
    }
    // The group answers from its members in order: the hosted one has nothing, the proxy has it.
    expect(await pull(`${GROUP}/${UPSTREAM_REPO}/manifests/v1`)).toEqual({
      status: 200,
      digest: pushed.digest,
    });

    // A blob is recorded in the cache when its fill ends, which may be just after the client
    // has read the last byte: wait until both layers count.
    const layerBytes = pushed.layers.reduce((sum, layer) => sum + layer.length, 0);
    await expect
      .poll(async () => (await namespace(PROXY)).usedBytes, UNTIL)
      .toBeGreaterThanOrEqual(layerBytes);

    await page.goto(`${url}/namespaces/${PROXY}`);
    const proxy = page.getByRole('region', { name: 'Proxy', exact: true });
    await proxy.getByText('Pushes into this namespace are refused.', { exact: false }).waitFor();
    expect(await fact(proxy, 'Upstream').textContent()).toBe(must(upstream, 'upstream').url);
    expect(await fact(proxy, 'Credentials').textContent()).toBe('anonymous');
    expect(await fact(proxy, 'Cache TTL').textContent()).toMatch(/^2h/);
    const cached = fact(proxy, 'Cached');
    await cached.getByRole('link', { name: '1 repository' }).waitFor();
    const stored = await namespace(PROXY);
    expect(stored.repositories).toBe(1);
    expect(Number(await cached.locator('data').getAttribute('value'))).toBe(stored.usedBytes);

    const health = page.getByRole('region', { name: 'Upstream health' });
    const success = must(stored.proxy?.health.lastSuccessAt ?? undefined, 'the last success');
    expect(await fact(health, 'Last success').locator('time').getAttribute('datetime')).toBe(
      success,
    );
    expect(await health.locator('.warning').count()).toBe(0);
    await screenshot(page, 'federation-proxy');

    // The upstream goes away: what is cached is still served, anything else fails.
    await must(upstream, 'the upstream').stop();
    expect((await pull(`${repo}/manifests/v2`)).status).toBe(404);
    expect(await pull(`${repo}/manifests/v1`)).toEqual({ status: 200, digest: pushed.digest });
    const failed = must((await namespace(PROXY)).proxy ?? undefined, 'the proxy').health;
    const message = must(failed.lastFailure ?? undefined, 'the last failure');

    await page.reload();
    const warning = health.getByRole('status');
    await warning.getByText('The upstream failed at its last request', { exact: false }).waitFor();
    expect(await warning.textContent()).toContain(message);
    expect(await fact(health, 'Last failure').textContent()).toContain(message);
    expect(await fact(health, 'Last failure').locator('time').getAttribute('datetime')).toBe(
      failed.lastFailureAt,
    );
    await screenshot(page, 'federation-proxy-upstream-down');

    await page.goto(`${url}/namespaces`);
    await row(page, PROXY).getByText('upstream failing').waitFor();
    expect(await row(page, HOSTED).getByText('upstream failing').count()).toBe(0);
  });
});

describe('changing the settings', () => {
  test("a proxy's TTL and credentials, saved with PATCH; the password is never shown", async () => {
    const page = adminPage();
    await page.goto(`${url}/namespaces/${PROXY}`);
    const settings = page.getByRole('region', { name: 'Proxy settings' });
    expect(await settings.getByLabel('Cache TTL').inputValue()).toBe('2h');
    await settings.getByLabel('Cache TTL').fill('30m');
    await settings.getByLabel('Upstream username').fill('puller');
    // A new username without its password is a slip the page catches.
    await settings.getByRole('button', { name: 'Save proxy settings' }).click();
    await settings
      .getByRole('alert')
      .getByText('Enter the password of puller at the upstream.')
      .waitFor();
    expect((await namespace(PROXY)).proxy).toMatchObject({ ttl: '2h', username: null });

    const password = `pw-${randomBytes(6).toString('hex')}`;
    await settings.getByLabel('Upstream password').fill(password);
    await settings.getByRole('button', { name: 'Save proxy settings' }).click();
    await settings.getByRole('status').getByText('Proxy settings saved.').waitFor();
    expect((await namespace(PROXY)).proxy).toMatchObject({ ttl: '30m', username: 'puller' });
    expect((await api('GET', `/namespaces/${PROXY}`)).text).not.toContain(password);
    // The form starts again from what was saved, the password field empty.
    expect(await settings.getByLabel('Upstream password').inputValue()).toBe('');
    const proxy = page.getByRole('region', { name: 'Proxy', exact: true });
    await expect.poll(() => fact(proxy, 'Credentials').textContent(), UNTIL).toBe('puller');
    expect(await page.content()).not.toContain(password);

    // An emptied username pulls anonymously again.
    await settings.getByLabel('Upstream username').fill('');
    await settings.getByRole('button', { name: 'Save proxy settings' }).click();
    await settings.getByRole('status').getByText('Proxy settings saved.').waitFor();
    expect((await namespace(PROXY)).proxy).toMatchObject({ ttl: '30m', username: null });
    await expect.poll(() => fact(proxy, 'Credentials').textContent(), UNTIL).toBe('anonymous');
  });

  test("a group's member order and push member", async () => {
    const page = adminPage();
    await page.goto(`${url}/namespaces/${GROUP}`);
    const group = page.getByRole('region', { name: 'Group', exact: true });
    const shown = group.getByRole('list', { name: 'Members in pull order' }).getByRole('listitem');
    await expect
      .poll(() => shown.allTextContents(), UNTIL)
      .toEqual([`1. ${HOSTED}`, `2. ${PROXY}`]);
    expect(await fact(group, 'Push member').textContent()).toBe(HOSTED);

    const settings = page.getByRole('region', { name: 'Group settings' });
    await settings.getByRole('button', { name: `Move ${PROXY} up` }).click();
    await settings.getByLabel('Push member').selectOption('');
    await settings.getByRole('button', { name: 'Save group settings' }).click();
    await settings.getByRole('status').getByText('Group settings saved.').waitFor();
    expect((await namespace(GROUP)).group).toEqual({ members: [PROXY, HOSTED], pushTo: null });
    await expect
      .poll(() => shown.allTextContents(), UNTIL)
      .toEqual([`1. ${PROXY}`, `2. ${HOSTED}`]);
    expect(await fact(group, 'Push member').textContent()).toBe('none: pushes are refused');
    await screenshot(page, 'federation-group');
  });

  test('a namespace administrator who is not the registry administrator cannot aim a proxy', async () => {
    const lead = { name: 'lead-fed', password: `lead-${randomBytes(6).toString('hex')}` };
    const created = await api('POST', '/users', {
      name: lead.name,
      password: lead.password,
      roles: [
        { role: 'viewer', namespace: null },
        { role: 'admin', namespace: HOSTED },
        { role: 'admin', namespace: PROXY },
      ],
    });
    expect(created.status, created.text).toBe(201);
    const opened = await openPage(must(browser, 'the browser'));
    watched.push(opened);
    const { page } = opened;
    await signIn(page, lead);

    await page.goto(`${url}/namespaces`);
    const create = page.getByRole('region', { name: 'Create a namespace' });
    await create.getByRole('radio', { name: /^Group/ }).check();
    expect(await create.getByRole('radio').count()).toBe(2);
    expect(await create.getByRole('radio', { name: /^Proxy/ }).count()).toBe(0);
    // Members only among the namespaces the lead administers: not library, which it only reads.
    await row(page, 'library').waitFor();
    expect(await create.getByLabel('Member to add').locator('option').allTextContents()).toEqual([
      PROXY,
      HOSTED,
    ]);

    await page.goto(`${url}/namespaces/${PROXY}`);
    await page
      .getByText('Only the registry administrator can change the upstream', { exact: false })
      .waitFor();
    await page.getByRole('region', { name: 'Upstream health' }).waitFor();
    expect(await page.getByRole('region', { name: 'Proxy settings' }).count()).toBe(0);
    // The rules of its cache are the lead's to set, as in any namespace it administers.
    await page.getByRole('button', { name: 'Save rules' }).waitFor();
  });

  test('on a phone in dark mode, the proxy, group and list pages do not scroll sideways', async () => {
    const opened = await openPage(must(browser, 'the browser'), {
      width: 390,
      height: 844,
      colorScheme: 'dark',
    });
    watched.push(opened);
    const { page } = opened;
    await signIn(page);
    const width = (): Promise<unknown> => page.evaluate('document.documentElement.scrollWidth');
    await page.goto(`${url}/namespaces/${PROXY}`);
    await page.getByRole('region', { name: 'Upstream health' }).getByRole('status').waitFor();
    expect(await width()).toBeLessThanOrEqual(390);
    await screenshot(page, 'federation-proxy-phone-dark');
    await page.goto(`${url}/namespaces/${GROUP}`);
    await page.getByRole('button', { name: 'Save group settings' }).waitFor();
    expect(await width()).toBeLessThanOrEqual(390);
    await page.goto(`${url}/namespaces`);
    await page.getByRole('radio', { name: /^Group/ }).check();
    await page.getByRole('button', { name: 'Add member' }).click();
    await page.getByRole('radio', { name: /^Proxy/ }).check();
    await page.getByLabel('Upstream URL').waitFor();
    await row(page, PROXY).waitFor();
    expect(await width()).toBeLessThanOrEqual(390);
    await screenshot(page, 'federation-namespaces-phone-dark');
  });

  test('no page had a script error or a CSP violation', () => {
    for (const { problems } of watched) expect(problems).toEqual([]);
  });
});
