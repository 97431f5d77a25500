import { describe, expect, test } from 'vitest';
import {
  artifactCategory,
  bindingText,
  caDownloadCommand,
  clientSetupCommands,
  firstPushCommands,
  formatBytes,
  formatCount,
  formatDateTime,
  formatDuration,
  formatExpiry,
  formatIndexChildren,
  formatPlatform,
  formatPlatforms,
  formatRelative,
  formatRemoved,
  formatSeconds,
  formatUsage,
  imageReference,
  isDigest,
  mediaTypeLabel,
  plural,
  pullCommand,
  registryHost,
  retentionRules,
  shellJoin,
  shortDigest,
  sortedEntries,
  usagePercent,
  usageTone,
} from './format';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('formatBytes', () => {
  test.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 + 300, '10.3 KiB'],
    [99.94 * 1024, '99.9 KiB'],
    [123 * 1024 * 1024, '123 MiB'],
    [1024 ** 3 * 2.25, '2.3 GiB'],
    [1024 ** 4, '1 TiB'],
    [1024 ** 5 * 3, '3 PiB'],
  ])('%d bytes is %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  test('a value that rounds up to 1024 moves to the next unit', () => {
    expect(formatBytes(1024 * 1024 - 1)).toBe('1 MiB');
    expect(formatBytes(1024 * 1023.7)).toBe('1 MiB');
  });

  test('fractional byte counts round to whole bytes', () => {
    expect(formatBytes(10.6)).toBe('11 B');
  });

  test('nonsense is a dash, never NaN', () => {
    expect(formatBytes(Number.NaN)).toBe('—');
    expect(formatBytes(-1)).toBe('—');
    expect(formatBytes(Infinity)).toBe('—');
  });
});

describe('counts', () => {
  test('thousands separators', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(1234567)).toBe('1,234,567');
  });

  test('plural picks the form by count', () => {
    expect(plural(1, 'tag')).toBe('1 tag');
    expect(plural(0, 'tag')).toBe('0 tags');
    expect(plural(2, 'repository', 'repositories')).toBe('2 repositories');
    expect(plural(1500, 'blob')).toBe('1,500 blobs');
  });
});

describe('formatRelative', () => {
  const now = Date.parse('2025-06-15T12:00:00Z');
  const ago = (seconds: number): string => new Date(now - seconds * 1000).toISOString();

  test.each([
    [0, 'just now'],
    [44, 'just now'],
    [60, '1 minute ago'],
    [90, '2 minutes ago'],
    [59 * 60, '59 minutes ago'],
    [3600, '1 hour ago'],
    [5 * 3600, '5 hours ago'],
    [86_400, '1 day ago'],
    [29 * 86_400, '29 days ago'],
    [45 * 86_400, '2 months ago'],
    [400 * 86_400, '1 year ago'],
    [3 * 365 * 86_400, '3 years ago'],
  ])('%d seconds ago reads %s', (seconds, text) => {
    expect(formatRelative(ago(seconds), now)).toBe(text);
  });

  test('the future reads "in …"', () => {
    expect(formatRelative(ago(-3 * 86_400), now)).toBe('in 3 days');
    expect(formatRelative(ago(-120), now)).toBe('in 2 minutes');
  });

  test('an unparseable time is unknown', () => {
    expect(formatRelative('yesterday-ish', now)).toBe('unknown');
  });
});

describe('formatDateTime', () => {
  test('ISO-like date and 24-hour time in the given zone', () => {
    expect(formatDateTime('2025-01-02T03:04:05Z', 'UTC')).toBe('2025-01-02 03:04 UTC');
    expect(formatDateTime('2025-01-02T23:30:00Z', 'Europe/Berlin')).toBe('2025-01-03 00:30');
    expect(formatDateTime('2025-07-01T00:00:00Z', 'America/New_York')).toBe('2025-06-30 20:00');
  });

  test('midnight is 00, not 24', () => {
    expect(formatDateTime('2025-01-02T00:00:00Z', 'UTC')).toBe('2025-01-02 00:00 UTC');
  });

  test('an unparseable time is unknown', () => {
    expect(formatDateTime('', 'UTC')).toBe('unknown');
  });
});

describe('formatExpiry', () => {
  const now = Date.parse('2025-06-15T12:00:00Z');
  test('never, future and past', () => {
    expect(formatExpiry(null, now)).toBe('never');
    expect(formatExpiry('2025-07-15T12:00:00Z', now)).toBe('in 1 month');
    expect(formatExpiry('2025-06-13T12:00:00Z', now)).toBe('expired 2 days ago');
    expect(formatExpiry('garbage', now)).toBe('unknown');
  });
});

describe('formatSeconds', () => {
  test.each([
    [1, '1 second'],
    [45, '45 seconds'],
    [90, '90 seconds'],
    [300, '5 minutes'],
    [3600, '1 hour'],
    [5400, '90 minutes'],
    [86_400, '1 day'],
    [7 * 86_400, '7 days'],
  ])('%d seconds is %s', (seconds, text) => {
    expect(formatSeconds(seconds)).toBe(text);
  });
});

describe('platforms', () => {
  test('os/architecture with the variant when there is one', () => {
    expect(formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(
      'linux/arm64/v8',
    );
    expect(formatPlatform({ os: 'linux', architecture: 'amd64', variant: null })).toBe(
      'linux/amd64',
    );
    expect(formatPlatform({ os: 'windows', architecture: 'amd64' })).toBe('windows/amd64');
  });

  test('a missing platform is unknown', () => {
    expect(formatPlatform(null)).toBe('unknown');
    expect(formatPlatform({ os: 'linux' })).toBe('unknown');
    expect(formatPlatform({ os: '', architecture: 'amd64' })).toBe('unknown');
  });

  test('an index lists each platform once, sorted, without attestation entries', () => {
    expect(
      formatPlatforms([
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
        { os: 'linux', architecture: 'amd64', variant: null },
        { os: 'unknown', architecture: 'unknown', variant: null },
        { os: 'linux', architecture: 'amd64', variant: null },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ]),
    ).toEqual(['linux/amd64', 'linux/arm/v7', 'linux/arm64/v8']);
    expect(formatPlatforms([])).toEqual([]);
  });
});

describe('digests', () => {
  test('short form keeps the algorithm and 12 hex digits', () => {
    expect(shortDigest(DIGEST)).toBe('sha256:0123456789ab');
    expect(shortDigest(DIGEST, 7)).toBe('sha256:0123456');
    expect(shortDigest(`sha512:${'f'.repeat(128)}`)).toBe(`sha512:${'f'.repeat(12)}`);
    expect(shortDigest('0123456789abcdef')).toBe('0123456789ab');
  });

  test('a digest is told apart from a tag', () => {
    expect(isDigest(DIGEST)).toBe(true);
    expect(isDigest('latest')).toBe(false);
    expect(isDigest('v1.2.3')).toBe(false);
    expect(isDigest('sha256-abc.sig')).toBe(false);
  });
});

describe('registry host and pull commands', () => {
  test('the external URL wins, with its port', () => {
    expect(registryHost('https://registry.example.com', '127.0.0.1:5000')).toBe(
      'registry.example.com',
    );
    expect(registryHost('https://registry.example.com:8443/', 'x')).toBe(
      'registry.example.com:8443',
    );
  });

  test('without (or with a broken) external URL, the page host', () => {
    expect(registryHost(null, '127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(registryHost('', '127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(registryHost('not a url', 'reg:5000')).toBe('reg:5000');
  });

  test('a tag is joined with a colon, a digest with an at sign', () => {
    expect(imageReference('reg:5000', 'library/nginx', 'latest')).toBe(
      'reg:5000/library/nginx:latest',
    );
    expect(imageReference('reg:5000', 'team/app/api', DIGEST)).toBe(
      `reg:5000/team/app/api@${DIGEST}`,
    );
  });

  test('docker and podman pull commands', () => {
    expect(pullCommand('docker', 'reg:5000', 'library/nginx', '1.27')).toBe(
      'docker pull reg:5000/library/nginx:1.27',
    );
    expect(pullCommand('podman', 'reg', 'library/nginx', DIGEST)).toBe(
      `podman pull reg/library/nginx@${DIGEST}`,
    );
  });

  test('first push and client set-up name the host everywhere', () => {
    expect(firstPushCommands('reg:5000', 'alice', 'library')).toEqual([
      'docker login reg:5000 -u alice',
      'docker tag hello:latest reg:5000/library/hello:1.0',
      'docker push reg:5000/library/hello:1.0',
    ]);
    expect(caDownloadCommand('reg:5000')).toBe(
      'curl -k -o ca.crt https://reg:5000/ca.crt && openssl x509 -noout -fingerprint -sha256 -in ca.crt',
    );
    expect(clientSetupCommands('reg:5000')).toEqual([
      {
        client: 'docker',
        commands: [
          'sudo mkdir -p /etc/docker/certs.d/reg:5000 && sudo cp ca.crt /etc/docker/certs.d/reg:5000/ca.crt',
          'docker login reg:5000',
        ],
      },
      {
        client: 'podman / skopeo',
        commands: [
          'sudo mkdir -p /etc/containers/certs.d/reg:5000 && sudo cp ca.crt /etc/containers/certs.d/reg:5000/ca.crt',
          'podman login reg:5000',
        ],
      },
    ]);
  });
});

describe('media types and artifacts', () => {
  test('known media types get short names', () => {
    expect(mediaTypeLabel('application/vnd.oci.image.manifest.v1+json')).toBe('OCI image manifest');
    expect(mediaTypeLabel('application/vnd.docker.distribution.manifest.list.v2+json')).toBe(
      'Docker manifest list',
    );
    expect(mediaTypeLabel('application/vnd.oci.image.layer.v1.tar+gzip')).toBe('layer, tar+gzip');
    expect(mediaTypeLabel('application/vnd.oci.image.layer.v1.tar+zstd')).toBe('layer, tar+zstd');
    expect(mediaTypeLabel('application/vnd.oci.image.layer.v1.tar')).toBe('layer, tar');
    expect(mediaTypeLabel('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip')).toBe(
      'foreign layer, tar+gzip',
    );
  });

  test('anything else is shown as it is', () => {
    expect(mediaTypeLabel('application/x-custom')).toBe('application/x-custom');
  });

  test.each([
    ['application/vnd.dev.cosign.artifact.sig.v1+json', 'signature'],
    ['application/vnd.cncf.notary.signature', 'signature'],
    ['application/spdx+json', 'sbom'],
    ['application/vnd.cyclonedx+json', 'sbom'],
    ['application/vnd.syft+json', 'sbom'],
    ['application/vnd.in-toto+json', 'attestation'],
    ['application/vnd.dsse.envelope.v1+json', 'attestation'],
    ['application/vnd.example.thing', 'artifact'],
    [null, 'artifact'],
  ])('%s is a %s', (type, category) => {
    expect(artifactCategory(type)).toBe(category);
  });
});

describe('text helpers', () => {
  test('annotations sorted by key; none is empty', () => {
    expect(sortedEntries({ b: '2', a: '1', 'org.opencontainers.x': '3' })).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['org.opencontainers.x', '3'],
    ]);
    expect(sortedEntries(null)).toEqual([]);
    expect(sortedEntries(undefined)).toEqual([]);
  });

  test('shellJoin quotes only what the shell would split or expand', () => {
    expect(shellJoin(['/bin/sh', '-c', 'echo $HOME && ls'])).toBe(`/bin/sh -c 'echo $HOME && ls'`);
    expect(shellJoin(['nginx', '-g', 'daemon off;'])).toBe(`nginx -g 'daemon off;'`);
    expect(shellJoin(['echo', "it's"])).toBe(`echo 'it'\\''s'`);
    expect(shellJoin(['run', ''])).toBe(`run ''`);
  });
});

describe('bindingText', () => {
  test('says where a role applies', () => {
    expect(bindingText({ role: 'developer', namespace: null })).toBe('developer everywhere');
    expect(bindingText({ role: 'developer', namespace: '' })).toBe('developer everywhere');
    expect(bindingText({ role: 'viewer', namespace: 'team-a' })).toBe('viewer in team-a');
  });
});

describe('formatDuration', () => {
  test.each([
    [0, '0 ms'],
    [349.6, '350 ms'],
    [1000, '1 s'],
    [1234, '1.2 s'],
    [9949, '9.9 s'],
    [9950, '10 s'],
    [42_400, '42 s'],
    [59_600, '1 min'],
    [125_000, '2 min 5 s'],
    [3_600_000, '1 h'],
    [3_780_000, '1 h 3 min'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test('nonsense is a dash', () => {
    expect(formatDuration(-1)).toBe('—');
    expect(formatDuration(Number.NaN)).toBe('—');
  });
});

describe('quota usage', () => {
  const GiB = 1024 ** 3;
  test('used of quota, with the share rounded down', () => {
    expect(formatUsage(1.2 * GiB, 10 * GiB)).toBe('1.2 GiB of 10 GiB (12%)');
    // Not yet full, though the size rounds to the quota's.
    expect(formatUsage(GiB - 1, GiB)).toBe('1 GiB of 1 GiB (99%)');
    expect(formatUsage(5 * GiB, null)).toBe('5 GiB');
  });

  test('tones: fine, nearly full, full (or over a lowered quota)', () => {
    expect(usageTone(79, 100)).toBe('good');
    expect(usageTone(80, 100)).toBe('warn');
    expect(usageTone(100, 100)).toBe('bad');
    expect(usageTone(150, 100)).toBe('bad');
    expect(usageTone(10 * GiB, null)).toBe('good');
    expect(usagePercent(150, 100)).toBe(150);
  });

  test('a zero quota is full as soon as anything is stored', () => {
    expect(usagePercent(0, 0)).toBe(0);
    expect(usagePercent(1, 0)).toBe(100);
  });
});

describe('retentionRules', () => {
  test('every rule, in words', () => {
    expect(
      retentionRules({ keepLast: 10, keepDays: 30, keepTags: '^v\\d', untaggedDays: 7 }),
    ).toEqual([
      'keep the 10 newest tags of each repository',
      'keep tags pushed or pulled within 30 days',
      'keep tags matching ^v\\d',
      'remove untagged manifests after 7 days',
    ]);
    expect(retentionRules({ keepLast: 1, keepDays: 1 })).toEqual([
      'keep the newest tag of each repository',
      'keep tags pushed or pulled within 1 day',
    ]);
  });

  test('without a keep-rule no tag is removed, and it says so', () => {
    expect(retentionRules({ untaggedDays: 0 })).toEqual([
      'keep every tag',
      'keep untagged manifests',
    ]);
  });

  test('no policy is no rules', () => {
    expect(retentionRules(null)).toEqual([]);
  });
});

describe('formatIndexChildren', () => {
  test.each([
    [null, 'as the registry is configured'],
    ['all', 'every child must exist'],
    ['none', 'children may be missing'],
    ['linux/amd64,linux/arm64', 'only linux/amd64, linux/arm64 must exist'],
  ])('%s reads %s', (value, text) => {
    expect(formatIndexChildren(value)).toBe(text);
  });
});

describe('formatRemoved', () => {
  const empty = {
    durationMs: 10,
    manifests: 0,
    blobs: 0,
    bytes: 0,
    links: 0,
    uploads: 0,
    orphanFiles: 0,
    graceMs: 3_600_000,
    retention: null,
  };

  test('only what was removed, links left out (they hold no bytes)', () => {
    expect(formatRemoved({ ...empty, manifests: 1, blobs: 12, links: 40, uploads: 2 })).toBe(
      '1 manifest, 12 blobs, 2 uploads',
    );
    expect(
      formatRemoved({ ...empty, blobs: 1, orphanFiles: 3, retention: { tags: 4, manifests: 2 } }),
    ).toBe('4 tags, 1 blob, 3 orphan files');
  });

  test('a run that found nothing says so', () => {
    expect(formatRemoved(empty)).toBe('nothing');
    expect(formatRemoved({ ...empty, links: 3, retention: { tags: 0, manifests: 0 } })).toBe(
      'nothing',
    );
  });
});
