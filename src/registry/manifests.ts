/**
 * @module registry/manifests
 * Manifests and tags. A manifest's exact bytes are kept in the metadata store (they are small and
 * a pull then costs one lookup); its references, subject and tags are written in the same
 * transaction, so a tag can never point at a manifest whose content is missing.
 */
import { digestAlgorithm, digestOf, tryParseDigest, type Digest } from '../core/digest.js';
import { RegistryError, digestInvalid, manifestUnknown, stillReferenced } from '../core/errors.js';
import { immutableTagDenied } from '../core/namespace-policy.js';
import { quotaExceeded } from '../core/quota.js';
import { parseTag, isValidTag, type Tag } from '../core/names.js';
import type { ManifestMeta, ManifestWithPayload } from '../meta/store.js';
import { parseManifest } from './manifest-parse.js';
import { namespaceMissing, type RepositoryRef } from './repository.js';

/** A manifest reference from a URL: a tag or a digest. */
export type Reference = { kind: 'tag'; tag: Tag } | { kind: 'digest'; digest: Digest };

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  size: number;
  payload: Buffer;
}

export interface PutManifestResult {
  digest: Digest;
  subject: Digest | null;
  tags: Tag[];
}

export interface ManifestService {
  get(repo: RepositoryRef, ref: Reference): Promise<StoredManifest>;
  put(
    repo: RepositoryRef,
    ref: Reference,
    payload: Buffer,
    contentType: string | undefined,
    extraTags: readonly Tag[],
    /** The pushing user, recorded for the web UI; null without authentication. */
    pushedBy: string | null,
    /** A proxy's cache stores manifests before the content they list (fetched when pulled). */
    overrides?: { verifyReferences?: boolean },
  ): Promise<PutManifestResult>;
  /**
   * By digest: the manifest and its tags (REFERENCED while an index of the repository
   * lists it); by tag: only the tag.
   */
  delete(repo: RepositoryRef, ref: Reference): Promise<void>;
}

export interface ManifestOptions {
  /** Refuse manifests whose blobs or child manifests are not in the repository (MANIFEST_BLOB_UNKNOWN). */
  verifyReferences: boolean;
  /**
   * Which children of an index must exist (`manifests.indexChildren`: 'all', 'none' or a platform
   * list), unless the namespace sets its own.
   */
  indexChildren: string;
}

/**
 * Parses a URL reference. Anything with a colon is meant as a digest and must be valid
 * (DIGEST_INVALID); anything else must be a valid tag (TAG_INVALID).
 */
export function parseReference(value: string): Reference {
  if (value.includes(':')) {
    const digest = tryParseDigest(value);
    if (!digest)
      throw digestInvalid('invalid digest in manifest reference', {
        reference: value.slice(0, 300),
      });
    return { kind: 'digest', digest };
  }
  return { kind: 'tag', tag: parseTag(value) };
}

/** For reads and deletes: a reference that cannot exist is simply unknown (404), as clients expect. */
export function parseReadReference(value: string): Reference {
  if (!value.includes(':') && !isValidTag(value)) throw manifestUnknown(value.slice(0, 300));
  return parseReference(value);
}

export function createManifestService(deps: {
  meta: ManifestMeta;
  options: ManifestOptions;
}): ManifestService {
  const { meta, options } = deps;

  async function find(repo: RepositoryRef, ref: Reference): Promise<ManifestWithPayload | null> {
    return ref.kind === 'tag'
      ? meta.getTaggedManifest(repo.name, ref.tag)
      : meta.getManifest(repo.name, ref.digest);
  }

  return {
    async get(repo, ref) {
      const row = await find(repo, ref);
      if (!row) throw manifestUnknown(ref.kind === 'tag' ? ref.tag : ref.digest);
      return {
        digest: row.digest as Digest,
        mediaType: row.mediaType,
        size: row.size,
        payload: row.payload,
      };
    },

    async put(repo, ref, payload, contentType, extraTags, pushedBy, overrides) {
      const parsed = parseManifest(payload, contentType);
      const digest = digestOf(
        payload,
        ref.kind === 'digest' ? digestAlgorithm(ref.digest) : 'sha256',
      );
      if (ref.kind === 'digest' && ref.digest !== digest) {
        throw digestInvalid('manifest digest does not match the digest in the URL', {
          expected: ref.digest,
          actual: digest,
        });
      }
      const tags = [...new Set([...(ref.kind === 'tag' ? [ref.tag] : []), ...extraTags])];
      const result = await meta.putManifest({
        repository: repo.name,
        namespace: repo.namespace,
        digest,
        mediaType: parsed.mediaType,
        payload,
        artifactType: parsed.artifactType,
        subject: parsed.subject?.digest ?? null,
        annotations: parsed.annotations,
        references: parsed.references,
        verifyReferences: overrides?.verifyReferences ?? options.verifyReferences,
        indexChildren: options.indexChildren,
        tags,
        pushedBy,
      });
      if (!result.ok) {
        if ('namespaceMissing' in result) throw namespaceMissing(repo.namespace);
        if ('immutable' in result) throw immutableTagDenied(result.immutable, 'moved');
        if ('quota' in result) throw quotaExceeded(result.quota);
        const first = result.missing[0];
        throw new RegistryError(
          'MANIFEST_BLOB_UNKNOWN',
          `manifest references ${result.missing.length} ${first?.kind === 'manifest' ? 'manifest(s)' : 'blob(s)'} not in this repository; push them first`,
          { missing: result.missing.map((m) => m.digest) },
        );
      }
      return { digest, subject: parsed.subject?.digest ?? null, tags };
    },

    async delete(repo, ref) {
      if (ref.kind === 'tag') {
        const result = await meta.deleteTag(repo.name, ref.tag);
        // 'changed' only answers a conditional delete (retention's), never this one.
        if (result === 'unknown' || result === 'changed') throw manifestUnknown(ref.tag);
        if (result !== 'deleted') throw immutableTagDenied(result.immutable, 'deleted');
        return;
      }
      const result = await meta.deleteManifest(repo.name, ref.digest);
      if (result === 'unknown' || result === 'changed') throw manifestUnknown(ref.digest);
      if (result === 'deleted') return;
      if ('immutable' in result) throw immutableTagDenied(result.immutable, 'deleted');
      throw stillReferenced('manifest', ref.digest, result.referencedBy);
    },
  };
}
