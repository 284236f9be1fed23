/**
 * How health agents reach each other: plain HTTP on the site's network (the
 * bodies are signed; nothing in them is secret), and an in-process transport
 * for simulated sites of many nodes in one process (tests, the benchmark),
 * which signs and verifies exactly as the network one does.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { toErrorInfo, type Logger } from '../kernel/index.ts';
import type { HealthAgent, GossipTransport } from './agent.ts';
import type { Member } from './checks.ts';
import { ErrGossip } from './errors.ts';
import { GOSSIP_MAX_BYTES, GOSSIP_PATH, SIGNATURE_HEADER, type SignedBody } from './wire.ts';

const formatHost = (address: string): string => (address.includes(':') && !address.startsWith('[') ? `[${address}]` : address);

/** Gossip over HTTP, with one keep-alive pool for all peers. */
export class HttpGossipTransport implements GossipTransport {
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 4, timeout: 60_000 });

  send(to: Member, port: number, message: SignedBody, timeoutMs: number): Promise<SignedBody> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: to.address.replace(/^\[|\]$/g, ''),
          port,
          path: GOSSIP_PATH,
          method: 'POST',
          agent: this.#agent,
          headers: { 'content-type': 'application/json', 'content-length': message.body.length, [SIGNATURE_HEADER]: message.signature },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > GOSSIP_MAX_BYTES) req.destroy(new Error(`answer over ${GOSSIP_MAX_BYTES} bytes`));
            else chunks.push(c);
          });
          res.once('end', () => {
            clearTimeout(timer);
            const body = Buffer.concat(chunks);
            if (res.statusCode !== 200) return reject(new Error(`${formatHost(to.address)}:${port} answered ${res.statusCode}: ${body.toString('utf8').slice(0, 200)}`));
            resolve({ body, signature: String(res.headers[SIGNATURE_HEADER] ?? '') });
          });
          res.once('error', reject);
        },
      );
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(message.body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

export interface GossipServer {
  /** `host:port` it listens on. */
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

/** Serves `POST /health/v1/gossip` for one agent; everything else is 404. A refused message is a 400 or 401 naming why. */
export function startGossipServer(o: { agent: () => HealthAgent | undefined; host: string; port: number; logger: Logger }): Promise<GossipServer> {
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: string, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    };
    if (req.method !== 'POST' || req.url !== GOSSIP_PATH) {
      req.resume();
      return reply(404, JSON.stringify({ code: 'EDGE_ERR_HEALTH_GOSSIP', message: `only POST ${GOSSIP_PATH} is served here` }));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > GOSSIP_MAX_BYTES) {
        reply(413, JSON.stringify({ code: 'EDGE_ERR_HEALTH_GOSSIP', message: `health gossip refused: body is over ${GOSSIP_MAX_BYTES} bytes` }));
        req.destroy();
      } else chunks.push(c);
    });
    req.once('end', () => {
      if (res.headersSent) return;
      const agent = o.agent();
      if (!agent) return reply(503, JSON.stringify({ code: 'EDGE_ERR_HEALTH_GOSSIP', message: 'health agent not running' }));
      try {
        const answer = agent.handle({ body: Buffer.concat(chunks), signature: req.headers[SIGNATURE_HEADER] });
        res.writeHead(200, { 'content-type': 'application/json', [SIGNATURE_HEADER]: answer.signature });
        res.end(answer.body);
      } catch (err) {
        const info = toErrorInfo(err);
        const status = ErrGossip.is(err) ? (err.params.field === SIGNATURE_HEADER ? 401 : 400) : 500;
        if (status === 500) o.logger.warn({ error: info }, 'health gossip failed');
        else o.logger.debug({ error: info }, 'health gossip refused');
        reply(status, JSON.stringify({ code: info.code, message: info.message }));
      }
    });
    req.once('error', () => res.destroy());
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve({
        address: { host: a.address, port: a.port },
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/**
 * Agents of one process reaching each other without sockets: each send is a
 * call of the peer's handler on a later turn. `cut(from, to)` drops a link
 * one way (an asymmetric link); a stopped agent is unreachable.
 */
export class MemoryGossipNetwork {
  readonly #agents = new Map<string, HealthAgent>();
  readonly #cut = new Set<string>();
  delivered = 0;

  join(agent: HealthAgent): void {
    this.#agents.set(agent.node, agent);
  }

  leave(node: string): void {
    this.#agents.delete(node);
  }

  /** Messages from `from` no longer reach `to` (nor answers the other way round on that exchange). */
  cut(from: string, to: string): void {
    this.#cut.add(`${from}\u0000${to}`);
  }

  heal(from: string, to: string): void {
    this.#cut.delete(`${from}\u0000${to}`);
  }

  reachable(from: string, to: string): boolean {
    return this.#agents.has(to) && !this.#cut.has(`${from}\u0000${to}`);
  }

  /** The transport one agent sends with. */
  transport(from: string): GossipTransport {
    return {
      send: async (to, _port, message) => {
        await new Promise((r) => setImmediate(r));
        const agent = this.#agents.get(to.name);
        if (!agent || !this.reachable(from, to.name)) throw new Error(`${to.name} unreachable from ${from}`);
        this.delivered++;
        const answer = agent.handle(message);
        // An exchange needs both ways: an answer that cannot come back is lost too.
        if (!this.reachable(to.name, from)) throw new Error(`${from} unreachable from ${to.name}`);
        return answer;
      },
    };
  }
}
