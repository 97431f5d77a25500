/**
 * Group namespaces over HTTP: a group of a proxy (of a real CNCF Distribution) and a hosted
 * namespace; pulls try the members in order, pushes land in the push member.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { OCI_MANIFEST, errorCode, pushImage, sha256 } from '../helpers/oci.js';
import { startServer, type TestServer } from '../helpers/server.js';

function firstLayer(image: { layers: Buffer[] }): Buffer {
  const [layer] = image.layers;
  if (!layer) throw new Error('the image has no layer');
  return layer;
}

let upstream: Distribution;
let faults: FaultProxy;
let berth: TestServer;

function manifestGet(path: string): Promise<Response> {
  return fetch(`${berth.url}/v2/${path}`, { headers: { accept: OCI_MANIFEST } });
}

beforeAll(async () => {
  upstream = await startDistribution({ label: 'group-namespaces' });
  faults = await startFaultProxy(upstream.url);
  berth = await startServer();
  const namespaces = berth.app.registry.namespaces;
  await namespaces.create('hub', { proxy: { url: faults.url } });
  await namespaces.create('team');
  await namespaces.create('all', { group: { members: ['hub', 'team'], pushTo: 'team' } });
});

afterAll(async () => {
  await berth.close();
  await faults.stop();
  await upstream.stop();
});

describe('group namespaces', () => {
  it('pulls from the first member that has the image: the proxy, then the hosted member', async () => {
    const remote = await pushImage(upstream.url, 'tools/app', 'v1');
    const local = await pushImage(berth.url, 'team/tools/own', 'v1');
    const viaProxy = await manifestGet('all/tools/app/manifests/v1');
    expect(viaProxy.status).toBe(200);
    expect(viaProxy.headers.get('docker-content-digest')).toBe(remote.digest);
    const blob = await fetch(`${berth.url}/v2/all/tools/app/blobs/${sha256(firstLayer(remote))}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(firstLayer(remote))).toBe(true);

    const viaHosted = await manifestGet('all/tools/own/manifests/v1');
    expect(viaHosted.status).toBe(200);
    expect(viaHosted.headers.get('docker-content-digest')).toBe(local.digest);
    const own = await fetch(`${berth.url}/v2/all/tools/own/blobs/${sha256(local.config)}`);
    expect(await own.text()).toBe(local.config);
  });

  it('serves the first member when two have the same tag', async () => {
    const remote = await pushImage(upstream.url, 'both/app', 'v1');
    await pushImage(berth.url, 'team/both/app', 'v1');
    const res = await manifestGet('all/both/app/manifests/v1');
    expect(res.headers.get('docker-content-digest')).toBe(remote.digest);
  });

  it('falls through to the hosted member when the proxy upstream is down', async () => {
    const local = await pushImage(berth.url, 'team/down/app', 'v1');
    faults.setDown(true);
    try {
      const res = await manifestGet('all/down/app/manifests/v1');
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(local.digest);
      // Nobody has it: the upstream's failure is what the client hears about.
      const missing = await manifestGet('all/down/none/manifests/v1');
      expect(missing.status).toBe(404);
      const body = (await missing.json()) as { errors: { code: string; message: string }[] };
      expect(body.errors[0]?.code).toBe('MANIFEST_UNKNOWN');
      expect(body.errors[0]?.message).toMatch(/upstream could not provide it: .* did not answer/);
    } finally {
      faults.setDown(false);
    }
  });

  it('lists the union of the members’ tags', async () => {
    await pushImage(upstream.url, 'mixed/app', 'remote');
    await pushImage(berth.url, 'team/mixed/app', 'local');
    const res = await fetch(`${berth.url}/v2/all/mixed/app/tags/list`);
    expect(((await res.json()) as { tags: string[] }).tags).toEqual(['local', 'remote']);
  });

  it('pushes through the group into its push member, under the same path', async () => {
    const pushed = await pushImage(berth.url, 'all/pushed/app', 'v1');
    const direct = await manifestGet('team/pushed/app/manifests/v1');
    expect(direct.status).toBe(200);
    expect(direct.headers.get('docker-content-digest')).toBe(pushed.digest);
    expect((await manifestGet('all/pushed/app/manifests/v1')).status).toBe(200);
    // Nothing reached the proxy's upstream or its cache.
    expect((await fetch(`${upstream.url}/v2/pushed/app/tags/list`)).status).toBe(404);
  });

  it('refuses deletes through the group and pushes into a group without a push member', async () => {
    await pushImage(berth.url, 'team/keep/app', 'v1');
    const del = await fetch(`${berth.url}/v2/all/keep/app/manifests/v1`, { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(await errorCode(del)).toBe('UNSUPPORTED');
    await berth.app.registry.namespaces.create('readonly', { group: { members: ['team'] } });
    const post = await fetch(`${berth.url}/v2/readonly/x/blobs/uploads/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(((await post.json()) as { errors: { message: string }[] }).errors[0]?.message).toMatch(
      /no hosted push member/,
    );
  });

  it('validates members: existing, not groups, the push member hosted and a member', async () => {
    const namespaces = berth.app.registry.namespaces;
    await expect(namespaces.create('g1', { group: { members: ['nope'] } })).rejects.toThrow(
      /not an existing namespace/,
    );
    await expect(namespaces.create('g2', { group: { members: ['all'] } })).rejects.toThrow(
      /is a group itself/,
    );
    await expect(
      namespaces.create('g3', { group: { members: ['hub', 'team'], pushTo: 'hub' } }),
    ).rejects.toThrow(/must be a hosted namespace/);
    await expect(
      namespaces.create('g4', { group: { members: ['hub'], pushTo: 'team' } }),
    ).rejects.toThrow(/must be one of the group's members/);
    await expect(namespaces.get('g1')).resolves.toBeNull();
  });
});
