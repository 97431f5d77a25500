/**
 * @module registry/browse
 * What the web UI shows about stored content: repositories, tags with their sizes and platforms,
 * and a manifest's detail (layers, image configuration, history, referrers). Read-only.
 *
 * Manifests were validated when pushed, but everything inside them (and inside image configs) is
 * untrusted text: it is copied field by field with its type checked, never passed through whole,
 * so a crafted manifest cannot add properties the API did not mean to answer.
 */
import { tryParseDigest } from '../core/digest.js';
import { manifestUnknown } from '../core/errors.js';
import { manifestKind } from '../core/media-types.js';
import type {
  ManifestWithPayload,
  BrowseMeta,
  ManifestMeta,
  NamespaceUsage,
  RepositorySummary,
  Slice,
} from '../meta/store.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey } from './layout.js';
import type { Reference } from './manifests.js';
import type { RepositoryRef } from './repository.js';

/** An image (config + layers), an index of manifests, or an artifact (anything else in a manifest). */
export type ContentKind = 'image' | 'index' | 'artifact';

export interface Platform {
  os: string;
  architecture: string;
  variant: string | null;
}

export interface DescriptorView {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: Record<string, string> | null;
  platform: Platform | null;
}

export interface TagView {
  name: string;
  digest: string;
  mediaType: string;
  kind: ContentKind;
  artifactType: string | null;
  /** Bytes a pull of everything stored for this tag transfers (shared layers counted once). */
  size: number;
  pushedAt: string;
  pushedBy: string | null;
  /** The platforms of an index (attestations left out); empty for a single manifest. */
  platforms: (Platform & { digest: string })[];
}

export interface HistoryEntry {
  created: string | null;
  createdBy: string | null;
  comment: string | null;
  emptyLayer: boolean;
}

export interface ImageConfigView {
  digest: string;
  mediaType: string;
  size: number;
  created: string | null;
  author: string | null;
  os: string | null;
  architecture: string | null;
  variant: string | null;
  env: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
  workingDir: string | null;
  user: string | null;
  exposedPorts: string[];
  labels: Record<string, string>;
  history: HistoryEntry[];
}

export interface ManifestDetail {
  digest: string;
  mediaType: string;
  kind: ContentKind;
  artifactType: string | null;
  size: number;
  totalSize: number;
  pushedAt: string;
  pushedBy: string | null;
  tags: string[];
  annotations: Record<string, string> | null;
  subject: { digest: string; mediaType: string; size: number } | null;
  layers: DescriptorView[];
  config: ImageConfigView | null;
  manifests: DescriptorView[];
  referrers: {
    digest: string;
    mediaType: string;
    artifactType: string | null;
    size: number;
    annotations: Record<string, string> | null;
    createdAt: string;
  }[];
}

export interface Overview {
  namespaces: number;
  repositories: number;
  tags: number;
  manifests: number;
  storage: { blobs: number; bytes: number };
  byNamespace: NamespaceUsage[];
  recentPushes: {
    repository: string;
    tag: string;
    digest: string;
    pushedAt: string;
    pushedBy: string | null;
  }[];
}

export interface BrowseService {
  /** Counts over the given namespaces; `everything` also counts blobs no repository links any more. */
  overview(namespaces: readonly string[], everything: boolean): Promise<Overview>;
  repositories(filter: {
    namespaces: readonly string[];
    query?: string | undefined;
    limit: number;
    offset: number;
  }): Promise<Slice<RepositorySummary>>;
  repository(name: string): Promise<RepositorySummary | null>;
  /** Every blob stored, linked or not: what the storage holds. */
  storageUsed(): Promise<{ blobs: number; bytes: number }>;
  tags(
    repo: RepositoryRef,
    filter: { query?: string | undefined; limit: number; offset: number },
  ): Promise<Slice<TagView>>;
  /** MANIFEST_UNKNOWN when the reference names nothing. */
  manifest(repo: RepositoryRef, ref: Reference): Promise<ManifestDetail>;
}

/** Image configs are small JSON documents; a larger one is shown as absent rather than read. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const RECENT_PUSHES = 10;
const IMAGE_CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);

/** The parts of a stored manifest the views need, tolerant of anything odd inside it. */
interface ManifestShape {
  kind: ContentKind;
  artifactType: string | null;
  config: DescriptorView | null;
  layers: DescriptorView[];
  manifests: DescriptorView[];
  subject: DescriptorView | null;
  annotations: Record<string, string> | null;
}

export function createBrowseService(deps: {
  meta: BrowseMeta & Pick<ManifestMeta, 'getManifest' | 'getTaggedManifest' | 'listReferrers'>;
  storage: StorageDriver;
}): BrowseService {
  const { meta, storage } = deps;

  /** The blobs a pull of this manifest fetches (children of an index included), by digest. */
  async function blobsOf(
    repository: string,
    row: ManifestWithPayload,
    shape: ManifestShape,
  ): Promise<Map<string, number>> {
    const blobs = new Map<string, number>();
    const addOwn = (s: ManifestShape): void => {
      for (const d of [...(s.config ? [s.config] : []), ...s.layers]) blobs.set(d.digest, d.size);
    };
    addOwn(shape);
    for (const child of shape.manifests) {
      blobs.set(child.digest, child.size);
      const stored = await meta.getManifest(repository, child.digest);
      if (stored) addOwn(shapeOf(stored));
    }
    blobs.set(row.digest, row.size);
    return blobs;
  }

  async function totalSize(repository: string, row: ManifestWithPayload, shape: ManifestShape) {
    let sum = 0;
    for (const size of (await blobsOf(repository, row, shape)).values()) sum += size;
    return sum;
  }

  async function readConfig(descriptor: DescriptorView): Promise<ImageConfigView | null> {
    if (!IMAGE_CONFIG_TYPES.has(descriptor.mediaType) || descriptor.size > MAX_CONFIG_BYTES)
      return null;
    // Checked on push, but a row written by hand or an older version must not become a 500 here.
    const digest = tryParseDigest(descriptor.digest);
    if (!digest) return null;
    const stream = await storage.read(blobKey(digest));
    if (!stream) return null;
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > MAX_CONFIG_BYTES) {
        stream.destroy();
        return null;
      }
      chunks.push(chunk);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return null;
    }
    if (!isObject(doc)) return null;
    return imageConfigView(descriptor, doc);
  }

  return {
    async overview(namespaces, everything) {
      const byNamespace = await meta.namespaceUsage(namespaces);
      const sum = (field: 'repositories' | 'tags' | 'manifests'): number =>
        byNamespace.reduce((total, u) => total + u[field], 0);
      return {
        namespaces: namespaces.length,
        repositories: sum('repositories'),
        tags: sum('tags'),
        manifests: sum('manifests'),
        storage: await meta.storageUsed(everything ? 'all' : namespaces),
        byNamespace: byNamespace.sort((a, b) => b.bytes - a.bytes || cmp(a.namespace, b.namespace)),
        recentPushes: await meta.recentTags(namespaces, RECENT_PUSHES),
      };
    },

    repositories: (filter) => meta.findRepositories(filter),
    repository: (name) => meta.getRepositorySummary(name),
    storageUsed: () => meta.storageUsed('all'),

    async tags(repo, filter) {
      const page = await meta.findTags(repo.name, filter);
      const items: TagView[] = [];
      for (const { tag, pushedAt, pushedBy, manifest } of page.items) {
        const shape = shapeOf(manifest);
        items.push({
          name: tag,
          digest: manifest.digest,
          mediaType: manifest.mediaType,
          kind: shape.kind,
          artifactType: shape.artifactType,
          size: await totalSize(repo.name, manifest, shape),
          pushedAt,
          pushedBy,
          platforms: platformsOf(shape),
        });
      }
      return { items, total: page.total };
    },

    async manifest(repo, ref) {
      const row =
        ref.kind === 'tag'
          ? await meta.getTaggedManifest(repo.name, ref.tag)
          : await meta.getManifest(repo.name, ref.digest);
      if (!row) throw manifestUnknown(ref.kind === 'tag' ? ref.tag : ref.digest);
      const shape = shapeOf(row);
      const referrers = await meta.listReferrers(repo.name, row.digest);
      return {
        digest: row.digest,
        mediaType: row.mediaType,
        kind: shape.kind,
        artifactType: shape.artifactType,
        size: row.size,
        totalSize: await totalSize(repo.name, row, shape),
        pushedAt: row.createdAt,
        pushedBy: row.pushedBy,
        tags: await meta.tagsOf(repo.name, row.digest),
        annotations: shape.annotations,
        subject: shape.subject
          ? {
              digest: shape.subject.digest,
              mediaType: shape.subject.mediaType,
              size: shape.subject.size,
            }
          : null,
        layers: shape.layers,
        config: shape.config && shape.kind === 'image' ? await readConfig(shape.config) : null,
        manifests: shape.manifests,
        referrers: referrers.map((r) => ({
          digest: r.digest,
          mediaType: r.mediaType,
          artifactType: r.artifactType,
          size: r.size,
          annotations: r.annotations,
          createdAt: r.createdAt,
        })),
      };
    },
  };
}

/** Reads a stored manifest's JSON into the views' shape (the bytes were validated on push). */
export function shapeOf(row: { mediaType: string; payload: Buffer }): ManifestShape {
  let doc: unknown;
  try {
    doc = JSON.parse(row.payload.toString('utf8'));
  } catch {
    doc = {};
  }
  const m = isObject(doc) ? doc : {};
  const config = descriptorOf(m['config']);
  const layers = arrayOf(m['layers']);
  const manifests = arrayOf(m['manifests']);
  const explicitType = str(m['artifactType']);
  const isIndex = manifestKind(row.mediaType) === 'index';
  const isImage =
    !isIndex &&
    explicitType === null &&
    config !== null &&
    IMAGE_CONFIG_TYPES.has(config.mediaType);
  return {
    kind: isIndex ? 'index' : isImage ? 'image' : 'artifact',
    artifactType: explicitType ?? (isImage || isIndex ? null : (config?.mediaType ?? null)),
    config,
    layers,
    manifests,
    subject: descriptorOf(m['subject']),
    annotations: stringRecord(m['annotations']),
  };
}

/** An index's platforms; attestation manifests (`unknown/unknown`) are not platforms. */
export function platformsOf(shape: ManifestShape): (Platform & { digest: string })[] {
  const platforms: (Platform & { digest: string })[] = [];
  for (const child of shape.manifests) {
    const p = child.platform;
    if (!p || p.os === 'unknown' || p.architecture === 'unknown') continue;
    platforms.push({ ...p, digest: child.digest });
  }
  return platforms;
}

function imageConfigView(
  descriptor: DescriptorView,
  doc: Record<string, unknown>,
): ImageConfigView {
  const c = isObject(doc['config']) ? doc['config'] : {};
  const history = Array.isArray(doc['history']) ? doc['history'] : [];
  return {
    digest: descriptor.digest,
    mediaType: descriptor.mediaType,
    size: descriptor.size,
    created: str(doc['created']),
    author: str(doc['author']),
    os: str(doc['os']),
    architecture: str(doc['architecture']),
    variant: str(doc['variant']),
    env: stringArray(c['Env']) ?? [],
    entrypoint: stringArray(c['Entrypoint']),
    cmd: stringArray(c['Cmd']),
    workingDir: str(c['WorkingDir']),
    user: str(c['User']),
    exposedPorts: isObject(c['ExposedPorts']) ? Object.keys(c['ExposedPorts']).sort() : [],
    labels: stringRecord(c['Labels']) ?? {},
    history: history.filter(isObject).map((h) => ({
      created: str(h['created']),
      createdBy: str(h['created_by']),
      comment: str(h['comment']),
      emptyLayer: h['empty_layer'] === true,
    })),
  };
}

function descriptorOf(value: unknown): DescriptorView | null {
  if (!isObject(value)) return null;
  const digest = str(value['digest']);
  if (digest === null) return null;
  const platform = isObject(value['platform']) ? value['platform'] : null;
  return {
    digest,
    mediaType: str(value['mediaType']) ?? 'application/octet-stream',
    size: typeof value['size'] === 'number' ? value['size'] : 0,
    artifactType: str(value['artifactType']),
    annotations: stringRecord(value['annotations']),
    platform: platform
      ? {
          os: str(platform['os']) ?? 'unknown',
          architecture: str(platform['architecture']) ?? 'unknown',
          variant: str(platform['variant']),
        }
      : null,
  };
}

function arrayOf(value: unknown): DescriptorView[] {
  if (!Array.isArray(value)) return [];
  return value.map(descriptorOf).filter((d): d is DescriptorView => d !== null);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function stringArray(value: unknown): string[] | null {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : null;
}

function stringRecord(value: unknown): Record<string, string> | null {
  if (!isObject(value)) return null;
  // fromEntries defines own properties: a "__proto__" key stays a key, not a prototype.
  return Object.fromEntries(
    Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
