/**
 * @module core/names
 * Repository names and tags, checked against the distribution-spec grammar before anything else
 * sees them. A valid name contains only `[a-z0-9._/-]` with no empty, `.` or `..` segment, so it
 * can never traverse a path.
 */
import { RegistryError, nameInvalid } from './errors.js';

export type RepoName = string & { readonly __brand: 'RepoName' };
export type Tag = string & { readonly __brand: 'Tag' };

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const NAMESPACE = new RegExp(`^${COMPONENT}$`);

/** Clients cap `host/name` at 255 characters; leave room for a host. */
export const MAX_NAME_LENGTH = 255;

export function isValidName(value: string): boolean {
  return value.length <= MAX_NAME_LENGTH && NAME.test(value);
}

export function parseName(value: string): RepoName {
  if (value.length > MAX_NAME_LENGTH)
    throw nameInvalid(value.slice(0, 300), `longer than ${MAX_NAME_LENGTH} characters`);
  if (!NAME.test(value)) {
    throw nameInvalid(
      value,
      'components must be lowercase letters and digits, separated by ".", "_", "__", "-" or "/"',
    );
  }
  return value as RepoName;
}

export function isValidTag(value: string): boolean {
  return TAG.test(value);
}

export function parseTag(value: string): Tag {
  if (!TAG.test(value)) {
    throw new RegistryError(
      'TAG_INVALID',
      'invalid tag: up to 128 characters of [A-Za-z0-9_.-], not starting with "." or "-"',
      { tag: value.slice(0, 200) },
    );
  }
  return value as Tag;
}

export function isValidNamespace(value: string): boolean {
  return value.length <= 128 && NAMESPACE.test(value);
}

/** The namespace of a canonical repository name: its first segment. */
export function namespaceOf(name: RepoName): string {
  const slash = name.indexOf('/');
  return slash === -1 ? name : name.slice(0, slash);
}

/**
 * Maps a requested name to the stored one: a single-segment name lives in the default namespace,
 * as on Docker Hub (`nginx` → `library/nginx`). The mapped name is checked again: a 250-character
 * `nginx…` is fine as sent but too long once `library/` is in front, and a name stored too long
 * would break every listing that parses it (NAME_INVALID before anything is stored).
 */
export function canonicalName(name: RepoName, defaultNamespace: string): RepoName {
  if (name.includes('/')) return name;
  const mapped = `${defaultNamespace}/${name}`;
  if (mapped.length > MAX_NAME_LENGTH) {
    throw nameInvalid(
      name.slice(0, 300),
      `"${defaultNamespace}/" + the name is longer than ${MAX_NAME_LENGTH} characters`,
    );
  }
  return parseName(mapped);
}
