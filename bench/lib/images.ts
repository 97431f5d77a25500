/** The small image (config + one layer) that manifest, tag and catalog scenarios point at. */
import type { Blob } from './blobs.js';
import type { RegistryClient } from './registry-client.js';
import type { ScenarioContext } from './scenario.js';

export interface ImageBlobs {
  config: Blob;
  layer: Blob;
}

export function imageBlobs(ctx: Pick<ScenarioContext, 'blobs'>): ImageBlobs {
  return {
    config: ctx.blobs.blob('image-config', 1024),
    layer: ctx.blobs.blob('image-layer', 32 * 1024),
  };
}

/** Pushes the image's blobs into `repo` once per server run (manifests need them present). */
export async function ensureImageBlobs(
  ctx: ScenarioContext,
  client: RegistryClient,
  repo: string,
): Promise<ImageBlobs> {
  const image = imageBlobs(ctx);
  const key = `image-blobs:${repo}`;
  if (!ctx.state.has(key)) {
    await client.pushMonolithic(repo, image.config);
    await client.pushMonolithic(repo, image.layer);
    ctx.state.set(key, true);
  }
  return image;
}
