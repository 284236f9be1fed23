/**
 * A TCP relay for cutting links in tests: forwards 127.0.0.1:<port> to a
 * target; `down()` drops every open connection and refuses new ones until
 * `up()`. It stands for the network between a site and the hub.
 */
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let isDown = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (isDown) {
      client.destroy();
      return;
    }
    const upstream = createConnection(target);
    // As a router would: no Nagle delay added on top of what the endpoints chose.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    down() {
      isDown = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    up() {
      isDown = false;
    },
    async close() {
      isDown = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A round-robin TCP load balancer on 127.0.0.1, as in front of hub
 * replicas: each new connection goes to the next target; a target that
 * refuses it is skipped for the next one, as a balancer's health check
 * would. `connections()` counts the connections each target took.
 */
export async function startRoundRobinProxy(targets: readonly { host: string; port: number }[]): Promise<{ port: number; url: string; connections(): number[]; close(): Promise<void> }> {
  let next = 0;
  const took = targets.map(() => 0);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    client.pause();
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const attempt = (tries: number): void => {
      if (tries >= targets.length) {
        client.destroy();
        return;
      }
      const i = next++ % targets.length;
      const upstream = createConnection(targets[i]!);
      upstream.once('error', () => {
        if (!upstream.readyState || upstream.connecting) attempt(tries + 1);
        else client.destroy();
      });
      upstream.once('connect', () => {
        took[i]!++;
        sockets.add(upstream);
        upstream.setNoDelay(true);
        client.setNoDelay(true);
        upstream.on('error', () => client.destroy()).on('close', () => {
          client.destroy();
          sockets.delete(upstream);
        });
        client.on('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => [...took],
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
