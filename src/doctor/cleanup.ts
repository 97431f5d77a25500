/**
 * @module doctor/cleanup
 * Removing what the upload check made, so that running doctor often (from a cron job, after every
 * proxy change) leaves nothing behind: the measured upload session is cancelled (DELETE on its
 * Location deletes its bytes), the tiny committed blob is unlinked, and the scratch repository is
 * deleted through Berth's admin API. Each step says plainly what stays when it cannot be done.
 */
import { parseChallenge } from './challenge.js';
import { headerValue, send, type HttpResult } from './http-client.js';
import { basicAuthorization, namespaceOf, requestToken } from './token.js';
import { finding, type DoctorOptions, type DoctorState, type Finding } from './types.js';

/** One step of the cleanup: done (or deliberately not, and why), or why what it made stays. */
export type Step = { done: true; kept?: string } | { done: false; why: string };

const DONE: Step = { done: true };
const stays = (why: string): Step => ({ done: false, why });

/** What the cleanup did. */
export interface Cleanup {
  /** The measured upload session (cancelling it deletes its bytes). */
  session: Step;
  /** The tiny committed blob, unlinked from the scratch repository; absent when none was. */
  blob?: Step;
  /** The scratch repository (deleted, or already gone). */
  repository: Step;
}

/** The `errors[0].code` of a registry or admin API error body, if it is one. */
function errorCode(body: Buffer): string | undefined {
  try {
    const json = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown }[] };
    const code = json.errors?.[0]?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

function answered(res: HttpResult | null): string {
  return res === null ? 'no answer' : String(res.status);
}

/** Cancels an upload session, which removes the bytes received so far. */
export async function cancelSession(
  state: DoctorState,
  url: URL,
  authorization: string | undefined,
): Promise<Step> {
  const res = await send(state, url, {
    method: 'DELETE',
    headers: authorization !== undefined ? { authorization } : {},
  }).catch(() => null);
  if (res !== null && res.status >= 200 && res.status < 300) return DONE;
  return stays(`DELETE of the session → ${answered(res)}; the registry drops it when it expires`);
}

/** Unlinks the test blob from the scratch repository; asks for a delete token if need be. */
export async function unlinkBlob(
  state: DoctorState,
  options: DoctorOptions,
  authorization: string | undefined,
  digest: string,
): Promise<Step> {
  const url = new URL(`/v2/${options.repository}/blobs/${digest}`, state.target.origin);
  const attempt = (auth: string | undefined): Promise<HttpResult | null> =>
    send(state, url, {
      method: 'DELETE',
      headers: auth !== undefined ? { authorization: auth } : {},
    }).catch(() => null);
  let res = await attempt(authorization);
  const challenge =
    res?.status === 401 ? parseChallenge(headerValue(res.headers, 'www-authenticate') ?? '') : null;
  if (challenge?.scheme.toLowerCase() === 'bearer' && challenge.params['scope'] !== undefined) {
    const token = await requestToken(state, options, challenge.params['scope']);
    if (token?.kind === 'token') res = await attempt(`Bearer ${token.info.token}`);
  }
  if (res?.status === 202) return DONE;
  return stays(`DELETE of the blob → ${answered(res)}: no delete right, or deletes are off`);
}

/**
 * Deletes the scratch repository with Berth's admin API (`DELETE /api/v1/repositories/NAME`, which
 * takes the same Basic credentials), but only while it holds no tag and no manifest: `--repository`
 * may name a real repository, and a check must never delete images. A GET first tells that, and
 * whether there is anything to delete at all (a Berth that unlists empty repositories has nothing
 * left); a registry without Berth's API is named as such instead of being guessed about.
 */
export async function deleteRepository(state: DoctorState, options: DoctorOptions): Promise<Step> {
  const url = new URL(
    `/api/v1/repositories/${encodeURIComponent(options.repository)}`,
    state.target.origin,
  );
  const headers: Record<string, string> =
    options.username !== undefined
      ? { authorization: basicAuthorization(options.username, options.password ?? '') }
      : {};
  const get = (): Promise<HttpResult | null> => send(state, url, { headers }).catch(() => null);
  const gone = (res: HttpResult | null): boolean =>
    res?.status === 404 && errorCode(res.body) !== undefined;
  const denied = (res: HttpResult | null): boolean => res?.status === 401 || res?.status === 403;
  const who = options.username ?? 'anonymous';
  const ns = namespaceOf(options.repository);
  const look = await get();
  if (gone(look)) return DONE;
  if (denied(look))
    return stays(`the admin API refuses ${who} (GET ${url.pathname} → ${answered(look)})`);
  if (look?.status !== 200)
    return stays(`no Berth admin API answered GET ${url.pathname} (→ ${answered(look)})`);
  if (holdsContent(look.body)) return { done: true, kept: 'it holds images, so doctor keeps it' };
  const res = await send(state, url, { method: 'DELETE', headers }).catch(() => null);
  if (res !== null && res.status >= 200 && res.status < 300) return DONE;
  if (denied(res)) return stays(`DELETE → ${answered(res)}: ${who} may not delete in ${ns}`);
  if (res?.status === 404 || res?.status === 405) {
    // Gone in between, or a Berth from before repositories could be deleted.
    return gone(await get()) ? DONE : stays(`this Berth has no DELETE ${url.pathname} yet`);
  }
  return stays(`DELETE ${url.pathname} → ${answered(res)}`);
}

/** Whether an admin API repository (`{tags, manifests, …}`) holds anything; unreadable counts. */
function holdsContent(body: Buffer): boolean {
  try {
    const repo = JSON.parse(body.toString('utf8')) as { tags?: unknown; manifests?: unknown };
    return repo.tags !== 0 || repo.manifests !== 0;
  } catch {
    return true;
  }
}

/** One line for the cleanup: pass when only the tiny blob's file is left for GC. */
export function cleanupFinding(
  cleanup: Cleanup,
  options: DoctorOptions,
  blobBytes: number,
): Finding {
  const done: string[] = [];
  const left: string[] = [];
  const { session, blob, repository } = cleanup;
  if (session.done) done.push('the measured upload was cancelled (its bytes deleted)');
  else left.push(`the measured upload’s bytes (${session.why})`);
  if (blob?.done === true)
    done.push(
      `the ${blobBytes}-byte test blob unlinked (its file, the same on every run, stays until garbage collection)`,
    );
  else if (blob !== undefined)
    left.push(`the ${blobBytes}-byte test blob in ${options.repository} (${blob.why})`);
  if (repository.done)
    done.push(
      repository.kept !== undefined
        ? `${options.repository} kept (${repository.kept})`
        : `${options.repository} deleted`,
    );
  else left.push(`the scratch repository ${options.repository} (${repository.why})`);
  if (left.length === 0)
    return finding('upload', 'pass', { summary: `cleaned up: ${done.join(', ')}` }, { cleanup });
  return finding(
    'upload',
    'warn',
    {
      summary: `left behind: ${left.join('; ')}`,
      explanation: `The check could not remove everything it made. None of it is an image, but ${
        session.done
          ? 'it shows up in listings'
          : 'it shows up in listings, and the measured upload takes disk space until it expires'
      }.`,
      fix: `run doctor as a user who may delete in namespace ${namespaceOf(options.repository)} (an administrator or maintainer)`,
    },
    { cleanup },
  );
}
