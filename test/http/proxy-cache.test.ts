/**
 * Proxy namespaces over HTTP: a Berth proxy of a real CNCF Distribution (docker-registry), with a
 * fault-injecting proxy between them to make the upstream fail, slow down or lie.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { OCI_MANIFEST, pushImage, sha256, type PushedImage } from '../helpers/oci.js';
import { startServer, type TestServer } from '../helpers/server.js';

let upstream: Distribution;
let faults: FaultProxy;
let berth: TestServer;
let image: PushedImage;

beforeAll(async () => {
  upstream = await startDistribution({ label: 'proxy-cache' });
  faults = await startFaultProxy(upstream.url);
  berth = await startServer({
    configure: (c) => {
      c.proxy.upstreamTimeout = '2s';
    },
  });
  await berth.app.registry.namespaces.create('hub', { proxy: { url: faults.url } });
  image = await pushImage(upstream.url, 'team/app', 'v1', { layers: 2 });
});

afterAll(async () => {
  await berth.close();
  await faults.stop();
  await upstream.stop();
});

describe('proxy namespace', () => {
  it('pulls a tag through the proxy and serves it again from the cache', async () => {
    const res = await fetch(`${berth.url}/v2/hub/team/app/manifests/v1`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(image.digest);
    expect(await res.text()).toBe(image.manifest);
    for (const layer of image.layers) {
      const blob = await fetch(`${berth.url}/v2/hub/team/app/blobs/${sha256(layer)}`);
      expect(blob.status).toBe(200);
      expect(Buffer.from(await blob.arrayBuffer()).equals(layer)).toBe(true);
    }
    const again = await fetch(`${berth.url}/v2/hub/team/app/blobs/${sha256(image.layers[0]!)}`);
    expect(again.status).toBe(200);
    await again.arrayBuffer();
    expect(faults.count('GET', /\/blobs\//)).toBe(2);
  });
});
