/**
 * @module storage/open
 * The StorageDriver a storage URL names: `file:<dir>` (the embedded default, the data directory)
 * or `s3://BUCKET[/PREFIX]?endpoint=…&region=…&forcePathStyle=true` (storage/s3).
 */
import { ConfigError } from '../config/errors.js';
import type { StorageDriver } from './driver.js';
import { createFsDriver } from './fs/driver.js';

/**
 * `directories`: folders (as keys) a filesystem driver makes at open when missing (the caller's
 * layout: the blob shards), so the first write into each does not pay for it.
 */
export async function openStorage(
  url: string,
  options: { directories?: readonly string[] } = {},
): Promise<StorageDriver> {
  if (url.startsWith('file:')) {
    return createFsDriver({
      root: url.slice('file:'.length),
      ...(options.directories ? { directories: options.directories } : {}),
    });
  }
  if (url.startsWith('s3://')) {
    // Loaded on use: the embedded default needs none of the AWS SDK's modules.
    const { createS3Driver, parseS3Url } = await import('./s3/driver.js');
    return createS3Driver(parseS3Url(url));
  }
  throw new ConfigError(`unknown storage URL ${JSON.stringify(url)}: use file:<dir> or s3://…`);
}
