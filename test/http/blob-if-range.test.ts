/**
 * GET /v2/:name/blobs/:digest with Range and If-Range (RFC 9110 §13.1.5): the Range is honoured
 * only when If-Range is absent or names the blob's strong ETag (its digest); anything else gets the
 * whole blob with 200. Requests go out with node:http so the headers are exactly these.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { pushBlob, pushImage, randomBlob } from '../helpers/oci.js';

let server: TestServer;
const blob = randomBlob(4096);
let digest: string;

beforeAll(async () => {
  server = await startServer();
  digest = await pushBlob(server.url, 'library/ranged', blob);
});
afterAll(async () => server.close());

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function rawRequest(
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${path}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const getBlob = (headers: Record<string, string>) =>
  rawRequest(`/v2/library/ranged/blobs/${digest}`, headers);

function expectWhole(res: RawResponse): void {
  expect(res.status).toBe(200);
  expect(res.headers['content-range']).toBeUndefined();
  expect(res.headers['content-length']).toBe(String(blob.length));
  expect(res.body.equals(blob)).toBe(true);
}

describe('GET /v2/:name/blobs/:digest with If-Range', () => {
  it('carries the digest as a strong ETag on GET and HEAD', async () => {
    const get = await getBlob({});
    expect(get.headers.etag).toBe(`"${digest}"`);
    const head = await rawRequest(`/v2/library/ranged/blobs/${digest}`, {}, 'HEAD');
    expect(head.headers.etag).toBe(`"${digest}"`);
  });

  it('honours Range when If-Range is the ETag → 206', async () => {
    const res = await getBlob({ range: 'bytes=0-9', 'if-range': `"${digest}"` });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes 0-9/${blob.length}`);
    expect(res.body.equals(blob.subarray(0, 10))).toBe(true);
  });

  it('ignores Range when If-Range names another ETag → 200 with the whole blob', async () => {
    const other = `"sha256:${'0'.repeat(64)}"`;
    expectWhole(await getBlob({ range: 'bytes=0-9', 'if-range': other }));
  });

  it('ignores Range when If-Range is the ETag in weak form or unquoted (strong comparison only)', async () => {
    expectWhole(await getBlob({ range: 'bytes=0-9', 'if-range': `W/"${digest}"` }));
    expectWhole(await getBlob({ range: 'bytes=0-9', 'if-range': digest }));
  });

  it('ignores Range when If-Range is a date: no Last-Modified is sent, so no date matches', async () => {
    expect((await getBlob({})).headers['last-modified']).toBeUndefined();
    for (const date of [
      new Date().toUTCString(),
      new Date(Date.now() + 86_400_000).toUTCString(),
      'Thu, 01 Jan 1970 00:00:00 GMT',
    ]) {
      expectWhole(await getBlob({ range: 'bytes=0-9', 'if-range': date }));
    }
  });

  it('answers an unsatisfiable Range under a failed If-Range with the whole blob, not 416', async () => {
    expectWhole(await getBlob({ range: 'bytes=9000-9999', 'if-range': '"stale"' }));
    const matching = await getBlob({ range: 'bytes=9000-9999', 'if-range': `"${digest}"` });
    expect(matching.status).toBe(416);
  });

  it('serves the whole blob for an If-Range without a Range', async () => {
    expectWhole(await getBlob({ 'if-range': '"stale"' }));
    expectWhole(await getBlob({ 'if-range': `"${digest}"` }));
  });

  it('manifests support no Range at all, so neither Range nor If-Range changes their GET', async () => {
    const image = await pushImage(server.url, 'library/ranged', 'v1');
    const res = await rawRequest(`/v2/library/ranged/manifests/${image.digest}`, {
      range: 'bytes=0-9',
      'if-range': `"${image.digest}"`,
    });
    expect(res.status).toBe(200);
    expect(res.headers['accept-ranges']).toBeUndefined();
    expect(res.body.toString()).toBe(image.manifest);
  });
});
