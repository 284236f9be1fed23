/**
 * The checks against real servers on loopback: a TCP listener, HTTP and
 * HTTPS servers answering chosen statuses, a black hole (accepts, never
 * answers), and ICMP through `ping` where this machine has it.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate } from '../pki/index.ts';
import { networkProbe, pingProblem, resolveHealthConfig, withoutChecks, type ResolvedCheck } from './index.ts';

const servers: { close(cb?: () => void): unknown }[] = [];
let tcpPort: number;
let httpPort: number;
let httpsPort: number;
let holePort: number;
let closedPort: number;
const held: net.Socket[] = [];

const listen = async (s: net.Server | http.Server | https.Server): Promise<number> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return (s.address() as AddressInfo).port;
};

beforeAll(async () => {
  tcpPort = await listen(net.createServer((c) => c.end()));
  const answer = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(req.url === '/healthz' ? 200 : req.url === '/auth' ? 401 : 500);
    res.end('x');
  };
  httpPort = await listen(http.createServer(answer));
  const ca = await createCertificateAuthority({ commonName: 'checks CA' });
  const cert = await issueCertificate(ca, { commonName: 'peer', ipAddresses: ['127.0.0.1'], usage: 'server' });
  httpsPort = await listen(https.createServer({ cert: cert.certPem, key: cert.keyPem }, answer));
  holePort = await listen(net.createServer((c) => void held.push(c)));
  const gone = net.createServer();
  closedPort = await new Promise<number>((r) => gone.listen(0, '127.0.0.1', () => r((gone.address() as AddressInfo).port)));
  await new Promise((r) => gone.close(r));
});

afterAll(async () => {
  for (const c of held) c.destroy();
  for (const s of servers) await new Promise((r) => s.close(() => r(undefined)));
});

const peer = { name: 'peer', address: '127.0.0.1' };
const check = (c: Partial<ResolvedCheck> & Pick<ResolvedCheck, 'type'>): ResolvedCheck => ({ name: 'c', port: undefined, path: '/healthz', expectStatus: [200], insecureSkipVerify: false, timeoutMs: 300, retries: 0, weight: 1, ...c });
const run = (c: ResolvedCheck): Promise<boolean> => networkProbe(peer, c, new AbortController().signal);

describe('checks against real servers', () => {
  it('tcp: a listener passes; a closed port and a black hole do not (within the timeout)', async () => {
    expect(await run(check({ type: 'tcp', port: tcpPort }))).toBe(true);
    expect(await run(check({ type: 'tcp', port: closedPort }))).toBe(false);
    const t0 = Date.now();
    expect(await run(check({ type: 'tcp', port: closedPort, retries: 2 }))).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('http: the statuses that pass, a kubelet-like 401 when listed, a black hole times out', async () => {
    expect(await run(check({ type: 'http', port: httpPort }))).toBe(true);
    expect(await run(check({ type: 'http', port: httpPort, path: '/auth' }))).toBe(false);
    expect(await run(check({ type: 'http', port: httpPort, path: '/auth', expectStatus: [200, 401, 403] }))).toBe(true);
    const t0 = Date.now();
    expect(await run(check({ type: 'http', port: holePort, timeoutMs: 200 }))).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("https: a certificate of an unknown CA fails unless insecureSkipVerify; the answer's status decides", async () => {
    expect(await run(check({ type: 'https', port: httpsPort }))).toBe(false);
    expect(await run(check({ type: 'https', port: httpsPort, insecureSkipVerify: true }))).toBe(true);
    expect(await run(check({ type: 'https', port: httpsPort, insecureSkipVerify: true, path: '/nope' }))).toBe(false);
  });

  it('icmp: ping answers for loopback where this machine has ping; where it does not, the check is left out and the pass score shrinks', async () => {
    const problem = await pingProblem();
    if (problem === undefined) expect(await run(check({ type: 'icmp' }))).toBe(true);
    else expect(problem).toMatch(/ping/);
    const c = resolveHealthConfig({ checks: [{ name: 'agent', type: 'tcp', weight: 3 }, { name: 'echo', type: 'icmp', weight: 1 }] });
    expect(c.passScore).toBe(4);
    const kept = withoutChecks(c, new Set(['echo']))!;
    expect(kept.checks.map((x) => x.name)).toEqual(['agent']);
    expect(kept.passScore).toBe(3);
    expect(withoutChecks(resolveHealthConfig({ checks: [{ name: 'echo', type: 'icmp' }] }), new Set(['echo']))).toBeUndefined();
  });
});
