import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The kernel's ephemeral range (Linux's default where it cannot be read). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch {
    // Not Linux: the default below.
  }
  return [32768, 60999];
}

function bindable(port: number, host: string): Promise<number | null> {
  const srv = createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(null));
    srv.listen(port, host, () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr ? addr.port : null;
      srv.close(() => resolve(bound));
    });
  });
}

/**
 * A port on `host` that nothing listens on now, for a server that must be told its port before it
 * starts. Chosen below the kernel's ephemeral range: a port from that range (what `listen(0)`
 * hands out) can be taken by any other `listen(0)` or outgoing connection in the time between this
 * answer and the caller's bind, and then the caller's server fails or, worse, its clients talk to
 * someone else's.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [lo] = ephemeralRange();
  const floor = 10_000;
  if (lo - floor > 1_000) {
    for (let i = 0; i < 50; i++) {
      const port = floor + Math.floor(Math.random() * (lo - floor));
      if ((await bindable(port, host)) !== null) return port;
    }
  }
  const port = await bindable(0, host);
  if (port === null) throw new Error(`no free port on ${host}`);
  return port;
}
