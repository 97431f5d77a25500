/** Loopback ports for the throwaway servers tests start (nginx, PostgreSQL, Ceph). */
import { connect, createServer } from 'node:net';

/**
 * `count` different TCP ports the OS reported free on 127.0.0.1 a moment ago (from its ephemeral
 * range), for a server that needs its port in its config before it binds.
 */
export async function freePorts(count: number): Promise<number[]> {
  // Held open together, so the OS cannot hand out one of them twice.
  const servers = Array.from({ length: count }, () => createServer());
  const ports: number[] = [];
  try {
    for (const server of servers) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      ports.push(address.port);
    }
  } finally {
    await Promise.all(
      servers.filter((s) => s.listening).map((s) => new Promise((resolve) => s.close(resolve))),
    );
  }
  return ports;
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no port');
  return port;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` now. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
