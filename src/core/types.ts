/** @module core/types  Shared value types of the registry domain. */
import type { Digest } from './digest.js';

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** An inclusive byte range within an object of known size. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface PageRequest {
  /** Maximum entries; the caller has already clamped it. */
  limit: number;
  /** Exclusive lower bound, in byte order. */
  after?: string;
}

export interface Page<T> {
  items: T[];
  /** True when entries exist beyond this page. */
  more: boolean;
}
