import { describe, expect, it } from 'vitest';
import type { SiteObject, SiteStatus } from '../store/index.ts';
import type { StreamInfo } from '../telemetry/index.ts';
import { deliveryOf } from './delivery.ts';

type Agent = NonNullable<SiteStatus['agents']>[string];

const at = '2026-12-04T10:00:00.000Z';

function site(agents: Record<string, Partial<Agent['telemetry']>> | undefined): SiteObject {
  const full: Record<string, Agent> = {};
  for (const [producer, t] of Object.entries(agents ?? {})) {
    full[producer] = {
      reportedAt: at,
      health: { state: 'ok', problems: [] },
      telemetry: { stream: 's-1', streams: ['s-1'], firstSeq: 1, lastSeq: 0, ackedSeq: 0, pending: 0, droppedEver: 0, notStored: 0, ...t },
    };
  }
  return { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: 'plant-a' }, spec: {}, ...(agents ? { status: { agents: full } } : {}) };
}

function stream(id: string, held: number, quarantined = 0, producer = 'node:gw-1'): StreamInfo {
  return { site: 'plant-a', producer, id, name: `${producer}/${id}`, held, quarantined, conflicts: 0, duplicates: 0, highSeq: held, declaredLastSeq: held, firstIngestAt: at, lastIngestAt: at };
}

describe('the delivery check', () => {
  it('is unknown until an agent reports', () => {
    expect(deliveryOf(site(undefined), [stream('s-1', 10)])).toMatchObject({ state: 'unknown', expected: 0, missing: 0, agents: [] });
  });

  it('expects every acknowledged seq the outbox did not drop, stored or quarantined, across the agent\'s streams', () => {
    // 100 issued, 80 acknowledged, 15 pending: 5 of the seqs above 80 were dropped, so 7 of the 12 drops are at or below 80.
    const s = site({ 'node:gw-1': { streams: ['s-1', 's-2'], lastSeq: 100, ackedSeq: 80, pending: 15, droppedEver: 12, notStored: 4 } });
    const ok = deliveryOf(s, [stream('s-1', 50, 3), stream('s-2', 20), stream('other', 500)]);
    expect(ok).toMatchObject({ state: 'ok', expected: 73, held: 73, missing: 0, pending: 15, dropped: 12, notStored: 4 });
    expect(ok.message).toMatch(/^all 73 acknowledged reading\(s\) held; 15 pending at the site, 12 dropped by its outbox, 4 not stored/);
    const short = deliveryOf(s, [stream('s-1', 50), stream('s-2', 20)]);
    expect(short).toMatchObject({ state: 'missing', missing: 3, message: '3 reading(s) node:gw-1 had acknowledged are not at the hub' });
  });

  it("counts a stream whichever credential sent it, and only from the outbox's first streamed seq", () => {
    // An outbox from before streams: seqs 1..40 went out under the old scheme; its first stream starts at 41.
    const s = site({ 'token:abc': { streams: ['s-9'], firstSeq: 41, lastSeq: 60, ackedSeq: 60 } });
    expect(deliveryOf(s, [stream('s-9', 12, 0, 'token:old'), stream('s-9', 8, 0, 'token:abc')])).toMatchObject({ state: 'ok', expected: 20, held: 20 });
  });

  it('sums the agents of a site (one per node) and names the one that lost readings', () => {
    const s = site({ 'node:gw-1': { streams: ['a'], lastSeq: 10, ackedSeq: 10 }, 'node:gw-2': { streams: ['b'], lastSeq: 5, ackedSeq: 5 } });
    const d = deliveryOf(s, [stream('a', 10), stream('b', 4, 0, 'node:gw-2')]);
    expect(d).toMatchObject({ state: 'missing', expected: 15, held: 14, missing: 1 });
    expect(d.agents.map((a) => [a.producer, a.missing])).toEqual([
      ['node:gw-1', 0],
      ['node:gw-2', 1],
    ]);
    expect(d.message).toBe('1 reading(s) node:gw-2 had acknowledged are not at the hub');
  });
});
