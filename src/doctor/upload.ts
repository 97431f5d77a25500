/**
 * @module doctor/upload
 * Check 6: a blob through the whole path, as docker pushes a layer: POST an upload session and one
 * streamed PATCH without Content-Length (chunked, generated on the fly, never held in memory) of
 * the measured size; that session is then cancelled, and a tiny blob goes through POST, PATCH and
 * the PUT with the digest that commits it. Proxies break exactly this: a body-size limit (413),
 * chunked bodies refused (411), or the whole upload buffered before it is passed on (a long wait
 * after the last byte, or a stall). What the check made is removed again (doctor/cleanup).
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  asTransportError,
  headerValue,
  requestOptions,
  send,
  transport,
  transportAdvice,
  type HttpResult,
  type TransportError,
} from './http-client.js';
import { formatDuration, formatRate } from './lifetime.js';
import { cancelSession, cleanupFinding, deleteRepository, unlinkBlob } from './cleanup.js';
import { basicAuthorization, namespaceOf, pushRoleFix } from './token.js';
import {
  finding,
  SCRATCH_REPOSITORY,
  type Advice,
  type DoctorOptions,
  type DoctorState,
  type Finding,
} from './types.js';

const CHUNK_BYTES = 1024 * 1024;

function megabytes(bytes: number): string {
  const mb = bytes / 1_000_000;
  return `${mb >= 10 ? Math.round(mb) : mb.toFixed(1)} MB`;
}

function registryError(body: Buffer): { code?: string; message?: string } {
  try {
    const json = JSON.parse(body.toString('utf8')) as {
      errors?: { code?: unknown; message?: unknown }[];
    };
    const first = json.errors?.[0];
    const out: { code?: string; message?: string } = {};
    if (typeof first?.code === 'string') out.code = first.code;
    if (typeof first?.message === 'string') out.message = first.message;
    return out;
  } catch {
    return {};
  }
}

export type Phase = 'POST' | 'PATCH' | 'PUT';

/** Plain words for a failed step of the upload; `sentBytes` is how far a PATCH got. */
export function uploadAdvice(
  phase: Phase,
  status: number,
  body: Buffer,
  options: Pick<DoctorOptions, 'username' | 'repository'>,
  sentBytes = 0,
): Advice {
  const err = registryError(body);
  const detail = err.message !== undefined ? `: ${err.message}` : '';
  const after = phase === 'PATCH' && sentBytes > 0 ? ` after ${megabytes(sentBytes)}` : '';
  if (status === 413) {
    return {
      summary: `${phase} → 413 Request Entity Too Large: a proxy in front limits the body size`,
      explanation:
        'Layers are often hundreds of MB and docker sends each in one request; nginx’s default client_max_body_size is 1 MB.',
      fix: 'nginx: client_max_body_size 0; in the server block (berth nginx-config prints it); other proxies: lift the request body limit',
    };
  }
  if (status === 411) {
    return {
      summary: `${phase} → 411 Length Required: a proxy demands Content-Length (chunked uploads not passed through)`,
      explanation:
        'Docker streams each layer as one chunked PATCH without Content-Length; the proxy in front does not accept or forward chunked bodies.',
      fix: 'nginx: proxy_http_version 1.1; chunked_transfer_encoding on; proxy_request_buffering off; (berth nginx-config prints them)',
    };
  }
  if (status === 401 || status === 403) {
    const user = options.username;
    return {
      summary: `${phase} → ${status}${detail}: push to ${options.repository} denied${user !== undefined ? ` for ${user}` : ' (no credentials)'}`,
      explanation:
        'docker push says "denied: requested access to the resource is denied" (or "unauthorized" without login).',
      fix:
        user === undefined
          ? 'give --username and --password-stdin of a user who may push'
          : pushRoleFix(user, options.repository),
    };
  }
  if (status === 404 && err.code === 'NAME_UNKNOWN') {
    const ns = namespaceOf(options.repository);
    return {
      summary: `${phase} → 404 NAME_UNKNOWN${detail}`,
      explanation: `The namespace ${ns} does not exist; Berth creates repositories on push only inside existing namespaces.`,
      fix: `on the server: berth namespace create ${ns}; or check with --repository ${SCRATCH_REPOSITORY}`,
    };
  }
  if (status === 404 && phase !== 'POST') {
    return {
      summary: `${phase} → 404${detail}: the upload session is unknown`,
      explanation:
        'The request reached another registry instance, or the proxy changed the Location path.',
      fix: 'pass the Location header through unchanged; several Berth instances must share their storage and database',
    };
  }
  if (status === 502 || status === 504) {
    return {
      summary: `${phase} → ${status}${after}: the proxy gave up on Berth`,
      explanation: 'A proxy timeout during a large upload, or Berth is down.',
      fix: 'nginx: proxy_read_timeout 900; proxy_send_timeout 900; proxy_request_buffering off; and check that Berth runs',
    };
  }
  if (status === 400 && err.code === 'DIGEST_INVALID') {
    return {
      summary: `${phase} → 400 DIGEST_INVALID: the registry received different bytes than were sent`,
      explanation: 'Something on the way altered or truncated the body.',
      fix: 'check the proxy for body rewriting (compression, filters) and for truncation',
    };
  }
  return { summary: `${phase} → ${status}${detail}${after}` };
}

/** A wait after the last byte that looks like a proxy storing the whole upload first. */
export function bufferingSuspected(sendMs: number, waitMs: number): boolean {
  return waitMs > 1500 && waitMs > sendMs / 2;
}

export function bufferingAdvice(sendMs: number, waitMs: number, size: number): Advice {
  return {
    summary: `the answer came ${formatDuration(waitMs / 1000)} after the last byte (sending ${megabytes(size)} took ${formatDuration(sendMs / 1000)}): a proxy seems to buffer the whole upload`,
    explanation:
      'With request buffering the proxy stores each layer (memory or disk) before passing it on: big layers need twice the time and disk space, and long pushes time out.',
    fix: 'nginx: proxy_request_buffering off; proxy_http_version 1.1; (berth nginx-config prints them)',
  };
}

export function stallAdvice(
  phase: 'sending' | 'waiting',
  sentBytes: number,
  seconds: number,
): Advice {
  return phase === 'sending'
    ? {
        summary: `the upload stalled after ${megabytes(sentBytes)}: nothing moved for ${seconds} s`,
        explanation:
          'A proxy that buffers the whole upload stops reading when its buffer (memory, temporary disk) is full, or a timeout is about to cut the connection.',
        fix: 'nginx: proxy_request_buffering off; proxy_http_version 1.1; and check the proxy’s temporary disk and client_body_timeout',
      }
    : {
        summary: `the whole body (${megabytes(sentBytes)}) was sent but no answer came in ${seconds} s`,
        explanation:
          'A proxy that buffers the whole upload answers only after it has passed everything on; or the registry hangs.',
        fix: 'nginx: proxy_request_buffering off; proxy_http_version 1.1; proxy_read_timeout 900;',
      };
}

function randomBody(size: number, hash: Hash): Readable {
  let produced = 0;
  return new Readable({
    highWaterMark: CHUNK_BYTES,
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(CHUNK_BYTES, size - produced));
      hash.update(chunk);
      produced += chunk.length;
      this.push(chunk);
    },
  });
}

type PatchOutcome =
  | {
      kind: 'response';
      res: HttpResult;
      sentBytes: number;
      totalMs: number;
      sendMs: number;
      waitMs: number;
      digest: string;
    }
  | { kind: 'stall'; phase: 'sending' | 'waiting'; sentBytes: number }
  | { kind: 'transport'; error: TransportError; sentBytes: number };

/** One streamed PATCH of `size` random bytes, watched for stalls. */
function streamPatch(
  state: DoctorState,
  url: URL,
  authorization: string | undefined,
  size: number,
  stallMs: number,
): Promise<PatchOutcome> {
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    const body = randomBody(size, hash);
    let sentBytes = 0;
    let lastProgress = performance.now();
    let bodyEndAt: number | undefined;
    let settled = false;
    const started = performance.now();
    const req = transport(url).request({
      ...requestOptions(state, url),
      method: 'PATCH',
      // No Content-Length: chunked, as docker sends a layer.
      headers: {
        'user-agent': 'berth-doctor',
        'content-type': 'application/octet-stream',
        // As docker's: a server that answers early (413) then reads and drops the rest instead of
        // closing, so the answer is not lost to a reset. The socket is destroyed afterwards.
        connection: 'keep-alive',
        ...(authorization !== undefined ? { authorization } : {}),
      },
    });
    const finish = (outcome: PatchOutcome): void => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      body.unpipe(req);
      body.destroy();
      req.destroy();
      resolve(outcome);
    };
    const watch = setInterval(() => {
      const now = performance.now();
      if (responded) return;
      if (bodyEndAt === undefined && now - lastProgress > stallMs)
        finish({ kind: 'stall', phase: 'sending', sentBytes });
      else if (bodyEndAt !== undefined && now - bodyEndAt > stallMs)
        finish({ kind: 'stall', phase: 'waiting', sentBytes });
    }, 250);
    body.on('data', (chunk: Buffer) => {
      sentBytes += chunk.length;
      lastProgress = performance.now();
    });
    req.once('finish', () => (bodyEndAt = performance.now()));
    let responded = false;
    req.on('error', (err) => {
      // A proxy that answered early (413) may then cut the body off: the answer is what counts.
      if (!responded) finish({ kind: 'transport', error: asTransportError(err), sentBytes });
    });
    req.once('response', (res) => {
      responded = true;
      const respondedAt = performance.now();
      // A proxy may answer (413) before the body is complete: stop sending.
      if (bodyEndAt === undefined) {
        body.unpipe(req);
        body.destroy();
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.length < 64 && chunks.push(c));
      const done = (): void => {
        if (settled) return;
        const end = bodyEndAt ?? respondedAt;
        finish({
          kind: 'response',
          res: {
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            receivedAtMs: Date.now(),
          },
          sentBytes,
          totalMs: respondedAt - started,
          sendMs: end - started,
          waitMs: respondedAt - end,
          digest: `sha256:${hash.digest('hex')}`,
        });
      };
      res.once('end', done);
      res.once('error', done);
      res.once('aborted', done);
      res.once('close', done);
    });
    body.pipe(req);
  });
}

/** The path of `url` on `origin`: the checks stay on the origin the client dialled. */
function onOrigin(url: URL, origin: string): URL {
  return new URL(`${url.pathname}${url.search}`, origin);
}

/** Authorization for the upload: none, Basic, or the Bearer token of the token check. */
function uploadAuthorization(
  state: DoctorState,
  options: DoctorOptions,
): string | undefined | null {
  if (state.challenge === null) return undefined;
  if (state.challenge?.scheme.toLowerCase() === 'basic') {
    return options.username === undefined
      ? null
      : basicAuthorization(options.username, options.password ?? '');
  }
  return state.token ? `Bearer ${state.token.token}` : null;
}

/**
 * The blob that proves the final PUT. Always the same bytes: the file a committed blob leaves until
 * garbage collection is then one tiny file, however often doctor runs.
 */
export const PROOF_BLOB = Buffer.from('berth doctor: the last step of a blob upload works\n');

/** How many bytes the registry says it holds, from a `Range: 0-N` answer to a PATCH. */
export function receivedBytes(range: string | undefined): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(range?.trim() ?? '');
  return m?.[1] !== undefined ? Number(m[1]) + 1 : undefined;
}

type Opened = { kind: 'opened'; url: URL } | { kind: 'failed'; advice: Advice };

/** POST an upload session; its Location is followed on the dialled origin. */
async function openSession(
  state: DoctorState,
  options: DoctorOptions,
  auth: Record<string, string>,
  findings: Finding[],
): Promise<Opened> {
  const { target } = state;
  const postUrl = new URL(`/v2/${options.repository}/blobs/uploads/`, target.origin);
  let post: HttpResult;
  try {
    post = await send(state, postUrl, { method: 'POST', headers: auth, body: Buffer.alloc(0) });
  } catch (err) {
    return { kind: 'failed', advice: transportAdvice(asTransportError(err), postUrl, target) };
  }
  const location = headerValue(post.headers, 'location');
  if (post.status !== 202 || location === undefined)
    return {
      kind: 'failed',
      advice:
        post.status === 202
          ? { summary: 'POST → 202 without a Location header' }
          : uploadAdvice('POST', post.status, post.body, options),
    };
  const url = new URL(location, target.origin);
  // Said once, though every session of the check meets it.
  if (url.origin !== target.origin && !findings.some((f) => f.summary.includes(url.origin))) {
    findings.push(
      finding('upload', 'warn', {
        summary: `the upload Location points at ${url.origin}, not ${target.origin}`,
        explanation:
          'Clients follow it: the same proxy mistake as a wrong realm (Berth builds absolute URLs from what it sees).',
        fix: `start Berth with --external-url ${target.origin}, or have the proxy send X-Forwarded-Proto/Host and trust it (--trusted-proxy)`,
      }),
    );
  }
  return { kind: 'opened', url: onOrigin(url, target.origin) };
}

/** Where the next request of a session goes: the Location of the last answer, else the same. */
function nextUrl(res: HttpResult, current: URL, origin: string): URL {
  const next = headerValue(res.headers, 'location');
  return next !== undefined ? onOrigin(new URL(next, origin), origin) : current;
}

/**
 * The tiny blob through the last two steps docker takes (a PATCH, then the PUT with the digest
 * that commits it). The measured upload is cancelled instead of committed, so this proves the PUT.
 */
async function commitProofBlob(
  state: DoctorState,
  options: DoctorOptions,
  auth: Record<string, string>,
  findings: Finding[],
): Promise<{ kind: 'committed'; digest: string } | { kind: 'failed'; advice: Advice }> {
  const { target } = state;
  const opened = await openSession(state, options, auth, findings);
  if (opened.kind === 'failed') return opened;
  const failed = async (advice: Advice) => {
    await send(state, opened.url, { method: 'DELETE', headers: auth }).catch(() => null);
    return { kind: 'failed' as const, advice };
  };
  let url = opened.url;
  try {
    const patch = await send(state, url, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: PROOF_BLOB,
    });
    if (patch.status !== 202)
      return await failed(uploadAdvice('PATCH', patch.status, patch.body, options));
    url = nextUrl(patch, url, target.origin);
  } catch (err) {
    return failed(transportAdvice(asTransportError(err), url, target));
  }
  const digest = `sha256:${createHash('sha256').update(PROOF_BLOB).digest('hex')}`;
  url.searchParams.set('digest', digest);
  try {
    const put = await send(state, url, { method: 'PUT', headers: auth, body: Buffer.alloc(0) });
    if (put.status !== 201) return await failed(uploadAdvice('PUT', put.status, put.body, options));
  } catch (err) {
    return failed(transportAdvice(asTransportError(err), url, target));
  }
  return { kind: 'committed', digest };
}

export async function checkUpload(state: DoctorState, options: DoctorOptions): Promise<Finding[]> {
  const skip = (summary: string): Finding[] => [finding('upload', 'skip', { summary })];
  if (!state.reachable) return skip('upload not tried: no registry API answered (see above)');
  const authorization = uploadAuthorization(state, options);
  if (authorization === null)
    return skip('upload not tried: no usable credentials (see the token check)');
  if (
    options.username === undefined &&
    state.challenge !== null &&
    state.token?.actions?.includes('push') !== true
  )
    return skip('upload not tried: give --username and --password-stdin of a user who may push');
  const { target } = state;
  const fail = (advice: Advice, data?: Record<string, unknown>): Finding[] => [
    finding('upload', 'fail', advice, data),
  ];
  const auth = authorization !== undefined ? { authorization } : {};
  const findings: Finding[] = [];

  const opened = await openSession(state, options, auth, findings);
  if (opened.kind === 'failed') return [...findings, ...fail(opened.advice)];
  const uploadUrl = opened.url;

  // After a failure the session is cancelled (best effort), as a client would; Berth would also
  // expire it, but a check should leave nothing behind.
  const abandon = async (advice: Advice, data?: Record<string, unknown>): Promise<Finding[]> => {
    await send(state, uploadUrl, { method: 'DELETE', headers: auth }).catch(() => null);
    return [...findings, ...fail(advice, data)];
  };

  const size = options.blobSizeBytes;
  const patch = await streamPatch(
    state,
    uploadUrl,
    authorization,
    size,
    options.stallSeconds * 1000,
  );
  if (patch.kind === 'stall')
    return abandon(stallAdvice(patch.phase, patch.sentBytes, options.stallSeconds));
  if (patch.kind === 'transport') {
    const base = transportAdvice(patch.error, uploadUrl, target);
    return abandon({
      summary: `the PATCH connection broke after ${megabytes(patch.sentBytes)}: ${base.summary}`,
      explanation:
        'Something cut the upload mid-body: typically a proxy enforcing a body-size limit (its 413 lost with the connection) or a timeout.',
      fix: 'nginx: client_max_body_size 0; proxy_request_buffering off; and look at the proxy log for this request',
    });
  }
  if (patch.res.status !== 202) {
    return abandon(
      uploadAdvice('PATCH', patch.res.status, patch.res.body, options, patch.sentBytes),
      {
        status: patch.res.status,
      },
    );
  }
  // The measured upload is never committed (a committed blob's file would stay until garbage
  // collection), so its integrity is judged by the size the registry reports instead of a digest.
  const received = receivedBytes(headerValue(patch.res.headers, 'range'));
  if (received !== undefined && received !== size) {
    return abandon(
      {
        summary: `PATCH → 202, but the registry holds ${received} of the ${size} bytes sent`,
        explanation: 'Something on the way altered or truncated the body.',
        fix: 'check the proxy for body rewriting (compression, filters) and for truncation',
      },
      { received, sent: size },
    );
  }
  const rate = (size / patch.totalMs) * 1000;
  state.upload = { bytes: size, bytesPerSecond: rate };
  if (bufferingSuspected(patch.sendMs, patch.waitMs))
    findings.push(finding('upload', 'warn', bufferingAdvice(patch.sendMs, patch.waitMs, size)));
  const session = await cancelSession(
    state,
    nextUrl(patch.res, uploadUrl, target.origin),
    authorization,
  );

  const proof = await commitProofBlob(state, options, auth, findings);
  if (proof.kind === 'failed') {
    const repository = await deleteRepository(state, options);
    return [
      ...findings,
      ...fail(proof.advice),
      cleanupFinding({ session, repository }, options, PROOF_BLOB.length),
    ];
  }
  const blob = await unlinkBlob(state, options, authorization, proof.digest);
  const repository = await deleteRepository(state, options);
  return [
    finding(
      'upload',
      'pass',
      {
        summary: `${megabytes(size)} went through POST and one streamed PATCH in ${(patch.totalMs / 1000).toFixed(1)} s (${formatRate(rate)}); a ${PROOF_BLOB.length}-byte blob through POST, PATCH and the PUT that commits it`,
      },
      {
        bytes: size,
        seconds: patch.totalMs / 1000,
        bytesPerSecond: Math.round(rate),
        digest: proof.digest,
      },
    ),
    ...findings,
    cleanupFinding({ session, blob, repository }, options, PROOF_BLOB.length),
  ];
}
