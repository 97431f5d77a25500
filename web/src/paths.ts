/**
 * The SPA's addresses: where a repository or manifest page lives, and reading them back. Pure
 * functions (no DOM), unit-tested in node.
 */

/** `/repositories/team/app` for `team/app` (names have slashes; each segment is encoded). */
export function repositoryHref(name: string): string {
  return `/repositories/${name.split('/').map(encodeURIComponent).join('/')}`;
}

/** `/namespaces/team`: a namespace's usage and rules (its names have no slash). */
export function namespaceHref(name: string): string {
  return `/namespaces/${encodeURIComponent(name)}`;
}

/** The namespace named by the part after `/namespaces/`; null for anything else. */
export function parseNamespacePath(rest: string): string | null {
  const segment = rest.replace(/\/$/, '');
  if (segment === '' || segment.includes('/')) return null;
  try {
    return decodeURIComponent(segment);
  } catch {
    // A malformed percent-escape in a typed-in address.
    return null;
  }
}

/** The page of one manifest, by digest or tag. `/-/` cannot occur inside a repository name. */
export function manifestHref(repository: string, reference: string): string {
  return `${repositoryHref(repository)}/-/manifests/${encodeURIComponent(reference)}`;
}

/** The inverse of repositoryHref / manifestHref for the part after `/repositories/`. */
export function parseRepositoryPath(
  rest: string,
): { repository: string; manifest: string | null } | null {
  const [namePart = '', tail] = rest.split('/-/', 2);
  try {
    const repository = namePart.replace(/\/+$/, '').split('/').map(decodeURIComponent).join('/');
    if (repository === '') return null;
    if (tail === undefined) return { repository, manifest: null };
    const m = /^manifests\/([^/]+)\/?$/.exec(tail);
    if (!m?.[1]) return null;
    return { repository, manifest: decodeURIComponent(m[1]) };
  } catch {
    // A malformed percent-escape in a typed-in address.
    return null;
  }
}

/** Only same-site absolute paths: a `next=` parameter must never send anyone elsewhere. */
export function safeReturnPath(candidate: string | null): string {
  if (candidate === null || !candidate.startsWith('/') || candidate.startsWith('//')) return '/';
  if (candidate.startsWith('/\\') || candidate.startsWith('/login')) return '/';
  return candidate;
}
