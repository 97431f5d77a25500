import { describe, expect, test } from 'vitest';
import {
  manifestHref,
  namespaceHref,
  parseNamespacePath,
  parseRepositoryPath,
  repositoryHref,
  safeReturnPath,
} from './paths';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('repository and manifest addresses', () => {
  test('a name keeps its slashes', () => {
    expect(repositoryHref('library/nginx')).toBe('/repositories/library/nginx');
    expect(repositoryHref('team/app/api')).toBe('/repositories/team/app/api');
  });

  test('a manifest lives under /-/manifests/', () => {
    expect(manifestHref('library/nginx', DIGEST)).toBe(
      `/repositories/library/nginx/-/manifests/sha256%3A${'ab'.repeat(32)}`,
    );
    expect(manifestHref('library/nginx', 'v1.0')).toBe(
      '/repositories/library/nginx/-/manifests/v1.0',
    );
  });

  test('round trips', () => {
    for (const [name, reference] of [
      ['library/nginx', DIGEST],
      ['a/b/c/d', 'latest'],
      ['team-x/app_1.2', 'v1.2.3-rc.1'],
    ] as const) {
      const path = manifestHref(name, reference).slice('/repositories/'.length);
      expect(parseRepositoryPath(path)).toEqual({ repository: name, manifest: reference });
      expect(parseRepositoryPath(repositoryHref(name).slice('/repositories/'.length))).toEqual({
        repository: name,
        manifest: null,
      });
    }
  });

  test('a raw colon in a typed-in digest is accepted, and a trailing slash ignored', () => {
    expect(parseRepositoryPath(`library/nginx/-/manifests/${DIGEST}`)).toEqual({
      repository: 'library/nginx',
      manifest: DIGEST,
    });
    expect(parseRepositoryPath('library/nginx/')).toEqual({
      repository: 'library/nginx',
      manifest: null,
    });
  });

  test('nonsense is not a page', () => {
    expect(parseRepositoryPath('')).toBeNull();
    expect(parseRepositoryPath('library/nginx/-/tags')).toBeNull();
    expect(parseRepositoryPath('library/nginx/-/manifests/')).toBeNull();
    expect(parseRepositoryPath('library/%E0%A4%A')).toBeNull();
  });
});

describe('safeReturnPath', () => {
  test('paths on this site come back', () => {
    expect(safeReturnPath('/repositories?q=x')).toBe('/repositories?q=x');
    expect(safeReturnPath('/repositories/library/nginx')).toBe('/repositories/library/nginx');
  });

  test('anything that could leave the site, or loop to the sign-in page, goes home', () => {
    for (const bad of [
      null,
      '',
      'https://evil.example',
      '//evil.example',
      '/\\evil.example',
      'x',
    ]) {
      expect(safeReturnPath(bad)).toBe('/');
    }
    expect(safeReturnPath('/login?next=/')).toBe('/');
  });
});

describe('namespace addresses', () => {
  test('a namespace page and back', () => {
    expect(namespaceHref('team-a')).toBe('/namespaces/team-a');
    expect(parseNamespacePath('team-a')).toBe('team-a');
    expect(parseNamespacePath('team-a/')).toBe('team-a');
    expect(parseNamespacePath(namespaceHref('a b').slice('/namespaces/'.length))).toBe('a b');
  });

  test('anything deeper, empty or malformed is no namespace', () => {
    expect(parseNamespacePath('')).toBeNull();
    expect(parseNamespacePath('team/app')).toBeNull();
    expect(parseNamespacePath('%E0%A4%A')).toBeNull();
  });
});
