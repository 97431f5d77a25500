/**
 * @module registry/manifest-parse
 * Validates a pushed manifest and extracts what the registry records about it: its media type,
 * the blobs and child manifests it references, its subject and its artifact type. The bytes are
 * never re-serialised: the digest is of exactly what the client sent.
 */
import { tryParseDigest, type Digest } from '../core/digest.js';
import { platformKey } from '../core/namespace-policy.js';
import { manifestInvalid } from '../core/errors.js';
import { isSchema1, manifestKind, MediaType, type ManifestKind } from '../core/media-types.js';
import type { Descriptor } from '../core/types.js';

export interface ParsedManifest {
  mediaType: string;
  kind: ManifestKind;
  /**
   * Blobs (config, layers) and child manifests that must exist in the repository; a child carries
   * its platform (`os/arch[/variant]`, null when it names none) and a layer its role, for the
   * index-children rule (core/namespace-policy.ts).
   */
  references: {
    digest: Digest;
    kind: 'blob' | 'manifest';
    platform?: string | null;
    layer?: boolean;
  }[];
  subject: Descriptor | null;
  /** What the referrers API reports: `artifactType`, else an image's config media type. */
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

const SCHEMA1_MESSAGE =
  'Docker image manifest schema 1 is not supported (deprecated since 2017): push with a current ' +
  'docker, podman or skopeo, or convert with `skopeo copy --format v2s2`';

export function parseManifest(payload: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    throw manifestInvalid('manifest is not valid JSON');
  }
  if (!isObject(doc)) throw manifestInvalid('manifest must be a JSON object');

  const declared = typeof doc['mediaType'] === 'string' ? doc['mediaType'] : undefined;
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  if (
    doc['schemaVersion'] === 1 ||
    (declared && isSchema1(declared)) ||
    (header && isSchema1(header))
  ) {
    throw manifestInvalid(SCHEMA1_MESSAGE);
  }
  if (doc['schemaVersion'] !== 2) throw manifestInvalid('manifest schemaVersion must be 2');

  const headerType = header && manifestKind(header) ? header : undefined;
  if (declared && headerType && declared !== headerType) {
    throw manifestInvalid(
      `Content-Type ${headerType} does not match the manifest's mediaType ${declared}`,
    );
  }
  const mediaType =
    declared ??
    headerType ??
    (Array.isArray(doc['manifests']) ? MediaType.ociIndex : MediaType.ociManifest);
  const kind = manifestKind(mediaType);
  if (!kind) throw manifestInvalid(`unsupported manifest media type ${JSON.stringify(mediaType)}`);

  const subject =
    doc['subject'] === undefined || doc['subject'] === null
      ? null
      : descriptor(doc['subject'], 'subject');
  const annotations = stringMap(doc['annotations'], 'annotations');
  const artifactType = optionalString(doc['artifactType'], 'artifactType');

  if (kind === 'image') {
    const config = descriptor(doc['config'], 'config');
    const layers = descriptorList(doc['layers'], 'layers');
    const references: ParsedManifest['references'] = [{ digest: config.digest, kind: 'blob' }];
    for (const layer of layers) {
      // Foreign / non-distributable layers live elsewhere (their `urls`) and are never pushed.
      if (!isNonDistributable(layer.mediaType))
        references.push({ digest: layer.digest, kind: 'blob', layer: true });
    }
    return {
      mediaType,
      kind,
      references,
      subject,
      artifactType: artifactType ?? config.mediaType,
      annotations,
    };
  }
  const manifests = descriptorList(doc['manifests'], 'manifests');
  const platforms = (doc['manifests'] as unknown[]).map((m) =>
    platformKey((m as Record<string, unknown>)['platform']),
  );
  return {
    mediaType,
    kind,
    references: manifests.map((m, i) => ({
      digest: m.digest,
      kind: 'manifest' as const,
      platform: platforms[i] ?? null,
    })),
    subject,
    artifactType: artifactType ?? null,
    annotations,
  };
}

export function isNonDistributable(mediaType: string): boolean {
  return mediaType.includes('.nondistributable.') || mediaType.includes('.foreign.');
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw manifestInvalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType === '')
    throw manifestInvalid(`${where}.mediaType is missing`);
  const parsed = typeof digest === 'string' ? tryParseDigest(digest) : null;
  if (!parsed) throw manifestInvalid(`${where}.digest is not a valid digest`, { digest });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw manifestInvalid(`${where}.size must be a non-negative integer`);
  }
  return { mediaType, digest: parsed, size };
}

function descriptorList(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw manifestInvalid(`${where} must be an array`);
  return value.map((item, i) => descriptor(item, `${where}[${i}]`));
}

function stringMap(value: unknown, where: string): Record<string, string> | null {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) throw manifestInvalid(`${where} must be an object of strings`);
  for (const v of Object.values(value))
    if (typeof v !== 'string') throw manifestInvalid(`${where} values must be strings`);
  return value as Record<string, string>;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw manifestInvalid(`${where} must be a string`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
