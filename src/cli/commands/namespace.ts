/**
 * @module cli/commands/namespace
 * `berth namespace create|list|delete|set`: works on a data directory directly.
 */
import type { Command } from 'commander';
import { RegistryError } from '../../core/errors.js';
import { auditedProxyChange, federationView } from '../../core/federation-view.js';
import { formatSize, parseSize } from '../../core/quota.js';
import { formatRetention, parseRetention } from '../../core/retention-policy.js';
import type { NamespaceRow } from '../../meta/store.js';
import type { Registry } from '../../registry/index.js';
import { dataOptions, withDataDir, type DataFlags } from '../data.js';
import { promptHidden, readFirstLine } from '../secret.js';

/** The upstream's password: piped in, or typed at a terminal with echo off. */
async function readUpstreamPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) return readFirstLine(process.stdin);
  if (!process.stdin.isTTY)
    throw new RegistryError(
      'INVALID_REQUEST',
      'no terminal to read the upstream password from: pipe it in with --proxy-password-stdin',
    );
  return promptHidden('Upstream password: ');
}

/** `a,b` → [a, b]: the members of a group in pull order. */
function memberList(text: string): string[] {
  return text
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
}

/** What a namespace is, for the create and set messages: `proxy of URL (ttl 6h)`. */
function describeKind(row: NamespaceRow): string {
  const { proxy, group } = federationView(row.federation);
  if (proxy)
    return `proxy of ${proxy.url} (ttl ${proxy.ttl}${proxy.username === null ? '' : `, as ${proxy.username}`})`;
  if (group)
    return `group of ${group.members.join(', ')} (${group.pushTo === null ? 'no pushes' : `pushes go to ${group.pushTo}`})`;
  return 'hosted';
}

/** The UPSTREAM / MEMBERS column of `namespace list`. */
function upstreamOrMembers(row: NamespaceRow): string {
  const { proxy, group } = federationView(row.federation);
  if (proxy) return proxy.url;
  if (group) return group.members.map((m) => (m === group.pushTo ? `${m} (push)` : m)).join(',');
  return '-';
}

/**
 * Runs `work` on the data directory's registry; each change it reports through `audited` goes to
 * the audit log as the API's do (`namespace.create|update|delete`), with this command line as actor.
 */
async function withRegistry<T>(
  flags: DataFlags,
  work: (
    registry: Registry,
    audited: (action: string, name: string, detail: Record<string, unknown>) => void,
  ) => Promise<T>,
): Promise<T> {
  return withDataDir(flags, ({ registry, audit, actor }) =>
    work(registry, (action, name, detail) =>
      audit.record({
        actor: actor.name,
        client: actor.client,
        action: `namespace.${action}`,
        target: name,
        outcome: 'success',
        detail,
      }),
    ),
  );
}

export function registerNamespaceCommands(program: Command): void {
  const ns = program
    .command('namespace')
    .description('manage namespaces (the first segment of an image name)');
  dataOptions(
    ns
      .command('create <name>')
      .description(
        'create a namespace so images can be pushed into it, or a proxy (pull-through cache) or a group',
      )
      .option('--public', 'allow anonymous pulls', false)
      .option('--proxy <url>', "a pull-through cache of this upstream registry's origin")
      .option('--proxy-username <user>', 'pull from the upstream as this user')
      .option(
        '--proxy-password-stdin',
        "read the upstream user's password from the first line of stdin",
        false,
      )
      .option(
        '--proxy-ttl <duration>',
        'serve a cached tag this long before asking the upstream again (default 6h)',
      )
      .option('--group <members>', 'a group of these namespaces, pulled from in order: a,b')
      .option('--push-to <member>', 'the hosted member that takes pushes through the group'),
  ).action(
    async (
      name: string,
      flags: DataFlags & {
        public: boolean;
        proxy?: string;
        proxyUsername?: string;
        proxyPasswordStdin: boolean;
        proxyTtl?: string;
        group?: string;
        pushTo?: string;
      },
    ) => {
      const proxyOnly = [
        flags.proxyUsername !== undefined && '--proxy-username',
        flags.proxyPasswordStdin && '--proxy-password-stdin',
        flags.proxyTtl !== undefined && '--proxy-ttl',
      ].find((f) => f !== false);
      if (proxyOnly && flags.proxy === undefined)
        throw new RegistryError('INVALID_REQUEST', `${proxyOnly} needs --proxy URL`);
      if (flags.pushTo !== undefined && flags.group === undefined)
        throw new RegistryError('INVALID_REQUEST', '--push-to needs --group A,B');
      if (flags.proxyPasswordStdin && flags.proxyUsername === undefined)
        throw new RegistryError(
          'INVALID_REQUEST',
          '--proxy-password-stdin needs --proxy-username (the password is that user’s)',
        );
      // Read before the data directory opens: nothing is held open while someone types.
      const credentials =
        flags.proxyUsername === undefined
          ? {}
          : {
              username: flags.proxyUsername,
              password: await readUpstreamPassword(flags.proxyPasswordStdin),
            };
      await withRegistry(flags, async (r, audited) => {
        const row = await r.namespaces.create(name, {
          public: flags.public,
          ...(flags.proxy !== undefined && {
            proxy: {
              url: flags.proxy,
              ...credentials,
              ...(flags.proxyTtl !== undefined && { ttl: flags.proxyTtl }),
            },
          }),
          ...(flags.group !== undefined && {
            group: {
              members: memberList(flags.group),
              ...(flags.pushTo !== undefined && { pushTo: flags.pushTo }),
            },
          }),
        });
        const { kind, proxy, group } = federationView(row.federation);
        audited('create', row.name, {
          public: row.public,
          kind,
          ...(proxy && { proxy }),
          ...(group && { group }),
        });
        const what = kind === 'hosted' ? '' : `: ${describeKind(row)}`;
        process.stdout.write(
          `namespace ${row.name} created${row.public ? ' (public)' : ''}${what}\n`,
        );
      });
    },
  );

  dataOptions(
    ns.command('list').description('list namespaces').option('--json', 'print JSON', false),
  ).action(async (flags: DataFlags & { json: boolean }) => {
    await withRegistry(flags, async (r) => {
      const used = await r.quota.usedBytesByNamespace();
      const rows = (await r.namespaces.list()).map((row) => ({
        ...row,
        usedBytes: used.get(row.name) ?? 0,
      }));
      if (flags.json) {
        // The stored settings hold the upstream password: only their view is printed.
        const printed = rows.map(({ federation, ...row }) => ({
          ...row,
          ...federationView(federation),
        }));
        process.stdout.write(`${JSON.stringify(printed, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${'NAME'.padEnd(32)} ${'KIND'.padEnd(8)} ${'ACCESS'.padEnd(8)} ${'REPOSITORIES'.padEnd(12)} ${'USED / QUOTA'.padEnd(22)} ${'INDEX CHILDREN'.padEnd(16)} ${'IMMUTABLE TAGS'.padEnd(16)} ${'RETENTION'.padEnd(24)} UPSTREAM/MEMBERS\n`,
      );
      for (const row of rows) {
        // "(default)": the namespace inherits manifests.indexChildren from the configuration.
        const children = row.indexChildren ?? '(default)';
        const immutable = row.immutableTags.length > 0 ? row.immutableTags.join(' ') : '-';
        const quota = row.quotaBytes === null ? '-' : formatSize(row.quotaBytes);
        const usage = `${formatSize(row.usedBytes)} / ${quota}`;
        process.stdout.write(
          `${row.name.padEnd(32)} ${row.kind.padEnd(8)} ${(row.public ? 'public' : 'private').padEnd(8)} ${String(row.repositories).padEnd(12)} ${usage.padEnd(22)} ${children.padEnd(16)} ${immutable.padEnd(16)} ${formatRetention(row.retention).padEnd(24)} ${upstreamOrMembers(row)}\n`,
        );
      }
    });
  });

  dataOptions(
    ns
      .command('set <name>')
      .description('change a namespace')
      .option('--public', 'allow anonymous pulls')
      .option('--private', 'require credentials to pull')
      .option(
        '--immutable-tags <pattern>',
        "tags matching this glob (* and ?) cannot be moved or deleted; repeat for more; '' clears",
        (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
      )
      .option('--no-immutable-tags', 'clear the immutable-tag patterns')
      .option(
        '--index-children <which>',
        'index children that must exist: all, none, PLATFORM,... (linux/amd64,linux/arm64), or default (inherit manifests.indexChildren)',
      )
      .option(
        '--quota <size>',
        'bytes its distinct blobs may take: 10GiB, 500MB, 1.5G (K M G T binary, KB MB GB TB decimal), or none',
      )
      .option(
        '--retention <rules>',
        'keep-last=N,keep-days=N,keep-tags=REGEX,untagged-days=N (tags kept if any keep rule matches), or off',
      )
      .option('--proxy <url>', "a proxy's new upstream origin")
      .option('--proxy-username <user>', 'pull from the upstream as this user')
      .option('--no-proxy-credentials', 'pull from the upstream anonymously')
      .option(
        '--proxy-password-stdin',
        "read the upstream user's new password from the first line of stdin",
        false,
      )
      .option('--proxy-ttl <duration>', 'serve a cached tag this long before asking again: 6h')
      .option('--group <members>', "a group's new members, pulled from in order: a,b")
      .option('--push-to <member>', 'the hosted member that takes pushes through the group')
      .option('--no-push-to', 'refuse pushes through the group'),
  ).action(
    async (
      name: string,
      flags: DataFlags & {
        public?: boolean;
        private?: boolean;
        immutableTags?: string[] | false;
        indexChildren?: string;
        quota?: string;
        retention?: string;
        proxy?: string;
        proxyUsername?: string;
        /** False with --no-proxy-credentials (commander's default for a lone --no- flag is true). */
        proxyCredentials: boolean;
        proxyPasswordStdin: boolean;
        proxyTtl?: string;
        group?: string;
        pushTo?: string | false;
      },
    ) => {
      const access = flags.public === true ? true : flags.private === true ? false : undefined;
      if (flags.public === true && flags.private === true)
        throw new RegistryError('INVALID_REQUEST', 'give at most one of --public or --private');
      // `--immutable-tags ''` and `--no-immutable-tags` both clear: an empty pattern matches nothing.
      const immutableTags =
        flags.immutableTags === undefined
          ? undefined
          : flags.immutableTags === false
            ? []
            : flags.immutableTags.filter((p) => p !== '');
      const indexChildren =
        flags.indexChildren === undefined
          ? undefined
          : flags.indexChildren === 'default'
            ? null
            : flags.indexChildren;
      const quotaBytes =
        flags.quota === undefined
          ? undefined
          : flags.quota === 'none'
            ? null
            : parseSize(flags.quota);
      const retention = flags.retention === undefined ? undefined : parseRetention(flags.retention);
      if (flags.proxyUsername !== undefined && !flags.proxyCredentials)
        throw new RegistryError(
          'INVALID_REQUEST',
          'give at most one of --proxy-username or --no-proxy-credentials',
        );
      if (flags.proxyPasswordStdin && !flags.proxyCredentials)
        throw new RegistryError(
          'INVALID_REQUEST',
          '--no-proxy-credentials drops the password: leave out --proxy-password-stdin',
        );
      const proxy = {
        ...(flags.proxy !== undefined && { url: flags.proxy }),
        ...(flags.proxyUsername !== undefined && { username: flags.proxyUsername }),
        ...(!flags.proxyCredentials && { username: null }),
        ...(flags.proxyPasswordStdin && { password: await readFirstLine(process.stdin) }),
        ...(flags.proxyTtl !== undefined && { ttl: flags.proxyTtl }),
      };
      const group = {
        ...(flags.group !== undefined && { members: memberList(flags.group) }),
        ...(flags.pushTo !== undefined && { pushTo: flags.pushTo === false ? null : flags.pushTo }),
      };
      const federation = {
        ...(Object.keys(proxy).length > 0 && { proxy }),
        ...(Object.keys(group).length > 0 && { group }),
      };
      if (
        access === undefined &&
        immutableTags === undefined &&
        indexChildren === undefined &&
        quotaBytes === undefined &&
        retention === undefined &&
        Object.keys(federation).length === 0
      ) {
        throw new RegistryError(
          'INVALID_REQUEST',
          'give --public, --private, --immutable-tags, --index-children, --quota, --retention, a --proxy… or a --group/--push-to option (see --help)',
        );
      }
      await withRegistry(flags, async (r, audited) => {
        // The kind's checks first (the likelier refusal), so a refusal there changes nothing.
        if (federation.proxy || federation.group)
          await r.namespaces.updateFederation(name, federation);
        // Validated before anything changes, so a bad pattern leaves the namespace as it was.
        await r.namespaces.setPolicy(name, {
          ...(immutableTags !== undefined && { immutableTags }),
          ...(indexChildren !== undefined && { indexChildren }),
          ...(quotaBytes !== undefined && { quotaBytes }),
          ...(retention !== undefined && { retention }),
        });
        if (access !== undefined) await r.namespaces.setPublic(name, access);
        const row = await r.namespaces.get(name);
        if (!row) return;
        audited('update', name, {
          ...(access !== undefined && { public: access }),
          ...(immutableTags !== undefined && { immutableTags }),
          ...(indexChildren !== undefined && { indexChildren }),
          ...(quotaBytes !== undefined && { quotaBytes }),
          ...(retention !== undefined && { retention }),
          ...(federation.proxy && { proxy: auditedProxyChange(federation.proxy) }),
          ...(federation.group && { group: federation.group }),
        });
        const changes: string[] = [];
        if (federation.proxy || federation.group) changes.push(describeKind(row));
        if (access !== undefined) changes.push(row.public ? 'public' : 'private');
        if (immutableTags !== undefined)
          changes.push(
            row.immutableTags.length > 0
              ? `immutable tags: ${row.immutableTags.join(' ')}`
              : 'no immutable tags',
          );
        if (indexChildren !== undefined)
          changes.push(`index children: ${row.indexChildren ?? '(default)'}`);
        if (quotaBytes !== undefined)
          changes.push(
            row.quotaBytes === null
              ? 'no quota'
              : `quota: ${formatSize(row.quotaBytes)} (${row.quotaBytes} bytes)`,
          );
        if (retention !== undefined) changes.push(`retention: ${formatRetention(row.retention)}`);
        process.stdout.write(`namespace ${name}: ${changes.join(', ')}\n`);
      });
    },
  );

  dataOptions(
    ns
      .command('delete <name>')
      .description('delete an empty namespace')
      .option(
        '--force',
        'also delete its repositories, tags and manifests (and the default namespace)',
        false,
      ),
  ).action(async (name: string, flags: DataFlags & { force: boolean }) => {
    await withRegistry(flags, async (r, audited) => {
      await r.namespaces.delete(name, { force: flags.force });
      audited('delete', name, { force: flags.force });
      process.stdout.write(`namespace ${name} deleted\n`);
    });
  });
}
