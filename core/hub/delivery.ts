/**
 * Did every reading a site's agents sent reach the hub? Each agent reports
 * its outbox's counts over its sync session (kept in the Site's status, per
 * producer); the hub counts what it holds of that agent's streams. Readings
 * up to the agent's acknowledged seq that its outbox did not drop (its
 * bounds) must all be held, stored or quarantined; fewer means readings were
 * lost between the agent and the hub. `edgeadm status` and the console show
 * it.
 */
import type { SiteObject, SiteStatus } from '../store/index.ts';
import type { StreamInfo } from '../telemetry/index.ts';
import { compareNames } from '../kernel/index.ts';

type AgentEntry = NonNullable<SiteStatus['agents']>[string];

export interface DeliveryCounts {
  /** Readings the acknowledgements say the hub holds, and what the hub holds of the streams (stored + quarantined). */
  expected: number;
  held: number;
  missing: number;
  /** From the agent: readings not yet acknowledged, dropped by its outbox's bounds, not stored (disk). */
  pending: number;
  dropped: number;
  notStored: number;
}

/** The check of one agent (one producer) of a site. */
export interface AgentDelivery extends DeliveryCounts {
  producer: string;
  reportedAt: string;
}

export interface Delivery extends DeliveryCounts {
  site: string;
  /** `ok`: every acknowledged reading is held; `missing`: some are not; `unknown`: no agent has reported. The counts are sums over the site's agents. */
  state: 'ok' | 'missing' | 'unknown';
  agents: AgentDelivery[];
  message: string;
}

function agentDelivery(producer: string, a: AgentEntry, streams: readonly StreamInfo[]): AgentDelivery {
  const t = a.telemetry;
  // Every seq above the acknowledged one is either still in the outbox or was dropped from it.
  const droppedAbove = Math.max(0, t.lastSeq - t.ackedSeq - t.pending);
  const droppedAtOrBelow = Math.max(0, t.droppedEver - droppedAbove);
  const expected = Math.max(0, t.ackedSeq - t.firstSeq + 1 - droppedAtOrBelow);
  // Stream ids are random per outbox: counted whichever credential sent them (a rotated token keeps its stream).
  const ids = new Set(t.streams);
  const held = streams.filter((s) => ids.has(s.id)).reduce((n, s) => n + s.held + s.quarantined, 0);
  return { producer, reportedAt: a.reportedAt, expected, held, missing: Math.max(0, expected - held), pending: t.pending, dropped: t.droppedEver, notStored: t.notStored };
}

/** The delivery check of one site, from its Site (with its agents' last reports) and the hub's streams of that site. */
export function deliveryOf(site: SiteObject, streams: readonly StreamInfo[]): Delivery {
  const agents = Object.entries(site.status?.agents ?? {})
    .map(([producer, a]) => agentDelivery(producer, a, streams))
    .sort((x, y) => compareNames(x.producer, y.producer));
  const sum = (k: keyof DeliveryCounts): number => agents.reduce((n, a) => n + a[k], 0);
  const totals = { expected: sum('expected'), held: sum('held'), missing: sum('missing'), pending: sum('pending'), dropped: sum('dropped'), notStored: sum('notStored') };
  const state = agents.length === 0 ? 'unknown' : totals.missing > 0 ? 'missing' : 'ok';
  const message =
    state === 'unknown'
      ? 'no site agent has reported yet'
      : state === 'missing'
        ? agents
            .filter((a) => a.missing > 0)
            .map((a) => `${a.missing} reading(s) ${a.producer} had acknowledged are not at the hub`)
            .join('; ')
        : `all ${totals.expected} acknowledged reading(s) held; ${totals.pending} pending at the site, ${totals.dropped} dropped by its outbox, ${totals.notStored} not stored (disk)`;
  return { site: site.metadata.name, state, ...totals, agents, message };
}
