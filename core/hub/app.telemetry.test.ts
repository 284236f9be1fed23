import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../sdk/index.ts';
import { BACKENDS, batch, device, err, reading, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';

const LIMIT = 256 * 1024;

describe.each(BACKENDS)('hub telemetry API ($name)', (backend) => {
  let h: TestHub;
  beforeAll(async () => {
    h = await startTestHub({ backend, bodyLimitBytes: LIMIT });
    await h.store.apply(device('fan-b', 'plant-b'));
  });
  afterAll(() => h.close());

  const ingest = (site: string, payload: Buffer | string, headers: Record<string, string> = {}, token?: string) =>
    h.call('POST', `/api/v1/sites/${site}/telemetry`, { body: payload, headers: { 'content-type': 'application/json', ...headers }, ...(token ? { token } : {}) });

  it('ingests a gzip batch once and counts a repeat as duplicates', async () => {
    const gz = gzipSync(JSON.stringify(batch(Array.from({ length: 200 }, (_, i) => reading('plant-a', i + 1)))));
    const first = await ingest('plant-a', gz, { 'content-encoding': 'gzip' }, h.agentA);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ accepted: 200, duplicates: 0, conflicts: 0, quarantined: 0 });
    const again = await ingest('plant-a', gz, { 'content-encoding': 'gzip' }, h.agentA);
    expect(again.json()).toEqual({ accepted: 0, duplicates: 200, conflicts: 0, quarantined: 0 });
    const mixed = await ingest('plant-a', JSON.stringify(batch([reading('plant-a', 200), reading('plant-a', 201)])), {}, h.agentA);
    expect(mixed.json()).toEqual({ accepted: 1, duplicates: 1, conflicts: 0, quarantined: 0 });
    const br = await ingest('plant-a', brotliCompressSync(JSON.stringify(batch([reading('plant-a', 202)]))), { 'content-encoding': 'br' }, h.agentA);
    expect(br.json()).toEqual({ accepted: 1, duplicates: 0, conflicts: 0, quarantined: 0 });
    expect(await h.telemetry.count({ site: 'plant-a' })).toBe(202);

    const metrics = await h.call('GET', '/metrics');
    expect(metrics.body).toMatch(/edgeadm_hub_telemetry_readings_total\{result="accepted"\} 202/);
    expect(metrics.body).toMatch(/edgeadm_hub_telemetry_readings_total\{result="duplicate"\} 201/);
  });

  it("keeps each credential's readings apart: another token of the site cannot claim the agent's seqs", async () => {
    const hub = await startTestHub({ backend });
    try {
      const intruder = (await hub.tokens.create({ role: 'agent', site: 'plant-a', description: 'another agent token of plant-a' })).token;
      const node = (await hub.tokens.create({ role: 'agent', site: 'plant-a', node: 'gw-2' })).token;
      // The intruder posts the next 50 seqs first, with the agent's own stream id and made-up values.
      const forged = Array.from({ length: 50 }, (_, i) => reading('plant-a', i + 1, { value: -1 }));
      expect((await hub.call('POST', '/api/v1/sites/plant-a/telemetry', { token: intruder, body: batch(forged) })).json()).toMatchObject({ accepted: 50 });
      const real = Array.from({ length: 50 }, (_, i) => reading('plant-a', i + 1));
      for (const token of [hub.agentA, node]) {
        const r = await hub.call('POST', '/api/v1/sites/plant-a/telemetry', { token, body: batch(real) });
        expect(r.json()).toEqual({ accepted: 50, duplicates: 0, conflicts: 0, quarantined: 0 });
      }
      const streams = (await hub.call('GET', '/api/v1/telemetry/streams?site=plant-a', { token: hub.viewer })).json<{ items: { producer: string; held: number }[] }>().items;
      const agentId = (await hub.tokens.list()).find((t) => t.role === 'agent' && t.site === 'plant-a' && t.node === undefined && t.description === '')!.id;
      expect(streams.map((s) => [s.producer, s.held]).sort()).toEqual(
        [[`token:${agentId}`, 50], ['node:gw-2', 50], [`token:${(await hub.tokens.list()).find((t) => t.description.startsWith('another'))!.id}`, 50]].sort(),
      );
      const page = (await hub.call('GET', '/api/v1/telemetry?site=plant-a&limit=1000')).json<{ items: (Reading & { stream: string })[] }>();
      expect(page.items.filter((r) => r.stream === 'node:gw-2/stream-one').map((r) => r.value)).toEqual(real.map((r) => r.value));
      // An agent of another site cannot post for this one at all.
      expect((await hub.call('POST', '/api/v1/sites/plant-a/telemetry', { token: hub.agentB, body: batch(real) })).statusCode).toBe(403);
      expect((await hub.call('POST', '/api/v1/sites/plant-a/telemetry', { token: hub.viewer, body: batch(real) })).statusCode).toBe(403);
    } finally {
      await hub.close();
    }
  });

  it('tells the producer when a seq it sends is already held with other content, refuses a rewound stream, and quarantines unknown devices', async () => {
    const hub = await startTestHub({ backend });
    try {
      const post = (body: unknown) => hub.call('POST', '/api/v1/sites/plant-a/telemetry', { token: hub.agentA, body });
      expect((await post(batch([1, 2, 3].map((n) => reading('plant-a', n))))).json()).toMatchObject({ accepted: 3 });
      const other = [2, 3, 4].map((n) => reading('plant-a', n, { value: 99 }));
      expect((await post(batch(other))).json()).toEqual({ accepted: 1, duplicates: 0, conflicts: 2, quarantined: 0 });
      const rewound = await post(batch([reading('plant-a', 5)], { lastSeq: 2 }));
      expect(rewound.statusCode).toBe(400);
      expect(err(rewound)).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_SEQ' });
      const back = await post(batch([reading('plant-a', 1)], { lastSeq: 3 }));
      expect(back.statusCode).toBe(409);
      expect(err(back)).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_STREAM_REWOUND', details: { declared: 3, known: 4 } });
      const unknown = [reading('plant-a', 6, { device: 'ghost' }), reading('plant-a', 7, { resource: 'humidity' }), reading('plant-a', 8, { device: 'pump-b' }), reading('plant-a', 9)];
      expect((await post(batch(unknown))).json()).toEqual({ accepted: 1, duplicates: 0, conflicts: 0, quarantined: 3 });
      const q = (await hub.call('GET', '/api/v1/telemetry/quarantine?site=plant-a', { token: hub.viewer })).json<{ items: { reason: string; reading: Reading }[] }>().items;
      expect(q.map((x) => `${x.reason}:${x.reading.seq}`).sort()).toEqual(['conflict:2', 'conflict:3', 'unknown-device:6', 'unknown-device:8', 'unknown-resource:7']);
      expect((await hub.call('GET', '/api/v1/telemetry/quarantine?reason=conflict', { token: hub.viewer })).json<{ items: unknown[] }>().items).toHaveLength(2);
      expect((await hub.call('GET', '/api/v1/telemetry/quarantine', { token: hub.agentA })).statusCode).toBe(403);
      const metrics = (await hub.call('GET', '/metrics')).body;
      expect(metrics).toMatch(/edgeadm_telemetry_quarantined_total\{site="plant-a",reason="unknown-device"\} 2/);
      expect(metrics).toMatch(/edgeadm_hub_telemetry_readings_total\{result="refused"\} 2/);
    } finally {
      await hub.close();
    }
  });

  it('refuses values that do not fit their valueType, implausible origins and unsafe seqs, naming the field', async () => {
    const post = (readings: unknown[], stream?: { lastSeq: number }) => h.call('POST', '/api/v1/sites/plant-a/telemetry', { token: h.agentA, body: { stream: { id: 'checks-stream', lastSeq: stream?.lastSeq ?? 10 }, readings } });
    const abc = await post([reading('plant-a', 1, { value: 'abc' })]);
    expect(abc.statusCode).toBe(400);
    expect(err(abc)).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_INVALID', details: { index: 0, field: 'value' } });
    expect(err(abc).message).toMatch(/the string "abc" is not a finite number/);
    const far = await post([reading('plant-a', 1, { origin: 1e300 })]);
    expect(far.statusCode).toBe(400);
    expect(err(far).details?.issues?.map((i) => i.path)).toEqual(['readings[0].origin']);
    const unsafe = await post([reading('plant-a', 2 ** 53 + 2)], { lastSeq: 2 ** 53 - 1 });
    expect(unsafe.statusCode).toBe(400);
    expect(err(unsafe).details?.issues?.map((i) => i.path)).toContain('readings[0].seq');
    const noStream = await h.call('POST', '/api/v1/sites/plant-a/telemetry', { token: h.agentA, body: { readings: [reading('plant-a', 1)] } });
    expect(noStream.statusCode).toBe(400);
    expect(err(noStream).details?.issues?.map((i) => i.path)).toContain('stream');
    expect((await h.telemetry.streams('plant-a')).some((s) => s.id === 'checks-stream')).toBe(false);
  });

  it('refuses readings of another site than the path, and bad readings, with field paths', async () => {
    const other = await ingest('plant-a', JSON.stringify(batch([reading('plant-a', 900), reading('plant-b', 901)])));
    expect(other.statusCode).toBe(400);
    expect(err(other).details?.issues).toEqual([{ in: 'body', path: 'readings[1].site', message: expect.stringContaining("'plant-b'") }]);

    const wrong = await ingest(
      'plant-a',
      JSON.stringify({ stream: { id: 'stream-one', lastSeq: 903 }, readings: [{ ...reading('plant-a', 902), seq: 'x', quality: 'great' }, { ...reading('plant-a', 903), origin: -1, color: 1 }] }),
    );
    expect(wrong.statusCode).toBe(400);
    const body = wrong.json<{ code: string; details: { issues: { path: string }[] } }>();
    expect(body.code).toBe('EDGE_ERR_HUB_BAD_REQUEST');
    expect(body.details.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['readings[0].seq', 'readings[0].quality', 'readings[1].origin', 'readings[1].color']),
    );
    // A string is not coerced into an integer in a body.
    const coerced = await ingest('plant-a', JSON.stringify({ stream: { id: 'stream-one', lastSeq: 904 }, readings: [{ ...reading('plant-a', 904), seq: '904' }] }));
    expect(coerced.statusCode).toBe(400);
    expect(await h.telemetry.count({ site: 'plant-a', resource: 'temp' })).toBeLessThan(900);
  });

  it('answers bad bodies with coded errors and keeps serving', async () => {
    const malformed = await ingest('plant-a', '{"readings": [');
    expect(malformed.statusCode).toBe(400);
    expect(err(malformed).code).toBe('EDGE_ERR_HUB_MALFORMED_BODY');

    const empty = await ingest('plant-a', '');
    expect(empty.statusCode).toBe(400);
    expect(err(empty).code).toMatch(/^EDGE_ERR_HUB_/);

    const text = await h.call('POST', '/api/v1/sites/plant-a/telemetry', { body: 'hello', headers: { 'content-type': 'text/csv' } });
    expect(text.statusCode).toBe(415);
    expect(err(text).code).toBe('EDGE_ERR_HUB_UNSUPPORTED_MEDIA_TYPE');

    const big = JSON.stringify(batch(Array.from({ length: 2000 }, (_, i) => reading('plant-a', 10_000 + i))));
    expect(big.length).toBeGreaterThan(LIMIT);
    const tooLarge = await ingest('plant-a', big);
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json()).toMatchObject({ code: 'EDGE_ERR_HUB_PAYLOAD_TOO_LARGE', details: { limitBytes: LIMIT } });

    // 64 MiB of zeros inside a small gzip: stopped at the limit.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(LIMIT);
    const bombed = await ingest('plant-a', bomb, { 'content-encoding': 'gzip' });
    expect(bombed.statusCode).toBe(413);
    expect(err(bombed).code).toBe('EDGE_ERR_HUB_PAYLOAD_TOO_LARGE');

    const corrupt = await ingest('plant-a', Buffer.from('definitely not gzip'), { 'content-encoding': 'gzip' });
    expect(corrupt.statusCode).toBe(400);
    expect(err(corrupt).code).toBe('EDGE_ERR_HUB_BAD_ENCODING');

    const unknown = await ingest('plant-a', '{}', { 'content-encoding': 'zip' });
    expect(unknown.statusCode).toBe(415);
    expect(err(unknown).code).toBe('EDGE_ERR_HUB_UNSUPPORTED_ENCODING');

    const proto = await h.call('POST', '/api/v1/sites', { body: '{"__proto__": {"admin": true}, "metadata": {"name": "x"}, "spec": {}}', headers: { 'content-type': 'application/json' } });
    expect(proto.statusCode).toBe(400);
    expect(err(proto).code).toMatch(/^EDGE_ERR_HUB_/);

    const ok = await ingest('plant-a', JSON.stringify(batch([reading('plant-a', 5000)], { lastSeq: 20_000 })));
    expect(ok.statusCode).toBe(200);
    expect((await h.call('GET', '/healthz')).statusCode).toBe(200);
  });

  it('answers the newest reading of each device resource, by site or device, for operators only', async () => {
    const hub = await startTestHub({ backend });
    try {
      const rs = [
        reading('plant-a', 1, { resource: 'temp', value: 1 }),
        reading('plant-a', 2, { resource: 'setpoint', value: 50 }),
        reading('plant-a', 3, { resource: 'temp', value: 3 }),
        // Arrives later but was taken earlier: not the newest.
        reading('plant-a', 4, { resource: 'temp', value: 2, origin: 1_700_000_000_000_000_000 + 2_500_000 }),
        reading('plant-b', 1, { device: 'pump-b', resource: 'temp', value: 7 }),
      ];
      const key = (site: string) => ({ site, producer: 'token:t', stream: { id: 'stream-one', lastSeq: 4 } });
      expect((await hub.telemetry.ingest(key('plant-a'), rs.slice(0, 4))).accepted).toBe(4);
      expect((await hub.telemetry.ingest(key('plant-b'), rs.slice(4))).accepted).toBe(1);
      const latest = async (q: string, token?: string) => hub.call('GET', `/api/v1/telemetry/latest${q}`, token === undefined ? {} : { token });
      const all = await latest('');
      expect(all.statusCode).toBe(200);
      const pick = (r: { json: <T>() => T }) => r.json<{ items: Reading[] }>().items.map((x) => `${x.device}/${x.resource}=${JSON.stringify(x.value)}`).sort();
      expect(pick(all)).toEqual(['pump-a/setpoint=50', 'pump-a/temp=3', 'pump-b/temp=7']);
      expect(pick(await latest('?site=plant-b'))).toEqual(['pump-b/temp=7']);
      expect(pick(await latest('?device=pump-a', hub.viewer))).toEqual(['pump-a/setpoint=50', 'pump-a/temp=3']);
      expect(pick(await latest('?device=pump-a&site=plant-b'))).toEqual([]);
      expect(pick(await latest('?device=nope'))).toEqual([]);
      expect((await latest('', hub.agentA)).statusCode).toBe(403);
    } finally {
      await hub.close();
    }
  });

  it('queries with filters, time ranges, order and paging', async () => {
    const base = 1_800_000_000_000_000_000;
    const rs: Reading[] = [];
    for (let i = 0; i < 25; i++) {
      rs.push(reading('plant-b', 100 + i, { device: i % 2 === 0 ? 'pump-b' : 'fan-b', resource: i % 5 === 0 ? 'setpoint' : 'temp', origin: base + i * 1_000_000_000 }));
    }
    expect((await h.call('POST', '/api/v1/sites/plant-b/telemetry', { token: h.agentB, body: batch(rs) })).json()).toEqual({ accepted: 25, duplicates: 0, conflicts: 0, quarantined: 0 });

    type Page = { items: Reading[]; next?: string };
    const all: Reading[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await h.call('GET', `/api/v1/telemetry?site=plant-b&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: h.viewer });
      expect(r.statusCode).toBe(200);
      const p = r.json<Page>();
      all.push(...p.items);
      cursor = p.next;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(all.map((r) => r.seq)).toEqual(rs.map((r) => r.seq));
    expect(all[0]).toEqual({ ...rs[0], stream: `token:${(await h.tokens.list()).find((t) => t.site === 'plant-b')!.id}/stream-one` });

    const desc = (await h.call('GET', '/api/v1/telemetry?site=plant-b&order=desc&limit=3')).json<Page>();
    expect(desc.items.map((r) => r.seq)).toEqual([124, 123, 122]);

    const dev = (await h.call('GET', '/api/v1/telemetry?site=plant-b&device=fan-b&resource=temp')).json<Page>();
    expect(dev.items.every((r) => r.device === 'fan-b' && r.resource === 'temp')).toBe(true);
    expect(dev.items).toHaveLength(10);

    const from = new Date((base + 10 * 1_000_000_000) / 1_000_000).toISOString();
    const rangeIso = (await h.call('GET', `/api/v1/telemetry?site=plant-b&from=${from}&to=${base + 12 * 1_000_000_000}`)).json<Page>();
    expect(rangeIso.items.map((r) => r.seq)).toEqual([110, 111, 112]);
    const offset = (await h.call('GET', `/api/v1/telemetry?site=plant-b&from=${encodeURIComponent('2027-01-15T08:00:10+00:00')}&limit=1`)).json<Page>();
    expect(offset.items.length).toBeLessThanOrEqual(1);

    const badTime = await h.call('GET', '/api/v1/telemetry?from=yesterday&to=2024-13-45');
    expect(badTime.statusCode).toBe(400);
    expect(err(badTime).details?.issues?.map((i) => i.path)).toEqual(['from', 'to']);
    const badCursor = await h.call('GET', '/api/v1/telemetry?cursor=garbage!!');
    expect(badCursor.statusCode).toBe(400);
    expect(err(badCursor).code).toMatch(/^EDGE_ERR_TELEMETRY_/);
    const badLimit = await h.call('GET', '/api/v1/telemetry?limit=100000');
    expect(badLimit.statusCode).toBe(400);
  });
});
