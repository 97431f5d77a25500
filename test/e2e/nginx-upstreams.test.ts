/**
 * `berth nginx-config` with two `--upstream` replicas, run by real nginx (Debian's) exactly as
 * printed, inside the few lines a throwaway nginx needs (as in nginx.test.ts), with TLS from
 * `berth cert`. The replicas are two plain node:http servers that answer with their own name and
 * what they received, so the test sees nginx's balancing and connection handling by itself:
 * consecutive GETs alternate between the replicas over kept-alive connections, a chunked PATCH
 * streams through (its first bytes reach a replica while the client is still sending), and of the
 * requests a replica drops, a GET is retried on the other replica while a PATCH is not.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startNginx, stopAllNginx, type Nginx } from '../helpers/nginx.js';
import { CLI } from '../helpers/server.js';
import { runOk } from './images.js';

const NAME = 'localhost';
const CONNECTION = 'proxy_set_header Connection "";';

let work = '';
let caPem = '';

/** A stand-in Berth replica: answers every request with its name and what it received. */
interface Replica {
  name: string;
  address: string;
  server: http.Server;
  /** TCP connections nginx opened to it. */
  connections: number;
  /** `METHOD x-test-id` of every request that reached it, in order. */
  seen: string[];
  /** The x-test-id of each request whose first body bytes have arrived. */
  bodyStarted: Set<string>;
}

interface Reply {
  name: string;
  method: string;
  bytes: number;
  chunked: boolean;
}

const replicas: Replica[] = [];

async function startReplica(name: string): Promise<Replica> {
  const replica: Replica = {
    name,
    address: '',
    server: http.createServer(
      // Longer than nginx keeps an idle upstream connection: only nginx closes them.
      { keepAliveTimeout: 120_000 },
      (req, res) => {
        const id = String(req.headers['x-test-id']);
        replica.seen.push(`${req.method ?? ''} ${id}`);
        // A replica that fails mid-request, after nginx has sent it: no answer at all.
        if (req.headers['x-drop-on'] === name) {
          req.socket.destroy();
          return;
        }
        let bytes = 0;
        req.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          replica.bodyStarted.add(id);
        });
        req.once('end', () => {
          const reply: Reply = {
            name,
            method: req.method ?? '',
            bytes,
            chunked: req.headers['transfer-encoding'] === 'chunked',
          };
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(reply));
        });
      },
    ),
    connections: 0,
    seen: [],
    bodyStarted: new Set(),
  };
  replica.server.on('connection', () => replica.connections++);
  await new Promise<void>((resolve, reject) => {
    replica.server.once('error', reject);
    replica.server.listen(0, '127.0.0.1', resolve);
  });
  replica.address = `127.0.0.1:${(replica.server.address() as AddressInfo).port}`;
  replicas.push(replica);
  return replica;
}

async function stopReplica(replica: Replica): Promise<void> {
  replica.server.closeAllConnections();
  await new Promise((resolve) => replica.server.close(resolve));
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 30_000; !condition();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * nginx with what `berth nginx-config` prints for the two replicas (after `edit`, for the staged
 * failure), inside the minimal main config of helpers/nginx.ts.
 */
async function startGenerated(
  label: string,
  edit: (text: string) => string = (t) => t,
): Promise<Nginx> {
  return startNginx({
    label: `nginx-${label}`,
    parent: work,
    http: async (port) => {
      const { stdout: generated } = await runOk(process.execPath, [
        CLI,
        'nginx-config',
        '--server-name',
        NAME,
        '--listen',
        `127.0.0.1:${port}`,
        ...replicas.flatMap((r) => ['--upstream', r.address]),
        '--tls-cert',
        path.join(work, 'tls', 'server.crt'),
        '--tls-key',
        path.join(work, 'tls', 'server.key'),
      ]);
      return edit(generated);
    },
  });
}

interface Response {
  status: number;
  body: string;
}

/**
 * An HTTPS request to nginx, verifying its certificate for `localhost` against the test CA. The
 * returned request is open: the caller writes any body (chunked: no Content-Length) and ends it.
 */
function open(
  nginx: Nginx,
  method: string,
  headers: Record<string, string>,
): { req: http.ClientRequest; response: Promise<Response> } {
  let req: http.ClientRequest | undefined;
  const response = new Promise<Response>((resolve, reject) => {
    req = https.request(
      {
        method,
        // 127.0.0.1, where nginx listens; the name checked in the certificate is `localhost`.
        host: '127.0.0.1',
        servername: NAME,
        port: nginx.port,
        path: '/v2/library/app/blobs/uploads/5f8c',
        ca: caPem,
        agent: false,
        headers: { host: `${NAME}:${nginx.port}`, ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
        res.once('error', reject);
      },
    );
    req.once('error', reject);
  });
  if (!req) throw new Error('https.request returned nothing');
  return { req, response };
}

async function get(nginx: Nginx, headers: Record<string, string>): Promise<Response> {
  const { req, response } = open(nginx, 'GET', headers);
  req.end();
  return response;
}

/** Writes `chunk` with back-pressure. */
async function write(req: http.ClientRequest, chunk: Buffer): Promise<void> {
  if (!req.write(chunk)) await new Promise((resolve) => req.once('drain', resolve));
}

function reply(res: Response): Reply {
  expect(res.status).toBe(200);
  return JSON.parse(res.body) as Reply;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  work = path.join(tmpdir(), `berth-e2e-nginx-upstreams-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  const tls = path.join(work, 'tls');
  await runOk(process.execPath, [CLI, 'cert', '--host', NAME, '--ip', '127.0.0.1', '--out', tls]);
  caPem = await readFile(path.join(tls, 'ca.crt'), 'utf8');
  // Started before nginx: nginx would otherwise count the refused connections as failures.
  await startReplica('a');
  await startReplica('b');
});

afterAll(async () => {
  await stopAllNginx();
  for (const replica of replicas) await stopReplica(replica);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('two replicas behind nginx as generated', () => {
  let nginx: Nginx;

  beforeAll(async () => {
    nginx = await startGenerated('generated');
  });

  afterAll(async () => {
    await nginx.stop();
  });

  test('consecutive GETs alternate between the replicas, over one kept-alive connection each', async () => {
    const before = replicas.map((r) => r.connections);
    const names: string[] = [];
    for (let i = 0; i < 6; i++)
      names.push(reply(await get(nginx, { 'x-test-id': `get-${i}` })).name);
    const [first] = names;
    const other = first === 'a' ? 'b' : 'a';
    expect(names).toEqual([first, other, first, other, first, other]);
    // With nginx's default `Connection: close` each replica would have seen three connections.
    expect(replicas.map((r, i) => r.connections - (before[i] ?? 0))).toEqual([1, 1]);
  });

  test('a chunked PATCH streams through: a replica has its first bytes before the client is done', async () => {
    const id = 'patch-stream';
    const chunk = 256 * 1024;
    const chunks = 32;
    const { req, response } = open(nginx, 'PATCH', {
      'x-test-id': id,
      'content-type': 'application/octet-stream',
    });
    try {
      await write(req, randomBytes(chunk));
      // Had nginx buffered the body, nothing would reach a replica until the client ended it.
      await waitFor(
        () => replicas.some((r) => r.bodyStarted.has(id)),
        'the first bytes of the PATCH reach a replica while the client is still sending',
      );
      for (let i = 1; i < chunks; i++) await write(req, randomBytes(chunk));
      req.end();
    } catch (e) {
      // The failure to report is this one, not the reset that destroying the request causes.
      response.catch(() => undefined);
      req.destroy();
      throw e;
    }
    const received = reply(await response);
    expect(received).toMatchObject({ method: 'PATCH', bytes: chunk * chunks, chunked: true });
    expect(replicas.filter((r) => r.seen.includes(`PATCH ${id}`)).map((r) => r.name)).toEqual([
      received.name,
    ]);
    const errors = await nginx.errors();
    expect(errors).not.toMatch(/buffered to a temporary file/);
  });
});

describe('staged failure: the generated text with one directive changed', () => {
  test('without the empty Connection header, nginx opens a connection per request', async () => {
    const staged = await startGenerated('connection-close', (text) => {
      expect(text.split(CONNECTION)).toHaveLength(2);
      return text.replace(CONNECTION, '# nginx sends its default, Connection: close');
    });
    try {
      const before = replicas.map((r) => r.connections);
      for (let i = 0; i < 6; i++) reply(await get(staged, { 'x-test-id': `close-${i}` }));
      // The same check that found one connection per replica with the generated text.
      expect(replicas.map((r, i) => r.connections - (before[i] ?? 0))).toEqual([3, 3]);
    } finally {
      await staged.stop();
    }
  });
});

// A replica that fails is out of nginx's rotation for 10 s (max_fails=1 fail_timeout=10s, the
// defaults): each case starts an nginx of its own.
describe('a replica that drops requests', () => {
  test('a GET it drops is retried on the other replica', async () => {
    const nginx = await startGenerated('retry-get');
    try {
      for (const id of ['drop-get-1', 'drop-get-2']) {
        // Round robin sends one of the two to replica a first.
        expect(reply(await get(nginx, { 'x-test-id': id, 'x-drop-on': 'a' })).name).toBe('b');
      }
      const [a, b] = replicas;
      expect(a?.seen.filter((s) => s.startsWith('GET drop-get-'))).toHaveLength(1);
      expect(b?.seen.filter((s) => s.startsWith('GET drop-get-'))).toEqual([
        'GET drop-get-1',
        'GET drop-get-2',
      ]);
    } finally {
      await nginx.stop();
    }
  });

  test('a PATCH it drops is not retried: the client gets 502 and retries itself', async () => {
    const nginx = await startGenerated('retry-patch');
    try {
      const statuses: Record<string, number> = {};
      for (const id of ['drop-patch-1', 'drop-patch-2']) {
        const { req, response } = open(nginx, 'PATCH', { 'x-test-id': id, 'x-drop-on': 'a' });
        req.end(randomBytes(1024));
        statuses[id] = (await response).status;
      }
      const [a, b] = replicas;
      const dropped = a?.seen.filter((s) => s.startsWith('PATCH drop-patch-')) ?? [];
      expect(dropped).toHaveLength(1);
      const droppedId = dropped[0]?.slice('PATCH '.length) ?? '';
      const servedId = droppedId === 'drop-patch-1' ? 'drop-patch-2' : 'drop-patch-1';
      expect(statuses).toEqual({ [droppedId]: 502, [servedId]: 200 });
      // The dropped PATCH never reached replica b: nginx did not send it a second time.
      expect(b?.seen.filter((s) => s.startsWith('PATCH drop-patch-'))).toEqual([
        `PATCH ${servedId}`,
      ]);
    } finally {
      await nginx.stop();
    }
  });
});
