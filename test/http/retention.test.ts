/**
 * Retention policies (issue 11, item 2), over HTTP to a real server. Images are pushed at chosen
 * times by moving the process clock (only Date is faked: timers and I/O run for real), and runs are
 * evaluated at a chosen `now`, so no test waits for days to pass:
 * - keep-last by push time; keep-days by push and by pull (a GET counts, a HEAD does not);
 *   keep-tags by regex; rules combine as "kept if any matches";
 * - never removed: immutable tags, tags of referrers, cosign signature tags of a kept image (they
 *   go with a removed one); a manifest an index lists stays, untagged;
 * - a dry run lists exactly what the real run then removes (the API and runRetention);
 * - the admin API: admin on the namespace for one, the registry administrator for all.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RetentionPolicy } from '../../src/core/retention-policy.js';
import { runRetention, type RetentionReport } from '../../src/lifecycle/retention.js';
import {
  OCI_INDEX,
  OCI_MANIFEST,
  pushImage,
  putManifest,
  sha256,
  type PushedImage,
} from '../helpers/oci.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { addUser, send } from './auth-helpers.js';

const DAY = 86_400_000;
/** Day 0 of every scenario: long enough ago that "now" (day 10 or so) is still in the past. */
const T0 = Date.now() - 365 * DAY;
const at = (day: number): Date => new Date(T0 + day * DAY);

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());
afterEach(() => {
  vi.useRealTimers();
});

/** Runs `work` with the clock at `day`: pushes and pulls then happen at that time. */
async function onDay<T>(day: number, work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(at(day));
  try {
    return await work();
  } finally {
    vi.useRealTimers();
  }
}

const pushOn = (day: number, repository: string, tag: string): Promise<PushedImage> =>
  onDay(day, () => pushImage(server.url, repository, tag));

/** Points `tag` at an image already pushed (a PUT of its manifest), on `day`. */
async function tagOn(day: number, repository: string, tag: string, image: PushedImage) {
  const res = await onDay(day, () => putManifest(server.url, repository, tag, image.manifest));
  expect(res.status).toBe(201);
}

async function namespaceWith(name: string, retention: RetentionPolicy, immutableTags?: string[]) {
  await server.app.registry.namespaces.create(name);
  await server.app.dataDir.meta.setNamespacePolicy(name, {
    retention,
    ...(immutableTags && { immutableTags }),
  });
}

const run = (namespace: string, dryRun: boolean, day: number): Promise<RetentionReport> =>
  runRetention({ meta: server.app.dataDir.meta }, { namespace, dryRun, now: at(day) });

/** Runs dry, then for real, on the same data: both must list the same. */
async function dryThenReal(namespace: string, day: number): Promise<RetentionReport> {
  const dry = await run(namespace, true, day);
  const real = await run(namespace, false, day);
  expect(dry.dryRun).toBe(true);
  expect(real.dryRun).toBe(false);
  expect({ ...real, dryRun: true }).toEqual(dry);
  // Nothing is left to remove.
  expect(await run(namespace, true, day)).toMatchObject({ tags: [], manifests: [] });
  return real;
}

async function status(repository: string, reference: string): Promise<number> {
  const res = await fetch(`${server.url}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
  });
  return res.status;
}

const removed = (report: RetentionReport): string[] =>
  report.tags.map((t) => `${t.repository}:${t.tag}`);

describe('keep-last', () => {
  it('keeps the N newest tags by push time and removes the others with their manifests', async () => {
    await namespaceWith('kl', { keepLast: 2 });
    const t1 = await pushOn(0, 'kl/app', 't1');
    const t2 = await pushOn(1, 'kl/app', 't2');
    const t3 = await pushOn(2, 'kl/app', 't3');
    const t4 = await pushOn(3, 'kl/app', 't4');
    // An older tag on the newest image: the tag goes, the image stays (t4 still names it).
    await tagOn(0.5, 'kl/app', 'alias', t4);

    const report = await dryThenReal('kl', 10);
    expect(report.namespaces).toEqual(['kl']);
    expect(report.tags).toEqual([
      { repository: 'kl/app', tag: 't2', digest: t2.digest, reason: 'no keep-rule matches' },
      { repository: 'kl/app', tag: 'alias', digest: t4.digest, reason: 'no keep-rule matches' },
      { repository: 'kl/app', tag: 't1', digest: t1.digest, reason: 'no keep-rule matches' },
    ]);
    expect(report.manifests).toEqual([
      { repository: 'kl/app', digest: t2.digest },
      { repository: 'kl/app', digest: t1.digest },
    ]);
    expect(report.kept).toBe(2);
    for (const ref of ['t1', 't2', 'alias', t1.digest, t2.digest])
      expect(await status('kl/app', ref)).toBe(404);
    for (const ref of ['t3', 't4', t3.digest, t4.digest])
      expect(await status('kl/app', ref)).toBe(200);
  });
});

describe('keep-days', () => {
  it('keeps tags pushed or pulled (GET, not HEAD) within D days', async () => {
    await namespaceWith('kd', { keepDays: 7 });
    await pushOn(0, 'kd/app', 'pulled');
    await pushOn(1, 'kd/app', 'headed');
    await pushOn(2, 'kd/app', 'stale');
    await pushOn(6, 'kd/app', 'recent');
    await onDay(8, async () => {
      const get = await fetch(`${server.url}/v2/kd/app/manifests/pulled`, {
        headers: { accept: OCI_MANIFEST },
      });
      expect(get.status).toBe(200);
      await get.arrayBuffer();
      expect(await status('kd/app', 'headed')).toBe(200);
    });
    await server.app.pulls.flush();

    // Day 12 counts back to day 5: `recent` was pushed after it, `pulled` pulled after it.
    const report = await dryThenReal('kd', 12);
    expect(removed(report)).toEqual(['kd/app:stale', 'kd/app:headed']);
    expect(report.kept).toBe(2);
    expect(await status('kd/app', 'pulled')).toBe(200);
    expect(await status('kd/app', 'recent')).toBe(200);
  });
});

describe('recorded pull times', () => {
  it('never go back in time, and a batch naming a deleted manifest still writes the rest', async () => {
    await server.app.registry.namespaces.create('pt');
    const image = await pushOn(0, 'pt/app', 'v1');
    const meta = server.app.dataDir.meta;
    const pulledAt = async () =>
      (await meta.retentionView('pt/app')).tags.find((t) => t.tag === 'v1')?.lastPulledAt;
    const gone = { repository: 'pt/app', digest: `sha256:${'0'.repeat(64)}` };
    await meta.recordPulls([
      { ...gone, at: at(5).toISOString() },
      { repository: 'pt/app', digest: image.digest, at: at(5).toISOString() },
    ]);
    expect(await pulledAt()).toBe(at(5).toISOString());
    // A batch written late (an earlier pull) does not move it back.
    await meta.recordPulls([
      { repository: 'pt/app', digest: image.digest, at: at(3).toISOString() },
    ]);
    expect(await pulledAt()).toBe(at(5).toISOString());
    await meta.recordPulls([
      { repository: 'pt/app', digest: image.digest, at: at(6).toISOString() },
    ]);
    expect(await pulledAt()).toBe(at(6).toISOString());
  });
});

describe('keep-tags', () => {
  it('keeps tags matching the regex; rules combine as "kept if any matches"', async () => {
    await namespaceWith('kt', { keepTags: String.raw`^v\d`, keepLast: 1 });
    await pushOn(0, 'kt/app', 'v1.0');
    await pushOn(1, 'kt/app', 'dev-1');
    await pushOn(2, 'kt/app', 'v2.0');
    await pushOn(3, 'kt/app', 'dev-2');
    await pushOn(4, 'kt/app', 'dev-3');
    await pushOn(0, 'kt/app', 'av1');

    const report = await dryThenReal('kt', 10);
    expect(removed(report)).toEqual(['kt/app:dev-2', 'kt/app:dev-1', 'kt/app:av1']);
    expect(report.kept).toBe(3);
    for (const tag of ['v1.0', 'v2.0', 'dev-3']) expect(await status('kt/app', tag)).toBe(200);
  });
});

describe('tags that are never removed', () => {
  it('keeps an immutable tag, which takes no keep-last place', async () => {
    await namespaceWith('im', { keepLast: 1 }, ['release-*']);
    await pushOn(0, 'im/app', 'x');
    await pushOn(1, 'im/app', 'y');
    await pushOn(2, 'im/app', 'release-1');

    const report = await dryThenReal('im', 10);
    expect(removed(report)).toEqual(['im/app:x']);
    expect(report.kept).toBe(2);
    expect(await status('im/app', 'release-1')).toBe(200);
    expect(await status('im/app', 'y')).toBe(200);
  });

  it("keeps referrers' tags and a kept image's cosign tags; a removed image's go with it", async () => {
    await namespaceWith('sig', { keepLast: 1 });
    const old = await pushOn(0, 'sig/app', 'old');
    const current = await pushOn(2, 'sig/app', 'current');
    const sbom = await onDay(0.1, () =>
      pushImage(server.url, 'sig/app', 'sbom-of-old', {
        extra: {
          artifactType: 'application/spdx+json',
          subject: { mediaType: OCI_MANIFEST, digest: old.digest, size: old.manifest.length },
        },
      }),
    );
    const cosignTag = (image: PushedImage, kind: string): string =>
      `${image.digest.replace(':', '-')}.${kind}`;
    const oldSig = await pushOn(0.2, 'sig/app', cosignTag(old, 'sig'));
    const currentSig = await pushOn(2.1, 'sig/app', cosignTag(current, 'sig'));
    const currentAtt = await pushOn(2.2, 'sig/app', cosignTag(current, 'att'));

    const report = await dryThenReal('sig', 10);
    expect(report.tags).toEqual([
      { repository: 'sig/app', tag: 'old', digest: old.digest, reason: 'no keep-rule matches' },
      {
        repository: 'sig/app',
        tag: cosignTag(old, 'sig'),
        digest: oldSig.digest,
        reason: 'the image it signs is removed',
      },
    ]);
    expect(report.manifests).toEqual([
      { repository: 'sig/app', digest: old.digest },
      { repository: 'sig/app', digest: oldSig.digest },
    ]);
    expect(report.kept).toBe(4);
    for (const ref of ['current', 'sbom-of-old', sbom.digest, currentSig.digest])
      expect(await status('sig/app', ref)).toBe(200);
    expect(await status('sig/app', cosignTag(current, 'sig'))).toBe(200);
    expect(await status('sig/app', cosignTag(current, 'att'))).toBe(200);
    expect(await status('sig/app', currentAtt.digest)).toBe(200);
  });
});

describe('indexes', () => {
  function indexOf(...children: PushedImage[]): string {
    return JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c, i) => ({
        mediaType: OCI_MANIFEST,
        digest: c.digest,
        size: Buffer.byteLength(c.manifest),
        platform: { os: 'linux', architecture: ['amd64', 'arm64'][i] ?? 'riscv64' },
      })),
    });
  }

  async function pushIndexOn(day: number, repository: string, tag: string, index: string) {
    const res = await onDay(day, () => putManifest(server.url, repository, tag, index, OCI_INDEX));
    expect(res.status).toBe(201);
    return sha256(index);
  }

  it('leaves a child an index lists untagged, and deletes an index before its children', async () => {
    await namespaceWith('idx', { keepLast: 1 });
    // idx/a: the child's own tag goes; the child stays, untagged, while the kept index lists it.
    const child = await pushOn(0, 'idx/a', 'amd64-build');
    await pushIndexOn(3, 'idx/a', 'multi', indexOf(child));
    // idx/b: an old index and its tagged child both go, the index first.
    const c = await pushOn(0, 'idx/b', 'c-tag');
    const j = await pushIndexOn(1, 'idx/b', 'old-multi', indexOf(c));
    await pushOn(5, 'idx/b', 'newest');

    const report = await dryThenReal('idx', 10);
    expect(removed(report)).toEqual(['idx/a:amd64-build', 'idx/b:old-multi', 'idx/b:c-tag']);
    expect(report.manifests).toEqual([
      { repository: 'idx/b', digest: j },
      { repository: 'idx/b', digest: c.digest },
    ]);
    expect(await status('idx/a', child.digest)).toBe(200);
    expect(await status('idx/a', 'multi')).toBe(200);
    expect(await status('idx/b', j)).toBe(404);
    expect(await status('idx/b', c.digest)).toBe(404);
  });
});

describe('a push while retention runs', () => {
  it('is never undone: a moved tag and a manifest tagged again since the plan both stay', async () => {
    await namespaceWith('race', { keepLast: 1 });
    const a = await pushOn(0, 'race/app', 'a');
    const b = await pushOn(1, 'race/app', 'b');
    await pushOn(2, 'race/app', 'c');
    const meta = server.app.dataDir.meta;
    // The pushes land after retention has read the repository and before it removes anything.
    const report = await runRetention(
      {
        meta: {
          getNamespace: (n) => meta.getNamespace(n),
          listNamespaceVisibility: () => meta.listNamespaceVisibility(),
          listRepositories: (p, ns) => meta.listRepositories(p, ns),
          deleteTag: (r, t, e) => meta.deleteTag(r, t, e),
          deleteManifest: (r, d, u) => meta.deleteManifest(r, d, u),
          retentionView: async (repository) => {
            const view = await meta.retentionView(repository);
            await tagOn(3, 'race/app', 'b', a); // `b` moves to a's manifest
            await tagOn(3, 'race/app', 'again', b); // b's manifest is tagged again
            return view;
          },
        },
      },
      { namespace: 'race', dryRun: false, now: at(10) },
    );
    // `a` was removed as planned; a's manifest is `b` now, and b's manifest is `again`.
    expect(removed(report)).toEqual(['race/app:a']);
    expect(report.manifests).toEqual([]);
    expect(report.kept).toBe(2);
    expect(await status('race/app', 'b')).toBe(200);
    expect(await status('race/app', 'again')).toBe(200);
    expect(await status('race/app', a.digest)).toBe(200);
    expect(await status('race/app', b.digest)).toBe(200);
  });
});

describe('POST /api/v1/retention', () => {
  it('lists in a dry run exactly what the real run removes, and changes nothing', async () => {
    await namespaceWith('api', { keepLast: 1 });
    await pushOn(0, 'api/app', 'a');
    await pushOn(1, 'api/app', 'b');
    const post = (query: string) =>
      onDay(10, async () => {
        const res = await fetch(`${server.url}/api/v1/retention?${query}`, { method: 'POST' });
        expect(res.status).toBe(200);
        return (await res.json()) as RetentionReport;
      });
    const dry = await post('namespace=api&dryRun=true');
    expect(removed(dry)).toEqual(['api/app:a']);
    expect(await status('api/app', 'a')).toBe(200);
    const real = await post('namespace=api');
    expect({ ...real, dryRun: true }).toEqual(dry);
    expect(await status('api/app', 'a')).toBe(404);
  });

  it('answers 404 for an unknown namespace and leaves namespaces without a policy alone', async () => {
    const res = await fetch(`${server.url}/api/v1/retention?namespace=nope`, { method: 'POST' });
    expect(res.status).toBe(404);
    await pushOn(0, 'library/untouched', 'old');
    const all = await run('library', false, 100);
    expect(all).toEqual({ dryRun: false, namespaces: [], tags: [], manifests: [], kept: 0 });
    expect(await status('library/untouched', 'old')).toBe(200);
  });
});

describe('POST /api/v1/retention with authentication', () => {
  let secure: TestServer;

  beforeAll(async () => {
    secure = await startServer({ auth: true });
    await secure.app.registry.namespaces.create('team');
    await secure.app.dataDir.meta.setNamespacePolicy('team', { retention: { keepLast: 5 } });
  });
  afterAll(async () => secure.close());

  it('needs admin on the namespace for one, the registry administrator for all', async () => {
    const dev = await addUser(secure, 'dev', [{ role: 'maintainer' }]);
    const lead = await addUser(secure, 'lead', [{ role: 'admin', namespace: 'team' }]);
    const root = await addUser(secure, 'root', [{ role: 'admin' }]);
    const post = async (query: string, authorization?: string): Promise<number> => {
      const res = await send(secure, 'POST', `/api/v1/retention${query}`, authorization);
      await res.arrayBuffer();
      return res.status;
    };
    expect(await post('?namespace=team')).toBe(401);
    expect(await post('?namespace=team', dev)).toBe(403);
    expect(await post('', dev)).toBe(403);
    expect(await post('?namespace=team', lead)).toBe(200);
    expect(await post('', lead)).toBe(403);
    expect(await post('?dryRun=true', root)).toBe(200);
    expect(await post('', root)).toBe(200);

    // Real runs are audited with their counts; dry runs are not. The audit log writes in
    // batches (within a second): poll until both are there.
    type Event = { actor: string; target: string; detail: unknown };
    let events: Event[] = [];
    for (const deadline = Date.now() + 30_000; events.length < 2;) {
      if (Date.now() > deadline)
        throw new Error(`audit events never arrived: ${JSON.stringify(events)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const audit = await send(secure, 'GET', '/api/v1/audit?action=retention.run', root);
      events = ((await audit.json()) as { items: Event[] }).items;
    }
    expect(events.map((e) => [e.actor, e.target])).toEqual([
      ['root', '*'],
      ['lead', 'team'],
    ]);
    expect(events[0]?.detail).toEqual({
      dryRun: false,
      namespaces: 1,
      tags: 0,
      manifests: 0,
      kept: 0,
    });
  });
});
