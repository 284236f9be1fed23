/**
 * A node's SSH host keys at the hub: the first join's keys are trusted; a
 * later join with other keys leaves them in place and records a pending
 * change (logged with fingerprints, counted, seen by the watch stream)
 * until an admin trusts or rejects it; nobody swaps them through the
 * generic status route; agents write no Node status at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../kernel/index.ts';
import type { NodeObject } from '../store/index.ts';
import type { HostKeysView } from './node-status.ts';
import { err, sqliteBackend, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';
import { testSshKey } from '../../test/support/hub/ssh-key.ts';

describe('node SSH host keys', () => {
  let h: TestHub;
  let bootstrap: string;
  let base: string;
  const logLines: string[] = [];
  const credentials: Record<string, string> = {};

  const join = async (node: string, keys: readonly string[] | undefined, more: Record<string, unknown> = {}) =>
    h.call('POST', '/api/v1/join', { token: bootstrap, body: { site: 'plant-a', node, ...(keys === undefined ? {} : { sshHostKeys: keys }), ...more } });
  const joined = async (node: string, keys: readonly string[]): Promise<void> => {
    const r = await join(node, keys);
    expect(r.statusCode, r.body).toBe(201);
    credentials[node] = r.json<{ credential: string }>().credential;
  };
  const node = async (name: string): Promise<NodeObject> => (await h.store.get<NodeObject>('Node', name))!;
  const view = async (name: string): Promise<HostKeysView> => (await h.call('GET', `/api/v1/nodes/${name}/host-keys`, { token: h.viewer })).json<HostKeysView>();
  const metric = async (event: string): Promise<number> => {
    const text = await h.registry.metrics();
    const m = new RegExp(`edgeadm_hub_node_host_key_changes_total\\{event="${event}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };
  const warnings = (): { msg: string; trusted?: string[]; reported?: string[]; node?: string }[] =>
    logLines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);

  beforeAll(async () => {
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void logLines.push(l) } });
    h = await startTestHub({ backend: sqliteBackend, logger });
    bootstrap = (await h.tokens.createBootstrap({ site: 'plant-a' })).token;
    base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => h.close());

  it('trusts the keys of the first join, and not the other keys of a later one', async () => {
    const first = testSshKey('root@gw-1');
    const second = testSshKey('root@gw-1');
    await joined('gw-1', [first.line]);
    const recorded = await node('gw-1');
    expect(recorded.status).toMatchObject({ sshHostKeys: [first.line], sshHostKeysTrustedAt: expect.any(String) });
    expect(recorded.status?.sshHostKeysPending).toBeUndefined();

    // The same key under another hostname's comment is the same key: nothing changes.
    await joined('gw-1', [first.withComment('root@renamed')]);
    expect((await node('gw-1')).status).toMatchObject({ sshHostKeys: [first.line] });
    expect((await node('gw-1')).status?.sshHostKeysPending).toBeUndefined();
    // A join that reports no keys changes nothing either.
    await joined('gw-1', []);
    expect((await node('gw-1')).status?.sshHostKeys).toEqual([first.line]);

    // The console's watch stream is open when the node joins again with another key.
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/watch?kinds=Node&access_token=${h.viewer}`, { signal: ac.signal });
    const reader = res.body!.getReader();
    let seen = '';
    const until = async (pred: (text: string) => boolean): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!pred(seen)) {
        if (Date.now() > deadline) throw new Error(`watch never showed it: ${seen.slice(-500)}`);
        const { value, done } = await reader.read();
        if (done) throw new Error('watch ended');
        seen += Buffer.from(value).toString();
      }
    };
    await until((t) => t.includes('event: synced'));
    const before = await metric('reported');
    const bootstrapId = bootstrap.split('.')[0];
    await joined('gw-1', [second.line]);
    await until((t) => t.includes('sshHostKeysPending'));
    ac.abort();
    const event = seen.split('\n\n').find((e) => e.includes('sshHostKeysPending'))!;
    expect(event).toContain('"type":"MODIFIED"');

    const after = await node('gw-1');
    expect(after.status?.sshHostKeys).toEqual([first.line]);
    expect(after.status?.sshHostKeysPending).toEqual({ keys: [second.line], reportedAt: expect.any(String), bootstrapTokenId: bootstrapId });
    expect(await metric('reported')).toBe(before + 1);
    const warned = warnings().find((w) => w.node === 'gw-1' && w.msg.includes('other ssh host keys'));
    expect(warned).toMatchObject({ trusted: [`ssh-ed25519 ${first.fingerprint}`], reported: [`ssh-ed25519 ${second.fingerprint}`] });

    expect(await view('gw-1')).toEqual({
      node: 'gw-1',
      trusted: [{ type: 'ssh-ed25519', fingerprint: first.fingerprint, key: first.line }],
      trustedAt: recorded.status!.sshHostKeysTrustedAt,
      pending: { keys: [{ type: 'ssh-ed25519', fingerprint: second.fingerprint, key: second.line }], reportedAt: after.status!.sshHostKeysPending!.reportedAt, bootstrapTokenId: bootstrapId },
    });
  });

  it('lets an admin trust only pending keys, by the fingerprints checked on the node', async () => {
    const pending = (await view('gw-1')).pending!.keys[0]!;
    const other = testSshKey();
    for (const token of [h.viewer, h.agentA, credentials['gw-1']!]) {
      const r = await h.call('POST', '/api/v1/nodes/gw-1/host-keys/trust', { token, body: {} });
      expect(r.statusCode).toBe(403);
      expect(err(r).code).toBe('EDGE_ERR_HUB_FORBIDDEN');
    }
    const wrong = await h.call('POST', '/api/v1/nodes/gw-1/host-keys/trust', { body: { fingerprints: [other.fingerprint] } });
    expect(wrong.statusCode).toBe(409);
    expect(err(wrong)).toMatchObject({ code: 'EDGE_ERR_HUB_HOST_KEY_NOT_PENDING', details: { node: 'gw-1', fingerprints: [other.fingerprint], pending: [pending.fingerprint] } });
    const malformed = await h.call('POST', '/api/v1/nodes/gw-1/host-keys/trust', { body: { fingerprints: ['MD5:00'] } });
    expect(malformed.statusCode).toBe(400);
    expect((await node('gw-1')).status?.sshHostKeysPending).toBeDefined();

    const before = await metric('trusted');
    const ok = await h.call('POST', '/api/v1/nodes/gw-1/host-keys/trust', { body: { fingerprints: [pending.fingerprint] } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json<HostKeysView>()).toMatchObject({ trusted: [{ fingerprint: pending.fingerprint }] });
    expect(ok.json<HostKeysView>().pending).toBeUndefined();
    expect((await node('gw-1')).status).toMatchObject({ sshHostKeys: [pending.key] });
    expect((await node('gw-1')).status?.sshHostKeysPending).toBeUndefined();
    expect(await metric('trusted')).toBe(before + 1);

    const again = await h.call('POST', '/api/v1/nodes/gw-1/host-keys/trust', { body: {} });
    expect(again.statusCode).toBe(409);
    expect(err(again).code).toBe('EDGE_ERR_HUB_NO_PENDING_HOST_KEYS');
    expect((await h.call('POST', '/api/v1/nodes/gw-404/host-keys/trust', { body: {} })).statusCode).toBe(404);
  });

  it('trusts exactly the named keys out of several, or all of them without names', async () => {
    const a = testSshKey();
    const b = testSshKey();
    const c = testSshKey();
    await joined('gw-1', [a.line, b.line]);
    const one = await h.call('POST', '/api/v1/nodes/gw-1/host-keys/trust', { body: { fingerprints: [b.fingerprint] } });
    expect(one.json<HostKeysView>().trusted.map((k) => k.fingerprint)).toEqual([b.fingerprint]);
    await joined('gw-1', [b.line, c.line]);
    const all = await h.call('POST', '/api/v1/nodes/gw-1/host-keys/trust', { body: {} });
    expect(all.json<HostKeysView>().trusted.map((k) => k.fingerprint)).toEqual([b.fingerprint, c.fingerprint]);
  });

  it('lets an admin reject a pending change: the trusted keys stay', async () => {
    const trusted = (await node('gw-1')).status!.sshHostKeys;
    await joined('gw-1', [testSshKey('intruder').line]);
    expect((await node('gw-1')).status?.sshHostKeysPending).toBeDefined();
    expect((await h.call('POST', '/api/v1/nodes/gw-1/host-keys/reject', { token: h.agentA })).statusCode).toBe(403);
    const before = await metric('rejected');
    const r = await h.call('POST', '/api/v1/nodes/gw-1/host-keys/reject');
    expect(r.statusCode).toBe(200);
    expect(r.json<HostKeysView>().pending).toBeUndefined();
    expect((await node('gw-1')).status?.sshHostKeys).toEqual(trusted);
    expect(await metric('rejected')).toBe(before + 1);
    expect(err(await h.call('POST', '/api/v1/nodes/gw-1/host-keys/reject')).code).toBe('EDGE_ERR_HUB_NO_PENDING_HOST_KEYS');
  });

  it('refuses key lines that are not OpenSSH public keys, naming each', async () => {
    const ed = testSshKey();
    const r = await join('gw-3', ['ssh-ed25519 not*base64', `ssh-rsa ${ed.line.split(' ')[1]!}`, ed.line]);
    expect(r.statusCode).toBe(400);
    expect(err(r).details!.issues!.map((i) => i.path)).toEqual(['sshHostKeys[0]', 'sshHostKeys[1]']);
    expect(err(r).details!.issues![1]!.message).toMatch(/not a ssh-rsa key/);
    expect(await h.store.get('Node', 'gw-3')).toBeUndefined();
  });

  it('keeps host keys out of the generic status route, and agents out of Node status altogether', async () => {
    await joined('gw-2', [testSshKey().line]);
    const stored = (await node('gw-2')).status!;
    const swap = await h.call('PUT', '/api/v1/nodes/gw-2/status', { body: { status: { ...stored, sshHostKeys: [testSshKey().line] } } });
    expect(swap.statusCode).toBe(403);
    expect(err(swap)).toMatchObject({ code: 'EDGE_ERR_HUB_HOST_KEYS_PROTECTED', details: { node: 'gw-2', field: 'sshHostKeys' } });
    const planted = await h.call('PUT', '/api/v1/nodes/gw-2/status', { body: { status: { sshHostKeysPending: { keys: [testSshKey().line], reportedAt: new Date().toISOString() } } } });
    expect(err(planted)).toMatchObject({ code: 'EDGE_ERR_HUB_HOST_KEYS_PROTECTED', details: { field: 'sshHostKeysPending' } });
    // Left out, they stay; unchanged, they pass.
    const msg = await h.call('PUT', '/api/v1/nodes/gw-2/status', { body: { status: { message: 'maintenance' } } });
    expect(msg.statusCode).toBe(200);
    expect((await node('gw-2')).status).toEqual({ message: 'maintenance', sshHostKeys: stored.sshHostKeys, sshHostKeysTrustedAt: stored.sshHostKeysTrustedAt });
    expect((await h.call('PUT', '/api/v1/nodes/gw-2/status', { body: { status: (await node('gw-2')).status } })).statusCode).toBe(200);

    // No agent writes a Node's status: not another node of the site, not the node itself, not a site's agent token.
    for (const token of [credentials['gw-1']!, credentials['gw-2']!, h.agentA]) {
      const r = await h.call('PUT', '/api/v1/nodes/gw-2/status', { token, body: { status: { connected: true, tunnel: { replica: 'evil', since: new Date().toISOString() } } } });
      expect(r.statusCode).toBe(403);
      expect(err(r).code).toBe('EDGE_ERR_HUB_FORBIDDEN');
    }
    expect((await node('gw-2')).status?.connected).toBeUndefined();
  });

  it('refuses a join that claims an address another node has', async () => {
    await joined('gw-4', []);
    expect((await join('gw-4', undefined, { addresses: ['10.0.0.44'] })).statusCode).toBe(201);
    const r = await join('gw-5', undefined, { addresses: ['10.0.0.45', '10.0.0.44'] });
    expect(r.statusCode).toBe(403);
    expect(err(r)).toMatchObject({ code: 'EDGE_ERR_HUB_JOIN_REFUSED', message: expect.stringContaining("address '10.0.0.44' belongs to node 'gw-4'") });
    expect(await h.store.get('Node', 'gw-5')).toBeUndefined();
    // The node that has it may say it again.
    expect((await join('gw-4', undefined, { addresses: ['10.0.0.44'] })).statusCode).toBe(201);
  });
});
