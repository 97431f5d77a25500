/**
 * A private sandbox for podman and skopeo under a test's work directory: vfs storage, run and
 * temp dirs of their own (a system storage.conf cannot break the vfs driver, nothing is left in
 * global state), and optionally empty credential files so no login of the machine is read.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ClientSandbox {
  /** The environment to run podman and skopeo with. */
  env: NodeJS.ProcessEnv;
  /** Global podman options that keep its state in the sandbox. */
  podmanArgs: string[];
}

export async function clientSandbox(
  work: string,
  options: { isolateCredentials?: boolean } = {},
): Promise<ClientSandbox> {
  const podmanRoot = path.join(work, 'podman');
  const tmp = path.join(work, 'tmp');
  await mkdir(podmanRoot, { recursive: true });
  await mkdir(tmp, { recursive: true });
  const storageConf = path.join(podmanRoot, 'storage.conf');
  await writeFile(
    storageConf,
    `[storage]\ndriver = "vfs"\ngraphroot = "${podmanRoot}/root"\nrunroot = "${podmanRoot}/run"\n`,
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TMPDIR: tmp,
    CONTAINERS_STORAGE_CONF: storageConf,
  };
  if (options.isolateCredentials === true) {
    // No credentials from the machine: the default auth.json and ~/.docker/config.json stay unread.
    const authFile = path.join(work, 'default-auth.json');
    await writeFile(authFile, '{"auths":{}}\n');
    const dockerConfig = path.join(work, 'client-docker-config');
    await mkdir(dockerConfig, { recursive: true });
    env['REGISTRY_AUTH_FILE'] = authFile;
    env['DOCKER_CONFIG'] = dockerConfig;
  }
  const podmanArgs = [
    ...['--root', path.join(podmanRoot, 'root'), '--runroot', path.join(podmanRoot, 'run')],
    ...['--storage-driver', 'vfs', '--tmpdir', path.join(podmanRoot, 'libpod-tmp')],
    ...['--events-backend', 'none', '--cgroup-manager', 'cgroupfs'],
  ];
  return { env, podmanArgs };
}
