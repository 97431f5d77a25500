/**
 * Serving a proxy namespace by the upstream's own names: the docker mirror listener
 * (`mirrors: [{listen, namespace}]`, `berth serve --mirror`) and containerd's `?ns=HOST` on the
 * main listener, with a real CNCF Distribution as the upstream and authentication on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { OCI_MANIFEST, errorCode, pushImage, sha256, type PushedImage } from '../helpers/oci.js';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { basic } from './auth-helpers.js';

let upstream: Distribution;
let berth: TestServer;
/** `http://127.0.0.1:PORT` of the mirror listener of `hub`. */
let mirror: string;
/**
 * The mirror listener of `cache`, a proxy of the same upstream that is not public; first by name,
 * so `?ns=` of that upstream maps into it.
 */
let privateMirror: string;
let official: PushedImage;
let team: PushedImage;
const ADMIN = basic('admin', ADMIN_PASSWORD);
const logs: string[] = [];

beforeAll(async () => {
  upstream = await startDistribution({ label: 'proxy-mirror' });
  berth = await startServer({
    auth: true,
    configure: (c) => {
      c.mirrors = [
        { listen: '127.0.0.1:0', namespace: 'hub' },
        { listen: '127.0.0.1:0', namespace: 'cache' },
        // A mirror of a hosted namespace: allowed, but worth a warning at start.
        { listen: '127.0.0.1:0', namespace: 'library' },
      ];
    },
    logStream: { write: (line: string) => void logs.push(line) },
  });
  await berth.app.registry.namespaces.create('hub', { proxy: { url: upstream.url }, public: true });
  await berth.app.registry.namespaces.create('cache', { proxy: { url: upstream.url } });
  official = await pushImage(upstream.url, 'library/mirrored', 'v1', { layers: 2 });
  team = await pushImage(upstream.url, 'team/tool', 'v1');
  const address = (namespace: string): string => {
    const found = berth.app.mirrors.find((m) => m.namespace === namespace);
    if (!found) throw new Error(`no mirror listener for ${namespace}`);
    return `http://${found.address}`;
  };
  mirror = address('hub');
  privateMirror = address('cache');
});

afterAll(async () => {
  await berth.close();
  await upstream.stop();
});

/** The parameters of a `WWW-Authenticate: Bearer …` challenge. */
function challengeOf(res: Response): Record<string, string> {
  const header = res.headers.get('www-authenticate') ?? '';
  const params: Record<string, string> = {};
  for (const [, key, value] of header.matchAll(/(\w+)="([^"]*)"/g))
    if (key !== undefined && value !== undefined) params[key] = value;
  return params;
}

/** What docker does: the request, then on a 401 a token from the challenge's realm, then again. */
async function pullWithToken(
  url: string,
  authorization?: string,
): Promise<{ res: Response; scope: string | undefined }> {
  const first = await fetch(url, { headers: { accept: OCI_MANIFEST } });
  if (first.status !== 401) return { res: first, scope: undefined };
  await first.arrayBuffer();
  const { realm, service, scope } = challengeOf(first);
  const query = new URLSearchParams({ service: service ?? '', scope: scope ?? '' });
  const tokenRes = await fetch(`${realm ?? ''}?${query.toString()}`, {
    headers: authorization !== undefined ? { authorization } : {},
  });
  expect(tokenRes.status).toBe(200);
  const { token } = (await tokenRes.json()) as { token: string };
  const res = await fetch(url, {
    headers: { accept: OCI_MANIFEST, authorization: `Bearer ${token}` },
  });
  return { res, scope };
}

describe('mirror listener', () => {
  it("pulls by the upstream's names from a public namespace, anonymously", async () => {
    // hub is public: docker's anonymous pull needs no token at all.
    const res = await fetch(`${mirror}/v2/library/mirrored/manifests/v1`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(official.digest);
    expect(await res.text()).toBe(official.manifest);

    const tokenRes = await fetch(
      `${mirror}/v2/token?service=berth&scope=repository:library/mirrored:pull`,
    );
    const { token } = (await tokenRes.json()) as { token: string };
    const auth = { authorization: `Bearer ${token}` };
    for (const layer of official.layers) {
      const blob = await fetch(`${mirror}/v2/library/mirrored/blobs/${sha256(layer)}`, {
        headers: auth,
      });
      expect(blob.status).toBe(200);
      expect(Buffer.from(await blob.arrayBuffer()).equals(layer)).toBe(true);
    }
    const tags = await fetch(`${mirror}/v2/library/mirrored/tags/list`, { headers: auth });
    expect(await tags.json()).toEqual({ name: 'library/mirrored', tags: ['v1'] });

    // Cached in the proxy namespace like any pull through it: the main listener serves it too.
    const main = await fetch(`${berth.url}/v2/hub/library/mirrored/manifests/v1`, {
      headers: { accept: OCI_MANIFEST, authorization: ADMIN },
    });
    expect(main.headers.get('docker-content-digest')).toBe(official.digest);
    await main.arrayBuffer();
    expect(await upstream.count('GET', /\/v2\/library\/mirrored\/blobs\//)).toBe(2);
  });

  it("maps the token realm's scopes into the namespace and nothing else", async () => {
    const res = await fetch(
      `${mirror}/v2/token?service=berth&scope=repository:library/mirrored:pull`,
    );
    const { token } = (await res.json()) as { token: string };
    const claims = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as { access: { type: string; name: string; actions: string[] }[] };
    expect(claims.access).toEqual([
      { type: 'repository', name: 'hub/library/mirrored', actions: ['pull'] },
    ]);
    // The same token on the main listener is for hub/library/mirrored, not library/mirrored.
    const hosted = await fetch(`${berth.url}/v2/library/mirrored/manifests/v1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(hosted.status).toBe(401);
    await hosted.arrayBuffer();
  });

  it("challenges with the mirror's own realm and serves a private namespace to who may pull", async () => {
    const url = `${privateMirror}/v2/team/tool/manifests/v1`;
    const first = await fetch(url, { headers: { accept: OCI_MANIFEST } });
    expect(first.status).toBe(401);
    await first.arrayBuffer();
    // The realm is the mirror listener's, and the scope names the repository as the client did.
    expect(challengeOf(first)).toMatchObject({
      realm: `${privateMirror}/v2/token`,
      scope: 'repository:team/tool:pull',
    });
    const anonymous = await pullWithToken(url);
    expect(anonymous.scope).toBe('repository:team/tool:pull');
    expect(anonymous.res.status).toBe(401);
    await anonymous.res.arrayBuffer();
    const admin = await pullWithToken(url, ADMIN);
    expect(admin.res.status).toBe(200);
    expect(admin.res.headers.get('docker-content-digest')).toBe(team.digest);
    await admin.res.arrayBuffer();
  });

  it('refuses pushes and serves nothing but /v2/', async () => {
    const push = await fetch(`${mirror}/v2/team/tool/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: ADMIN },
    });
    expect(push.status).toBe(405);
    expect(await errorCode(push)).toBe('UNSUPPORTED');
    const api = await fetch(`${mirror}/api/v1/namespaces`, { headers: { authorization: ADMIN } });
    expect(api.status).toBe(404);
    expect(await api.text()).toMatch(/mirror of namespace "hub"/);
    const base = await fetch(`${mirror}/v2/`, { headers: { authorization: ADMIN } });
    expect(base.status).toBe(200);
    await base.arrayBuffer();
  });

  it('warns at start when a mirror serves a namespace that is no proxy or group', () => {
    // Logged as JSON: the quotes are escaped. hub and private-hub were created after the start.
    expect(logs.some((l) => l.includes('mirror: namespace \\"library\\" is hosted'))).toBe(true);
    expect(logs.some((l) => l.includes('mirror: namespace \\"hub\\" does not exist'))).toBe(true);
  });
});

describe('?ns= on the main listener', () => {
  it('maps a name whose first segment is no namespace into the proxy of that upstream host', async () => {
    const host = new URL(upstream.url).host;
    const url = `${berth.url}/v2/team/tool/manifests/v1?ns=${host}`;
    // Two proxies cache that upstream: the first by name, cache (private), answers.
    const { res, scope } = await pullWithToken(url, ADMIN);
    // containerd asks the realm without ns: the challenge names the mapped repository.
    expect(scope).toBe('repository:cache/team/tool:pull');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(team.digest);
    expect(res.headers.get('oci-namespace')).toBe(host);
    await res.arrayBuffer();

    const blob = await fetch(
      `${berth.url}/v2/team/tool/blobs/${sha256(team.layers[0] ?? '')}?ns=${host}`,
      { headers: { authorization: ADMIN } },
    );
    expect(blob.status).toBe(200);
    expect(Buffer.from(await blob.arrayBuffer()).equals(team.layers[0] ?? Buffer.alloc(0))).toBe(
      true,
    );

    // Without ns the same name is in the namespace "team", which does not exist.
    const plain = await fetch(`${berth.url}/v2/team/tool/manifests/v1`, {
      headers: { accept: OCI_MANIFEST, authorization: ADMIN },
    });
    expect(plain.status).toBe(404);
    await plain.arrayBuffer();
  });

  it("leaves a name in one of this registry's namespaces as it is, echoing ns for its proxy", async () => {
    const host = new URL(upstream.url).host;
    // What a hosts.toml with override_path sends: /v2/hub/… with ns.
    const direct = await fetch(`${berth.url}/v2/hub/team/tool/manifests/v1?ns=${host}`, {
      headers: { accept: OCI_MANIFEST, authorization: ADMIN },
    });
    expect(direct.status).toBe(200);
    expect(direct.headers.get('oci-namespace')).toBe(host);
    await direct.arrayBuffer();

    // The default namespace "library" is hosted: library/mirrored there is not the upstream's.
    const hosted = await fetch(`${berth.url}/v2/library/mirrored/manifests/v1?ns=${host}`, {
      headers: { accept: OCI_MANIFEST, authorization: ADMIN },
    });
    expect(hosted.status).toBe(404);
    expect(hosted.headers.get('oci-namespace')).toBeNull();
    expect(await errorCode(hosted)).toBe('MANIFEST_UNKNOWN');
  });

  it('ignores an ns that no proxy caches, and one that is no host name', async () => {
    for (const ns of ['quay.io', 'a%20b', '..%2F']) {
      const res = await fetch(`${berth.url}/v2/team/tool/manifests/v1?ns=${ns}`, {
        headers: { accept: OCI_MANIFEST, authorization: ADMIN },
      });
      expect(res.status).toBe(404);
      expect(res.headers.get('oci-namespace')).toBeNull();
      // Not mapped: the upstream has team/tool:v1, so a mapped request would have found it.
      await res.arrayBuffer();
    }
  });
});
