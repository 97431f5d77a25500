/**
 * The web UI in real Chromium against the built server (dist/ and web/dist/) with authentication
 * on. Images are built offline with umoci and pushed with skopeo; then, as people would: sign in,
 * find the image, read its layers, platforms and digest, copy its pull command, delete an old tag
 * (and see /v2 answer 404 for it), create a user and an access token that skopeo then pushes
 * with, and check that a viewer gets no delete control and the API refuses them anyway. An
 * administrator edits a custom role; a user changes their own password on "My account". A label
 * carrying markup must show as text and never run. A 200-character repository name and a long tag
 * are cut with an ellipsis and never push a column out of view; the token dialog never puts the
 * secret into a command; old /admin/ addresses land on the new ones. Every page is saved as a
 * screenshot under test-artifacts/ui/.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
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
  OCI_INDEX,
  OCI_MANIFEST,
  addIndex,
  buildImage,
  initLayout,
  runOk,
  sha256,
  type ImageManifest,
} from './images.js';

const WEB_DIST = path.join(ROOT, 'web', 'dist');
const REPO = 'library/webapp';
/** Names as long as the grammar allows in practice, with no place a browser may break a line. */
const LONG_REPO = `library/${'service_component_'.repeat(11)}x`;
const LONG_TAG = `v1.0.0_${'build_'.repeat(18)}final`;
const LONG_NAMESPACE = `team_${'platform_services_'.repeat(6)}z`;
/** Untrusted text that would run if any of it were ever rendered as markup. */
const HOSTILE_LABEL = '<img src=x onerror="window.__xss=1">';
const HOSTILE_ANNOTATION = '<script>window.__xss=2</script><b>bold?</b>';
const DEVELOPER = { name: 'dev-ui', password: `dev-${randomBytes(6).toString('hex')}` };
const VIEWER = { name: 'viewer-ui', password: `view-${randomBytes(6).toString('hex')}` };
const CUSTOM_ROLE = 'ci-ui';
const ADMIN_AUTHORIZATION = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

let server: ServerProcess | undefined;
let browser: Browser | undefined;
let work = '';
let url = '';
let host = '';
let layout = '';
let clientEnv: NodeJS.ProcessEnv = {};
let admin: WatchedPage | undefined;
const watched: WatchedPage[] = [];

/** What the registry stores, read back over /v2 (the UI must show exactly these). */
let imageDigest = '';
let image: ImageManifest | undefined;
let indexDigest = '';

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not ready`);
  return value;
}

function adminPage(): Page {
  return must(admin, 'the admin page').page;
}

async function v2Manifest(reference: string): Promise<Response> {
  return fetch(`${url}/v2/${REPO}/manifests/${reference}`, {
    headers: { accept: [OCI_MANIFEST, OCI_INDEX].join(', '), authorization: ADMIN_AUTHORIZATION },
  });
}

function skopeoPush(
  source: string,
  tag: string,
  credentials: string,
  repository = REPO,
): Promise<unknown> {
  return runOk(
    'skopeo',
    [
      'copy',
      '--all',
      '--dest-tls-verify=false',
      '--dest-creds',
      credentials,
      `oci:${layout}:${source}`,
      `docker://${host}/${repository}:${tag}`,
    ],
    clientEnv,
  );
}

async function signIn(page: Page, user: string, password: string): Promise<void> {
  if (!new URL(page.url()).pathname.startsWith('/login')) await page.goto(`${url}/login`);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/** A new browser context (own cookie jar) signed in as `user`. */
async function signedInPage(
  user: string,
  password: string,
  options: Parameters<typeof openPage>[1] = {},
): Promise<WatchedPage> {
  const opened = await openPage(must(browser, 'the browser'), options);
  watched.push(opened);
  await opened.page.goto(`${url}/login`);
  await signIn(opened.page, user, password);
  return opened;
}

/** POST /api/v1/session outside the browser: the status says whether the password is right. */
async function apiSignIn(username: string, password: string): Promise<number> {
  const res = await fetch(`${url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  return res.status;
}

/** The table row of a tag on the repository page. */
function tagRow(page: Page, tag: string) {
  return page
    .getByRole('row')
    .filter({ has: page.getByRole('rowheader', { name: tag, exact: true }) });
}

/** The UI's TypeScript sources under `dir`, without tests (which may quote what they forbid). */
async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await sourceFiles(file)));
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.test.ts')) files.push(file);
  }
  return files;
}

beforeAll(async () => {
  for (const built of [CLI, path.join(WEB_DIST, 'index.html')]) {
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
  }
  work = path.join(tmpdir(), `berth-e2e-ui-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  server = await startServerProcess({ dataDir: path.join(work, 'data'), auth: true });
  url = server.url;
  host = server.host;
  ({ env: clientEnv } = await clientSandbox(work, { isolateCredentials: true }));

  // An amd64 image with a hostile label and annotation, an arm64 one, and an index over both.
  layout = path.join(work, 'layout');
  await initLayout(layout);
  await buildImage(layout, {
    tag: 'app',
    platform: { architecture: 'amd64', os: 'linux' },
    layers: [
      ['/etc/hello.txt', 'hello from the UI test\n'],
      ['/srv/app.txt', randomBytes(4096)],
    ],
  });
  await runOk('umoci', [
    'config',
    '--image',
    `${layout}:app`,
    '--config.label',
    `org.opencontainers.image.title=${HOSTILE_LABEL}`,
    '--config.label',
    'org.opencontainers.image.vendor=Berth UI test',
    '--config.env',
    'APP_MODE=production',
    '--config.entrypoint',
    '/bin/app',
    '--manifest.annotation',
    `org.example.note=${HOSTILE_ANNOTATION}`,
  ]);
  await buildImage(layout, {
    tag: 'arm',
    platform: { architecture: 'arm64', os: 'linux' },
    layers: [['/etc/arch.txt', 'arm64\n']],
  });
  await addIndex(layout, 'multi', [
    { tag: 'app', platform: { architecture: 'amd64', os: 'linux' } },
    { tag: 'arm', platform: { architecture: 'arm64', os: 'linux' } },
  ]);

  const adminCredentials = `admin:${ADMIN_PASSWORD}`;
  await skopeoPush('app', 'old', adminCredentials);
  await skopeoPush('app', '1.0', adminCredentials);
  await skopeoPush('multi', 'multi', adminCredentials);
  await skopeoPush('arm', LONG_TAG, adminCredentials, LONG_REPO);

  const res = await v2Manifest('1.0');
  expect(res.status).toBe(200);
  const raw = new Uint8Array(await res.arrayBuffer());
  imageDigest = sha256(raw);
  image = JSON.parse(Buffer.from(raw).toString()) as ImageManifest;
  const index = await v2Manifest('multi');
  indexDigest = sha256(new Uint8Array(await index.arrayBuffer()));

  browser = await launchChromium();
  admin = await openPage(browser);
  watched.push(admin);
  await admin.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('what the server sends the browser', () => {
  test('index.html has no inline script or style, and the bundle is within budget', async () => {
    const html = await readFile(path.join(WEB_DIST, 'index.html'), 'utf8');
    for (const tag of html.match(/<script\b[^>]*>/g) ?? []) expect(tag).toMatch(/\ssrc="/);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);

    const assets = await readdir(path.join(WEB_DIST, 'assets'));
    const scripts = assets.filter((name) => name.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(0);
    let gzipped = 0;
    for (const name of scripts) {
      expect(name).toMatch(/-[\w-]{8,}\.js$/); // content-hashed, so long-cacheable
      gzipped += gzipSync(await readFile(path.join(WEB_DIST, 'assets', name))).length;
    }
    expect(gzipped).toBeLessThan(300 * 1024);
  });

  test('the UI source never turns data into markup or code', async () => {
    const files = await sourceFiles(path.join(ROOT, 'web', 'src'));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      expect(text, file).not.toMatch(
        /dangerouslySetInnerHTML|innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(/,
      );
    }
  });
});

describe('browsing as the administrator', () => {
  test('an address asked for before signing in is reached after it', async () => {
    const page = adminPage();
    await page.goto(`${url}/repositories`);
    await page.waitForURL(/\/login\?next=%2Frepositories$/);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await screenshot(page, 'login');

    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('alert')
      .getByText(/invalid username or password/i)
      .waitFor();

    await signIn(page, 'admin', ADMIN_PASSWORD);
    expect(new URL(page.url()).pathname).toBe('/repositories');
  });

  test('the pushed image is on the dashboard', async () => {
    const page = adminPage();
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Dashboard' })
      .click();
    const recent = page.getByRole('region', { name: 'Recent pushes' });
    await recent.getByRole('link', { name: REPO }).first().waitFor();
    await expect
      .poll(() => recent.getByRole('link', { name: 'multi', exact: true }).count())
      .toBe(1);
    await page
      .getByRole('list', { name: 'Storage used by namespace' })
      .getByText('library')
      .waitFor();
    await screenshot(page, 'dashboard');
  });

  test('a 200-character name is cut with an ellipsis, whole in its title, and pushes no column out of view', async () => {
    expect(LONG_REPO.length).toBeGreaterThanOrEqual(195);
    const page = adminPage();
    const fits = async (where: string): Promise<void> => {
      // Widths as the page laid them out: every table fits its box, the page fits the window.
      const tables = await page.evaluate<{ box: number; content: number }[]>(
        `[...document.querySelectorAll('.table-wrap')].map(
          (w) => ({ box: w.clientWidth, content: w.scrollWidth }))`,
      );
      expect(tables.length, where).toBeGreaterThan(0);
      for (const t of tables) expect(t.content, where).toBeLessThanOrEqual(t.box);
      expect(
        await page.evaluate('document.documentElement.scrollWidth'),
        where,
      ).toBeLessThanOrEqual(1280);
    };
    /**
     * The link named `name` inside `scope` (a CSS selector) shows it cut with an ellipsis (its
     * text overflows its box) and carries it whole in its title; its accessible name is whole.
     */
    const cut = async (name: string, scope: string): Promise<void> => {
      await page.locator(scope).getByRole('link', { name, exact: true }).first().waitFor();
      const shown = await page.evaluate<{ title: string; box: number; text: number; cut: string }>(
        `(() => {
          const link = [...document.querySelectorAll(${JSON.stringify(`${scope} a`)})]
            .find((a) => a.textContent === ${JSON.stringify(name)});
          return { title: link.title, box: link.clientWidth, text: link.scrollWidth,
            cut: getComputedStyle(link).textOverflow };
        })()`,
      );
      expect(shown.title).toBe(name);
      expect(shown.text, name).toBeGreaterThan(shown.box);
      expect(shown.cut).toBe('ellipsis');
    };

    await page.goto(`${url}/repositories`);
    await cut(LONG_REPO, 'table[aria-label="Repositories"]');
    await page.getByRole('columnheader', { name: 'Last push' }).waitFor();
    await fits('repositories');
    await screenshot(page, 'long-name-repositories');

    await page.goto(`${url}/repositories?namespace=library`);
    await cut(LONG_REPO, 'table[aria-label="Repositories"]');
    await fits('the namespace library');

    await page.goto(`${url}/`);
    await cut(LONG_REPO, 'table[aria-label="Recent pushes"]');
    await cut(LONG_TAG, 'table[aria-label="Recent pushes"]');
    await fits('dashboard');
    await screenshot(page, 'long-name-dashboard');

    await page.goto(`${url}/repositories/${LONG_REPO}`);
    await page.getByRole('heading', { level: 1, name: LONG_REPO }).waitFor();
    await cut(LONG_TAG, 'table[aria-label="Tags"]');
    await fits('the repository page');
    await screenshot(page, 'long-name-repository');

    await page.goto(`${url}/repositories/${LONG_REPO}/-/manifests/${LONG_TAG}`);
    await page.getByRole('region', { name: 'Layers', exact: true }).waitFor();
    await cut(LONG_REPO, '.page-header');
    await fits('the manifest page');

    // A long namespace: in the namespaces table, and in a role binding on the users page.
    const api = (method: string, at: string, body: unknown): Promise<Response> =>
      fetch(`${url}/api/v1${at}`, {
        method,
        headers: { authorization: ADMIN_AUTHORIZATION, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await api('POST', '/namespaces', { name: LONG_NAMESPACE })).status).toBe(201);
    const bound = await api('POST', '/users/admin/roles', {
      role: 'viewer',
      namespace: LONG_NAMESPACE,
    });
    expect(bound.status).toBeLessThan(300);
    await page.goto(`${url}/namespaces`);
    await cut(LONG_NAMESPACE, 'table[aria-label="Namespaces"]');
    await fits('namespaces');
    await page.goto(`${url}/users`);
    const binding = `viewer in ${LONG_NAMESPACE}`;
    await page.getByText(binding, { exact: true }).waitFor();
    expect(await page.getByText(binding, { exact: true }).getAttribute('title')).toBe(binding);
    await page.getByRole('button', { name: `Remove ${binding} from admin` }).waitFor();
    await fits('users');
    await screenshot(page, 'long-name-users');
  });

  test('repository search finds it', async () => {
    const page = adminPage();
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Repositories' })
      .click();
    await page.getByLabel('Search repositories').fill('webap');
    await page.waitForURL(/[?&]q=webap/);
    await page.getByRole('link', { name: REPO }).waitFor();
    await screenshot(page, 'repositories');

    await page.getByLabel('Search repositories').fill('no-such-thing');
    await page.getByText('No repository matches.').waitFor();
    await page.getByLabel('Search repositories').fill('webapp');
    await page.getByRole('link', { name: REPO }).click();
    await page.getByRole('heading', { level: 1, name: REPO }).waitFor();
  });

  test('the tags list digests and the platforms of the multi-arch index', async () => {
    const page = adminPage();
    const shortImage = imageDigest.slice(0, 'sha256:'.length + 12);
    await expect.poll(() => tagRow(page, '1.0').textContent()).toContain(shortImage);
    const multi = await tagRow(page, 'multi').textContent();
    expect(multi).toContain(indexDigest.slice(0, 'sha256:'.length + 12));
    expect(multi).toContain('linux/amd64');
    expect(multi).toContain('linux/arm64');
    await screenshot(page, 'repository');

    await page.getByRole('button', { name: 'Copy docker pull command for 1.0' }).click();
    await expect
      .poll(() => page.evaluate('navigator.clipboard.readText()'))
      .toBe(`docker pull ${host}/${REPO}:1.0`);
  });

  test('the manifest page shows digest, layers and config, and hostile text stays text', async () => {
    const page = adminPage();
    await tagRow(page, '1.0').getByRole('link', { name: '1.0', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: `${REPO}:1.0` }).waitFor();
    await page.getByText(imageDigest, { exact: true }).waitFor();

    const layers = page.getByRole('region', { name: 'Layers', exact: true }).getByRole('row');
    const manifest = must(image, 'the image manifest');
    await expect.poll(() => layers.count()).toBe(manifest.layers.length + 2); // + head and foot
    for (const layer of manifest.layers) {
      await page.getByText(layer.digest.slice(0, 'sha256:'.length + 12), { exact: true }).waitFor();
    }
    await page.getByText('linux/amd64', { exact: true }).waitFor();
    await page.getByText('APP_MODE=production', { exact: true }).waitFor();

    await page.getByText(HOSTILE_LABEL, { exact: true }).waitFor();
    await page.getByText(HOSTILE_ANNOTATION, { exact: true }).waitFor();
    expect(await page.locator('img, main script, b').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    await screenshot(page, 'manifest');

    // A deep link survives a reload (the server answers it with the app).
    await page.reload();
    await page.getByRole('heading', { level: 1, name: `${REPO}:1.0` }).waitFor();
    expect(await page.evaluate('window.__xss')).toBeUndefined();
  });

  test('the index page lists its platforms', async () => {
    const page = adminPage();
    await page.goto(`${url}/repositories/${REPO}/-/manifests/multi`);
    const platforms = page.getByRole('region', { name: 'Platforms', exact: true });
    await platforms.getByRole('rowheader', { name: 'linux/amd64' }).waitFor();
    await platforms.getByRole('rowheader', { name: 'linux/arm64' }).waitFor();
    await platforms
      .getByRole('link', { name: imageDigest.slice(0, 'sha256:'.length + 12) })
      .waitFor();
    await screenshot(page, 'manifest-index');
  });

  test('a tag deleted in the UI is gone from /v2, its manifest stays', async () => {
    const page = adminPage();
    await page.goto(`${url}/repositories/${REPO}`);
    await page.getByRole('button', { name: 'Delete tag old' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete tag old?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('status').getByText('Tag old deleted.').waitFor();
    await expect.poll(() => tagRow(page, 'old').count()).toBe(0);

    expect((await v2Manifest('old')).status).toBe(404);
    expect((await v2Manifest('1.0')).status).toBe(200);
  });

  test('a repository deleted in the UI (its name typed to confirm) is gone from /v2 and the catalog', async () => {
    const doomed = 'library/ui-doomed';
    await skopeoPush('arm', 'v1', `admin:${ADMIN_PASSWORD}`, doomed);
    const page = adminPage();
    await page.goto(`${url}/repositories/${doomed}`);
    await page.getByRole('button', { name: `Delete repository ${doomed}` }).click();
    const dialog = page.getByRole('dialog', { name: `Delete repository ${doomed}?` });
    await dialog.waitFor();
    const confirm = dialog.getByRole('button', { name: 'Delete repository', exact: true });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Type the repository name to confirm').fill('library/ui-doome');
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Type the repository name to confirm').fill(doomed);
    await screenshot(page, 'repository-delete');
    await confirm.click();
    await expect.poll(() => new URL(page.url()).pathname).toBe('/repositories');

    const manifest = await fetch(`${url}/v2/${doomed}/manifests/v1`, {
      headers: { accept: OCI_MANIFEST, authorization: ADMIN_AUTHORIZATION },
    });
    expect(manifest.status).toBe(404);
    const catalog = await fetch(`${url}/v2/_catalog`, {
      headers: { authorization: ADMIN_AUTHORIZATION },
    });
    const { repositories } = (await catalog.json()) as { repositories: string[] };
    expect(repositories).toContain(REPO);
    expect(repositories).not.toContain(doomed);
  });
});

describe('users, tokens and permissions', () => {
  async function createUser(name: string, password: string, role: string): Promise<void> {
    const page = adminPage();
    await page.goto(`${url}/users`);
    await page.getByLabel('User name').fill(name);
    await page.getByLabel('Initial password').fill(password);
    await page.getByLabel('Role').selectOption(role);
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('status').getByText(`User ${name} created.`).waitFor();
    await page.getByRole('rowheader', { name }).waitFor();
  }

  test('a user made in the UI creates an access token there that skopeo pushes with', async () => {
    await createUser(DEVELOPER.name, DEVELOPER.password, 'developer');
    await screenshot(adminPage(), 'users');

    const { page } = await signedInPage(DEVELOPER.name, DEVELOPER.password);
    await page.getByRole('link', { name: 'Access tokens' }).click();
    await page.getByLabel('Token name').fill('ci');
    await page.getByLabel('Expires after').selectOption('30');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByLabel('New token', { exact: true }).inputValue();
    expect(secret.length).toBeGreaterThan(20);
    // The suggested logins never hold the secret itself: shell history would keep it.
    const created = page.getByRole('region', { name: 'Token “ci” created' });
    const advice = (await created.textContent()) ?? '';
    expect(advice).not.toContain('echo');
    expect(advice).not.toContain(secret);
    await created.getByText(`docker login ${host} -u ${DEVELOPER.name}`, { exact: true }).waitFor();
    await created
      .getByText(`docker login ${host} -u ${DEVELOPER.name} --password-stdin < token-file`, {
        exact: true,
      })
      .waitFor();
    await screenshot(page, 'token-created');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await expect.poll(() => page.getByLabel('New token', { exact: true }).count()).toBe(0);
    await page.getByRole('rowheader', { name: 'ci' }).waitFor();
    await screenshot(page, 'tokens');

    await skopeoPush('arm', 'from-token', `${DEVELOPER.name}:${secret}`);
    expect((await v2Manifest('from-token')).status).toBe(200);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.goto(`${url}/tokens`);
    await page.waitForURL(/\/login\?next=%2Ftokens$/);
  });

  test('a viewer sees no delete control, and the API refuses the delete anyway', async () => {
    await createUser(VIEWER.name, VIEWER.password, 'viewer');
    const { page } = await signedInPage(VIEWER.name, VIEWER.password);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Repositories' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Users' }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Audit log' }).count()).toBe(0);

    await page.goto(`${url}/repositories/${REPO}`);
    await tagRow(page, '1.0').waitFor();
    expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
    await screenshot(page, 'repository-viewer');

    await page.goto(`${url}/repositories/${REPO}/-/manifests/1.0`);
    await page.getByText(imageDigest, { exact: true }).waitFor();
    expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);

    await page.goto(`${url}/users`);
    await page.getByRole('heading', { name: 'Administrators only' }).waitFor();

    // The same session, going around the UI: the server decides, not the hidden button.
    const status = await page.evaluate(
      async (target: string) => {
        const session = (await (await fetch('/api/v1/session')).json()) as { csrfToken: string };
        const res = await fetch(target, {
          method: 'DELETE',
          headers: { 'x-csrf-token': session.csrfToken },
        });
        return res.status;
      },
      `/api/v1/repositories/${encodeURIComponent(REPO)}/tags/1.0`,
    );
    expect(status).toBe(403);
    expect((await v2Manifest('1.0')).status).toBe(200);
  });

  test('a user changes their own password on My account; their other sessions end', async () => {
    const name = 'acct-ui';
    const first = `first-${randomBytes(6).toString('hex')}`;
    const second = `second-${randomBytes(6).toString('hex')}`;
    const third = `third-${randomBytes(6).toString('hex')}`;
    await createUser(name, first, 'developer');
    const { page } = await signedInPage(name, first);
    const elsewhere = (await signedInPage(name, first)).page;

    await page.getByRole('link', { name: `My account: ${name}` }).click();
    await page.getByRole('heading', { level: 1, name: 'My account' }).waitFor();
    await page
      .getByRole('list', { name: 'Your roles' })
      .getByText('developer everywhere')
      .waitFor();
    const may = page.getByRole('region', { name: 'What you may do' });
    await may.getByRole('listitem').first().waitFor();
    await page.getByRole('link', { name: 'Your access tokens' }).waitFor();
    await screenshot(page, 'account');

    const form = page.getByRole('region', { name: 'Change your password' });
    const change = async (current: string, next: string, repeated = next): Promise<void> => {
      await form.getByLabel('Current password').fill(current);
      await form.getByLabel('New password', { exact: true }).fill(next);
      await form.getByLabel('Repeat the new password').fill(repeated);
      await form.getByRole('button', { name: 'Change password' }).click();
    };
    await change('not-my-password', second);
    await form.getByRole('alert').getByText('The current password is wrong.').waitFor();
    await change(first, second, `${second}!`);
    await form.getByRole('alert').getByText('The two new passwords are not the same.').waitFor();
    await change(first, second);
    await form
      .getByRole('status')
      .getByText(/^Password changed\./)
      .waitFor();
    await screenshot(page, 'account-password-changed');

    expect(await apiSignIn(name, second)).toBe(200);
    expect(await apiSignIn(name, first)).toBe(401);

    // This session goes on under the new password; the one in the other browser has ended.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'My account' }).waitFor();
    await elsewhere
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Repositories' })
      .click();
    await elsewhere.waitForURL(/\/login\?next=%2Frepositories$/);
    await elsewhere
      .getByRole('status')
      .getByText('Your session has ended.', { exact: false })
      .waitFor();

    // Should the registry end this session as well, the page says so on the way to sign in.
    await page.route(
      '**/api/v1/session',
      (route) =>
        route.fulfill({
          status: 401,
          json: { errors: [{ code: 'UNAUTHORIZED', message: 'sign in first' }] },
        }),
      { times: 1 },
    );
    await change(second, third);
    await page.waitForURL(/\/login\?next=%2Faccount$/);
    await page
      .getByRole('status')
      .getByText('Your password was changed and this session ended.', { exact: false })
      .waitFor();
    await signIn(page, name, third);
    await page.getByRole('heading', { level: 1, name: 'My account' }).waitFor();
    expect(await apiSignIn(name, second)).toBe(401);
  });
});

describe('administration pages', () => {
  test('namespaces: create a public one', async () => {
    const page = adminPage();
    await page.goto(`${url}/namespaces`);
    await page.getByLabel('Name', { exact: true }).fill('team-ui');
    await page.getByRole('checkbox', { name: /^Public/ }).check();
    await page.getByRole('button', { name: 'Create namespace' }).click();
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'team-ui' }) });
    await row.getByText('public').waitFor();
    await screenshot(page, 'namespaces');
  });

  test('every page lives at one level, and the old /admin/ addresses land on the new ones', async () => {
    const page = adminPage();
    await page.goto(`${url}/`);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Users' }).waitFor();
    const hrefs = await page.evaluate<string[]>(
      `[...document.querySelectorAll('nav[aria-label="Main"] a')].map((a) => a.getAttribute('href'))`,
    );
    expect(hrefs).toContain('/users');
    expect(hrefs).toContain('/audit');
    for (const href of hrefs) expect(href).toMatch(/^\/[a-z]*$/);

    await page.goto(`${url}/admin/users`);
    await page.waitForURL((u) => u.pathname === '/users');
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.goto(`${url}/admin/audit?action=delete`);
    await page.waitForURL((u) => u.pathname === '/audit' && u.search === '?action=delete');
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    expect(await page.getByLabel('Action').inputValue()).toBe('delete');
    // The old address was replaced, not kept in the history: Back leaves the redirect behind.
    await page.goBack();
    await page.waitForURL((u) => u.pathname === '/users');
  });

  test('roles, audit log (filtered) and system', async () => {
    const page = adminPage();
    await page.goto(`${url}/roles`);
    await page.getByRole('rowheader', { name: /viewer/ }).waitFor();
    await screenshot(page, 'roles');

    await page.goto(`${url}/audit`);
    await page.getByLabel('Action').fill('delete');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/action=delete/);
    await page.getByRole('cell', { name: `${REPO}:old` }).waitFor();
    await screenshot(page, 'audit');

    await page.goto(`${url}/system`);
    await page.getByText('filesystem', { exact: true }).waitFor();
    await page.getByText(`docker login ${host}`, { exact: true }).waitFor();
    await screenshot(page, 'system');
  });

  test('roles: a custom role edited in the UI is what the API then returns', async () => {
    const page = adminPage();
    await page.goto(`${url}/roles`);
    const create = page.getByRole('region', { name: 'Create a custom role' });
    await create.getByLabel('Role name').fill(CUSTOM_ROLE);
    await create.getByLabel('Description').fill('Pushes from CI');
    await create.getByLabel('Namespace pattern 1').fill('team-ui');
    await create.getByRole('checkbox', { name: 'push' }).check();
    await create.getByRole('button', { name: 'Create role' }).click();
    await create.getByRole('status').getByText(`Role ${CUSTOM_ROLE} created.`).waitFor();

    // Built-in roles have no controls, and say why.
    const viewer = page
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name: /^viewer/ }) });
    await viewer.getByText('Read-only: built into Berth').waitFor();
    expect(await page.getByRole('button', { name: 'Edit role viewer' }).count()).toBe(0);

    await page.getByRole('button', { name: `Edit role ${CUSTOM_ROLE}` }).click();
    const edit = page.getByRole('region', { name: `Edit role ${CUSTOM_ROLE}` });
    expect(await edit.getByLabel('Description').inputValue()).toBe('Pushes from CI');
    expect(await edit.getByLabel('Namespace pattern 1').inputValue()).toBe('team-ui');
    await edit.getByLabel('Description').fill('Pushes and cleans up from CI');
    await edit.getByLabel('Namespace pattern 1').fill('team-*');
    await edit
      .getByRole('group', { name: 'Actions for pattern 1' })
      .getByRole('checkbox', { name: 'delete' })
      .check();
    await edit.getByRole('button', { name: 'Add a pattern' }).click();
    await edit.getByLabel('Namespace pattern 2').fill('a*b');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit
      .getByRole('alert')
      .getByText('Privilege pattern "a*b" must be *, a namespace', { exact: false })
      .waitFor();
    await edit.getByLabel('Namespace pattern 2').fill('ci');
    // From the top: the sticky header would otherwise sit mid-page in a full-page screenshot.
    await page.evaluate('window.scrollTo(0, 0)');
    await screenshot(page, 'roles-edit');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').getByText(`Role ${CUSTOM_ROLE} saved.`).waitFor();
    await expect.poll(() => edit.count()).toBe(0);
    const row = page
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name: new RegExp(`^${CUSTOM_ROLE}`) }) });
    await row.getByText('Pushes and cleans up from CI').waitFor();
    await row.getByRole('listitem').filter({ hasText: 'team-*: pull, push, delete' }).waitFor();

    const res = await fetch(`${url}/api/v1/roles`, {
      headers: { authorization: ADMIN_AUTHORIZATION },
    });
    const { items } = (await res.json()) as {
      items: { name: string; privileges: { pattern: string }[] }[];
    };
    const saved = items.find((role) => role.name === CUSTOM_ROLE);
    // The registry keeps privileges in its own order (by pattern); the set is what counts.
    saved?.privileges.sort((a, b) => a.pattern.localeCompare(b.pattern));
    expect(saved).toEqual({
      name: CUSTOM_ROLE,
      description: 'Pushes and cleans up from CI',
      builtin: false,
      privileges: [
        { pattern: 'ci', actions: ['pull'] },
        { pattern: 'team-*', actions: ['pull', 'push', 'delete'] },
      ],
    });
  });
});

describe('with authentication off', () => {
  test('My account says there is no account to manage', async () => {
    const open = await startServerProcess({ dataDir: path.join(work, 'data-auth-off') });
    try {
      const opened = await openPage(must(browser, 'the browser'));
      watched.push(opened);
      const { page } = opened;
      await page.goto(`${open.url}/account`);
      await page.getByRole('heading', { level: 1, name: 'My account' }).waitFor();
      await page.getByText('There is no account to manage.').waitFor();
      expect(await page.getByLabel('Current password').count()).toBe(0);
      expect(await page.getByRole('link', { name: /My account/ }).count()).toBe(0);
      await screenshot(page, 'account-auth-off');
    } finally {
      await open.stop();
    }
  });
});

describe('phones, dark mode and the keyboard', () => {
  test('at 390 px the menu folds away and nothing scrolls sideways', async () => {
    const { page } = await signedInPage('admin', ADMIN_PASSWORD, { width: 390, height: 844 });
    await page.getByRole('heading', { level: 1 }).waitFor();
    const width = (): Promise<unknown> => page.evaluate('document.documentElement.scrollWidth');
    expect(await width()).toBeLessThanOrEqual(390);
    await screenshot(page, 'dashboard-phone');

    const menu = page.getByRole('button', { name: 'Menu' });
    await menu.click();
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Repositories' })
      .click();
    await page.getByRole('link', { name: REPO }).click();
    await tagRow(page, '1.0').waitFor();
    expect(await width()).toBeLessThanOrEqual(390);
    await screenshot(page, 'repository-phone');
  });

  test('My account and the role editor fit a phone in dark mode', async () => {
    const { page } = await signedInPage(VIEWER.name, VIEWER.password, {
      width: 390,
      height: 844,
      colorScheme: 'dark',
    });
    const width = (): Promise<unknown> => page.evaluate('document.documentElement.scrollWidth');
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('link', { name: `My account: ${VIEWER.name}` }).click();
    await page.getByRole('heading', { level: 1, name: 'My account' }).waitFor();
    await page.getByRole('list', { name: 'Your roles' }).getByText('viewer everywhere').waitFor();
    expect(await width()).toBeLessThanOrEqual(390);
    await screenshot(page, 'account-phone-dark');

    const admin = await signedInPage('admin', ADMIN_PASSWORD, {
      width: 390,
      height: 844,
      colorScheme: 'dark',
    });
    await admin.page.goto(`${url}/roles`);
    await admin.page.getByRole('button', { name: `Edit role ${CUSTOM_ROLE}` }).click();
    await admin.page.getByRole('region', { name: `Edit role ${CUSTOM_ROLE}` }).waitFor();
    await admin.page.evaluate('window.scrollTo(0, 0)');
    expect(await admin.page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(
      390,
    );
    await screenshot(admin.page, 'roles-edit-phone-dark');
  });

  test('dark colour scheme follows the system setting', async () => {
    const { page } = await signedInPage('admin', ADMIN_PASSWORD, { colorScheme: 'dark' });
    await page.goto(`${url}/repositories/${REPO}/-/manifests/1.0`);
    await page.getByText(imageDigest, { exact: true }).waitFor();
    const background = String(
      await page.evaluate('getComputedStyle(document.body).backgroundColor'),
    );
    const [r = 255, g = 255, b = 255] = (background.match(/\d+/g) ?? []).map(Number);
    expect(r + g + b).toBeLessThan(3 * 64);
    await screenshot(page, 'manifest-dark');
  });

  test('the first Tab reaches the skip link, which lands on the content', async () => {
    const page = adminPage();
    await page.goto(`${url}/`);
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement.id')).toBe('main');
  });

  test('no page had a script error or a CSP violation', () => {
    for (const { problems } of watched) expect(problems).toEqual([]);
  });
});
