/** Small TCP services on loopback for tests and benchmarks: they stand for sshd, a kubelet, any service on a node. */
import { createServer, type AddressInfo, type Socket } from 'node:net';

/** A loopback port nothing listens on, below the ephemeral range (for programs that take a port number, not a listening socket). */
export { freePort } from '../../core/kernel/index.ts';

export interface TcpService {
  port: number;
  /** Closes the server and every connection it still has. */
  close(): Promise<void>;
}

export async function serveTcp(handler: (socket: Socket) => void): Promise<TcpService> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    handler(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Echoes every byte back. */
export function serveEcho(): Promise<TcpService> {
  return serveTcp((s) => {
    // A peer that vanishes mid-transfer resets the socket: that is the test's business, not a crash.
    s.on('error', () => undefined);
    s.pipe(s);
  });
}
