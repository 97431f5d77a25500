/**
 * What an operator sees when something is wrong: every start-up and CLI error is one line on
 * stderr — what, where, the fix — with exit code 1 and no stack trace; a usage error is the error
 * and a pointer to the command's help, not the whole help text. Also what `serve` prints where:
 * stdout carries only JSON log lines, the human text goes to stderr.
 */
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, CLI, makeTempDir } from '../helpers/server.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Generous for a loaded machine; only a command that wrongly keeps running reaches it. */
const DEADLINE_MS = 60_000;

/** Runs `berth ARGS` to its end (killed at the deadline: a refusal that serves instead); stdin gets `input`. */
function berth(
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
    child.on('error', reject);
    // 'close', not 'exit': both streams have been read to their end.
    child.on('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A refusal: exit code 1, nothing on stdout, exactly `lines` on stderr, no stack trace. */
function expectRefusal(result: Result, ...lines: string[]): void {
  expect(result.stderr).toBe(lines.map((l) => `${l}\n`).join(''));
  expect(result.stderr).not.toContain('    at ');
  expect(result.stdout).toBe('');
  expect(result.code).toBe(1);
}

let work: string;
/** An initialised data directory: nothing about creating one gets in the way of the message. */
let data: string;

beforeAll(async () => {
  work = await makeTempDir('berth-cli-errors-');
  data = path.join(work, 'data');
  const init = await berth(['namespace', 'list', '--data', data]);
  expect(init.code).toBe(0);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('berth serve refuses to start, in one line', () => {
  it('when the port is in use, naming the address', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      const result = await berth(['serve', '--listen', `127.0.0.1:${port}`, '--data', data]);
      expectRefusal(
        result,
        `berth: cannot listen on 127.0.0.1:${port}: the address is already in use (another berth serve ` +
          'or another program listens there); stop it or choose another port with --listen',
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('when the address belongs to no interface of this machine', async () => {
    // 192.0.2.0/24 is reserved for documentation: binding fails locally, nothing is sent.
    const result = await berth(['serve', '--listen', '192.0.2.1:5000', '--data', data]);
    expectRefusal(
      result,
      'berth: cannot listen on 192.0.2.1:5000: no network interface of this machine has that ' +
        'address; listen on one of its own addresses, 127.0.0.1:PORT, or :PORT for all of them (--listen)',
    );
  });

  it('when the host name does not resolve', async () => {
    // An empty label makes the resolver fail before any DNS query leaves the machine.
    const result = await berth(['serve', '--listen', 'registry..example:5000', '--data', data]);
    expectRefusal(
      result,
      'berth: cannot listen on registry..example: the host name does not resolve; give an IP ' +
        'address of this machine (e.g. --listen 127.0.0.1:5000) or :PORT for all interfaces',
    );
  });

  it('when --data is a file or lies under one, blaming that file (not tls/server.crt)', async () => {
    const file = path.join(work, 'a-file');
    await writeFile(file, 'not a directory\n');
    for (const dir of [file, path.join(file, 'data')]) {
      const result = await berth(['serve', '--listen', '127.0.0.1:0', '--data', dir]);
      expectRefusal(
        result,
        `berth: cannot use ${dir} as the data directory: ${file} is a file, not a directory; ` +
          'move it or choose another --data',
      );
    }
  });

  it.skipIf(process.getuid?.() !== 0)(
    'when --data is not writable by the user running it (run as nobody; needs root)',
    async () => {
      const shared = path.join(work, 'shared');
      await mkdir(shared, { mode: 0o755 });
      // The test's own temp folder is private (0700); nobody must be able to enter it.
      await chmod(work, 0o755);
      try {
        const nobody = { uid: 65534, gid: 65534 };
        const inside = path.join(shared, 'data');
        expectRefusal(
          await berth(['serve', '--listen', '127.0.0.1:0', '--data', inside], nobody),
          `berth: cannot use ${inside} as the data directory: ${shared} is not writable by user ` +
            `nobody; create it for them (install -d -o nobody ${inside}) or choose another --data`,
        );
        expectRefusal(
          await berth(['serve', '--listen', '127.0.0.1:0', '--data', shared], nobody),
          `berth: cannot use ${shared} as the data directory: ${shared} is not writable by user ` +
            `nobody; make it theirs (chown -R nobody ${shared}) or choose another --data`,
        );
      } finally {
        await chmod(work, 0o700);
      }
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    'when the port is privileged and the user is not (run as nobody; needs root)',
    async () => {
      const own = path.join(work, 'nobody-data');
      await mkdir(own);
      await chown(own, 65534, 65534);
      await chmod(work, 0o755);
      try {
        // Port 1 is never bound here: the kernel refuses before anything listens.
        const result = await berth(['serve', '--listen', '127.0.0.1:1', '--data', own], {
          uid: 65534,
          gid: 65534,
        });
        expectRefusal(
          result,
          'berth: cannot listen on 127.0.0.1:1: ports below 1024 need root or ' +
            'CAP_NET_BIND_SERVICE; use a port from 1024 up (e.g. --listen :5000) or put nginx in ' +
            'front (berth nginx-config)',
        );
      } finally {
        await chmod(work, 0o700);
      }
    },
  );

  it('when a --trusted-proxy is neither an address nor a range', async () => {
    for (const proxy of ['10.0.0.0/99', 'proxy.example']) {
      const result = await berth(['serve', '--trusted-proxy', proxy, '--data', data]);
      expectRefusal(
        result,
        `berth: invalid trusted proxy "${proxy}" (--trusted-proxy): give an IP address or a CIDR ` +
          'range, e.g. 10.0.0.5, 10.0.0.0/8 or fd00::/8 (or loopback, linklocal, uniquelocal)',
      );
    }
  });

  it('when the YAML file has a syntax error, naming the file, line and column', async () => {
    const file = path.join(work, 'berth.yaml');
    await writeFile(file, 'listen:\n  - ":5000"\n bad: [\n');
    expectRefusal(
      await berth(['serve', '--config', file, '--data', data]),
      `berth: YAML syntax error in ${file} at line 3, column 1: All mapping items must start at ` +
        'the same column; fix the file there (indent with spaces, close quotes and brackets)',
    );
  });

  it('when the config file cannot be read', async () => {
    const file = path.join(work, 'missing.yaml');
    expectRefusal(
      await berth(['serve', '--config', file, '--data', data]),
      `berth: cannot read config file ${file} (--config): no such file; check the path`,
    );
  });

  it('when a value in the config file is wrong, naming the key and the file', async () => {
    const file = path.join(work, 'small.yaml');
    await writeFile(file, 'registry:\n  maxManifestBytes: 12\n');
    expectRefusal(
      await berth(['serve', '--config', file, '--data', data]),
      `berth: invalid configuration: registry.maxManifestBytes in ${file}: ` +
        'Expected integer to be greater or equal to 4194304',
    );
  });

  it('when --log-level is unknown, listing the levels (from the flag or the environment)', async () => {
    const levels = 'use one of fatal, error, warn, info, debug, trace, silent';
    expectRefusal(
      await berth(['serve', '--log-level', 'loud', '--data', data]),
      `berth: invalid log level "loud" (--log-level): ${levels}`,
    );
    expectRefusal(
      await berth(['serve', '--data', data], { env: { BERTH_LOG_LEVEL: 'verbose' } }),
      `berth: invalid log level "verbose" (BERTH_LOG_LEVEL): ${levels}`,
    );
  });

  it('when --external-url is not a URL, saying what one looks like', async () => {
    for (const url of ['registry.example.com', 'https://registry.example.com/v2']) {
      expectRefusal(
        await berth(['serve', '--external-url', url, '--data', data]),
        `berth: invalid external URL "${url}" (--external-url): give the scheme and host clients ` +
          'use, with a port unless it is the default and no path, e.g. ' +
          'https://registry.example.com or http://10.0.0.5:5000',
      );
    }
  });

  it('when --listen is not HOST:PORT', async () => {
    expectRefusal(
      await berth(['serve', '--listen', 'nonsense', '--data', data]),
      'berth: invalid listen address "nonsense" (--listen): use HOST:PORT, [IPv6]:PORT or :PORT, ' +
        'e.g. 127.0.0.1:5000',
    );
  });
});

describe('usage errors', () => {
  it('print the error and where the help is, not the whole help text', async () => {
    expectRefusal(
      await berth(['serve', '--nosuch']),
      "berth serve: unknown option '--nosuch'",
      '(Did you mean --no-auth?)',
      '(see: berth serve --help)',
    );
    expectRefusal(
      await berth(['user', 'add', 'alice']),
      "berth user add: required option '--role <role>' not specified",
      '(see: berth user add --help)',
    );
    expectRefusal(
      await berth(['sevre']),
      "berth: unknown command 'sevre'",
      '(Did you mean serve?)',
      '(see: berth --help)',
    );
  });
});

describe('berth user add', () => {
  it('refuses an unknown role, listing the roles', async () => {
    const result = await berth(
      ['user', 'add', 'alice', '--role', 'nosuch', '--password-stdin', '--data', data],
      { input: 'alice-password\n' },
    );
    expectRefusal(
      result,
      'berth: unknown role "nosuch": the roles are admin, developer, maintainer, viewer ' +
        '(berth role create adds one)',
    );
  });

  it('refuses an unknown namespace, saying how to create it (user add and user bind)', async () => {
    const args = ['--role', 'developer', '--namespace', 'nosuch', '--data', data];
    const line =
      'berth: unknown namespace "nosuch": create it first with: berth namespace create nosuch';
    expectRefusal(
      await berth(['user', 'add', 'alice', ...args, '--password-stdin'], {
        input: 'alice-password\n',
      }),
      line,
    );
    expectRefusal(await berth(['user', 'bind', 'admin', ...args]), line);
    const users = JSON.parse((await berth(['user', 'list', '--json', '--data', data])).stdout) as {
      name: string;
      roles: unknown[];
    }[];
    expect(users).toEqual([expect.objectContaining({ name: 'admin', roles: [expect.anything()] })]);
  });
});

describe('berth namespace delete', () => {
  it('refuses the default namespace unless --force', async () => {
    const dir = path.join(work, 'default-ns');
    await berth(['namespace', 'list', '--data', dir]);
    expectRefusal(
      await berth(['namespace', 'delete', 'library', '--data', dir]),
      'berth: namespace "library" is the default namespace: single-segment names such as ' +
        '"nginx" are pushed into it and fail without it; add --force (admin API: force=true) ' +
        'to delete it anyway',
    );
    const forced = await berth(['namespace', 'delete', 'library', '--force', '--data', dir]);
    expect(forced).toMatchObject({ code: 0, stdout: 'namespace library deleted\n' });
  });
});

describe('a new data directory', () => {
  it('is announced loudly on stderr, once', async () => {
    const dir = path.join(work, 'typo', 'dat');
    const first = await berth(['namespace', 'list', '--json', '--data', dir]);
    expect(first.code).toBe(0);
    expect(first.stderr).toBe(
      `berth: creating a new data directory at ${dir} (no existing registry found)\n`,
    );
    expect(JSON.parse(first.stdout)).toEqual([expect.objectContaining({ name: 'library' })]);
    const again = await berth(['namespace', 'list', '--json', '--data', dir]);
    expect(again).toMatchObject({ code: 0, stderr: '' });
  });

  it('that exists (made for it on purpose) is not announced', async () => {
    const empty = path.join(work, 'empty');
    await mkdir(empty);
    expect(await berth(['namespace', 'list', '--data', empty])).toMatchObject({
      code: 0,
      stderr: '',
    });
  });
});

describe('berth serve output', () => {
  it('keeps stdout to JSON log lines; banner, password and client set-up go to stderr', async () => {
    const dir = path.join(work, 'serve-new');
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--listen', '127.0.0.1:0', '--data', dir, '--log-level', 'info'],
      {
        // No BERTH_ADMIN_PASSWORD: the generated password is printed.
        env: { ...process.env, BERTH_ADMIN_PASSWORD: undefined },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      // The plain-HTTP advice is the banner's last line: once it is here, all of it is.
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no complete banner on stderr:\n${stderr}`)),
          DEADLINE_MS,
        );
        let found = '';
        createInterface({ input: child.stderr }).on('line', (line) => {
          stderr += `${line}\n`;
          found ||= /serving the registry on (http:\/\/[^\s,]+)/.exec(line)?.[1] ?? '';
          if (found && line.includes('or serve HTTPS: berth cert')) {
            clearTimeout(timer);
            resolve(found);
          }
        });
        void closed.then((code) => reject(new Error(`serve exited ${String(code)}:\n${stderr}`)));
      });
      expect((await fetch(`${url}/v2/`)).status).toBe(401);
    } finally {
      // Ended (and waited for) on every path, so the temp folder can go.
      child.kill('SIGTERM');
      const stuck = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
      await closed;
      clearTimeout(stuck);
    }
    expect(await closed).toBe(0);
    expect(stderr).toContain(
      `berth: creating a new data directory at ${dir} (no existing registry found)\n`,
    );
    expect(stderr).toMatch(/created user "admin" with password:\n\n {4}\S{16,}\n/);
    expect(stderr).toContain('berth: SIGTERM: finishing in-flight requests');
    const lines = stdout.trimEnd().split('\n');
    // At least the request line of the GET above.
    expect(lines.some((l) => l.includes('"url":"/v2/"'))).toBe(true);
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    expect(stdout).not.toContain('berth:');
  });
});
