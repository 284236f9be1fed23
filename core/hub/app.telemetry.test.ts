import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../sdk/index.ts';
import { BACKENDS, err, reading, startTestHub, type TestHub } from './testing/harness.ts';

const LIMIT = 256 * 1024;

describe.each(BACKENDS)('hub telemetry API ($name)', (backend) => {
  let h: TestHub;
  beforeAll(async () => {
    h = await startTestHub({ backend, bodyLimitBytes: LIMIT });
  });
  afterAll(() => h.close());

  const ingest = (site: string, payload: Buffer | string, headers: Record<string, string> = {}, token?: string) =>
    h.call('POST', `/api/v1/sites/${site}/telemetry`, { body: payload, headers: { 'content-type': 'application/json', ...headers }, ...(token ? { token } : {}) });

  it('ingests a gzip batch once and counts a repeat as duplicates', async () => {
    const batch = { readings: Array.from({ length: 200 }, (_, i) => reading('plant-a', i + 1)) };
    const gz = gzipSync(JSON.stringify(batch));
    const first = await ingest('plant-a', gz, { 'content-encoding': 'gzip' }, h.agentA);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ accepted: 200, duplicates: 0 });
    const again = await ingest('plant-a', gz, { 'content-encoding': 'gzip' }, h.agentA);
    expect(again.json()).toEqual({ accepted: 0, duplicates: 200 });
    const mixed = await ingest('plant-a', JSON.stringify({ readings: [reading('plant-a', 200), reading('plant-a', 201)] }));
    expect(mixed.json()).toEqual({ accepted: 1, duplicates: 1 });
    const br = await ingest('plant-a', brotliCompressSync(JSON.stringify({ readings: [reading('plant-a', 202)] })), { 'content-encoding': 'br' });
    expect(br.json()).toEqual({ accepted: 1, duplicates: 0 });
    expect(h.telemetry.count({ site: 'plant-a' })).toBe(202);

    const metrics = await h.call('GET', '/metrics');
    expect(metrics.body).toMatch(/edgeadm_hub_telemetry_readings_total\{result="accepted"\} 202/);
    expect(metrics.body).toMatch(/edgeadm_hub_telemetry_readings_total\{result="duplicate"\} 201/);
  });

  it('refuses readings of another site than the path, and bad readings, with field paths', async () => {
    const other = await ingest('plant-a', JSON.stringify({ readings: [reading('plant-a', 900), reading('plant-b', 901)] }));
    expect(other.statusCode).toBe(400);
    expect(err(other).details?.issues).toEqual([{ in: 'body', path: 'readings[1].site', message: expect.stringContaining("'plant-b'") }]);

    const wrong = await ingest(
      'plant-a',
      JSON.stringify({ readings: [{ ...reading('plant-a', 902), seq: 'x', quality: 'great' }, { ...reading('plant-a', 903), origin: -1, color: 1 }] }),
    );
    expect(wrong.statusCode).toBe(400);
    const body = wrong.json<{ code: string; details: { issues: { path: string }[] } }>();
    expect(body.code).toBe('EDGE_ERR_HUB_BAD_REQUEST');
    expect(body.details.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['readings[0].seq', 'readings[0].quality', 'readings[1].origin', 'readings[1].color']),
    );
    // A string is not coerced into an integer in a body.
    const coerced = await ingest('plant-a', JSON.stringify({ readings: [{ ...reading('plant-a', 904), seq: '904' }] }));
    expect(coerced.statusCode).toBe(400);
    expect(h.telemetry.count({ site: 'plant-a', resource: 'temp' })).toBeLessThan(900);
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

    const big = JSON.stringify({ readings: Array.from({ length: 2000 }, (_, i) => reading('plant-a', 10_000 + i)) });
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

    const ok = await ingest('plant-a', JSON.stringify({ readings: [reading('plant-a', 5000)] }));
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
      expect(hub.telemetry.ingest('plant-a', rs.slice(0, 4)).accepted).toBe(4);
      expect(hub.telemetry.ingest('plant-b', rs.slice(4)).accepted).toBe(1);
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
      rs.push(reading('plant-b', 100 + i, { device: i % 2 === 0 ? 'pump-b' : 'fan-b', resource: i % 5 === 0 ? 'rpm' : 'temp', origin: base + i * 1_000_000_000 }));
    }
    expect((await h.call('POST', '/api/v1/sites/plant-b/telemetry', { token: h.agentB, body: { readings: rs } })).json()).toEqual({ accepted: 25, duplicates: 0 });

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
    expect(all[0]).toEqual(rs[0]);

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
