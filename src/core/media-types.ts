/** @module core/media-types  The manifest media types Berth knows, and which kind each one is. */

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  octetStream: 'application/octet-stream',
} as const;

export type ManifestKind = 'image' | 'index';

const KINDS: ReadonlyMap<string, ManifestKind> = new Map([
  [MediaType.ociManifest, 'image'],
  [MediaType.dockerManifest, 'image'],
  [MediaType.ociIndex, 'index'],
  [MediaType.dockerManifestList, 'index'],
]);

/** The kind of a supported manifest media type, or undefined for anything else. */
export function manifestKind(mediaType: string): ManifestKind | undefined {
  return KINDS.get(mediaType);
}

export const SUPPORTED_MANIFEST_TYPES: readonly string[] = [...KINDS.keys()];

export function isSchema1(mediaType: string): boolean {
  return mediaType === MediaType.dockerSchema1 || mediaType === MediaType.dockerSchema1Signed;
}
