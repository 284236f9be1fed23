/**
 * The device twin at the site: what a device's writable resources hold
 * (`reported`, from the newest reading of each) against what the Device
 * asks for (`spec.desired`), and what to do when they part.
 *
 * Rules:
 * - `reported` takes every good or uncertain reading of a writable resource;
 *   bad readings carry no value and change nothing.
 * - A reading that departs from the desired value is drift (numbers compare
 *   within a relative 1e-6, so a Float32 register's rounding is no drift).
 *   Drift is judged only `settleMs` after the twin starts (a command that
 *   changed the desired value is on its way then) and never while a write
 *   of the resource is in flight.
 * - Per resource the Device's `spec.driftPolicy` says what follows (key `*`
 *   for every resource not named; default `reassert`): `reassert` writes the
 *   desired value again (at once, then with a doubling back-off while it
 *   does not hold); `report` only records it. Either way the drift is in
 *   `drift` until a reading matches again, and then stays with `resolvedAt`
 *   until the resource departs anew, so what happened remains visible.
 */
import type { Quality, ReadingValue, Sample } from '../core/sdk/index.ts';
import type { DeviceDrift, DriftPolicy } from '../core/store/index.ts';

export type { DriftPolicy } from '../core/store/index.ts';
export const DEFAULT_DRIFT_POLICY: DriftPolicy = 'reassert';
/** The key of `spec.driftPolicy` that applies to every resource it does not name. */
export const ANY_RESOURCE = '*';

export interface ReportedValue {
  value: ReadingValue;
  /** The reading's origin (ns since the epoch). */
  origin: number;
  quality: Quality;
}

/** A departure from the desired value: the store's DeviceDrift (`status.drift.<resource>`). */
export type Drift = DeviceDrift;

export interface DeviceTwinOptions {
  /** The device's writable resources. */
  writable: readonly string[];
  /** `spec.desired` of the Device. */
  desired?: Readonly<Record<string, unknown>>;
  /** `spec.driftPolicy` of the Device. */
  policies?: Readonly<Record<string, DriftPolicy>>;
  settleMs?: number;
  /** Back-off between reasserts of a resource that does not hold its value. */
  backoff?: { minMs: number; maxMs: number };
  now?: () => number;
}

export interface Observation {
  /** Resources whose desired value should be written now. */
  reassert: string[];
  /** True when `reported` or `drift` changed in a way worth reporting (values, not times). */
  changed: boolean;
}

const DEFAULT_SETTLE_MS = 2_000;
const DEFAULT_BACKOFF = { minMs: 2_000, maxMs: 300_000 };

/** Two values equal as a twin sees them: numbers within a relative 1e-6 (a numeric string counts as its number), arrays and objects item by item. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const na = typeof a === 'string' && a.trim() !== '' ? Number(a) : a;
  const nb = typeof b === 'string' && b.trim() !== '' ? Number(b) : b;
  if (typeof na === 'number' && typeof nb === 'number' && (typeof a === 'number' || typeof b === 'number')) {
    return na === nb || Math.abs(na - nb) <= 1e-6 * Math.max(1, Math.abs(na), Math.abs(nb));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

export class DeviceTwin {
  readonly #writable: ReadonlySet<string>;
  readonly #desired: Readonly<Record<string, unknown>>;
  readonly #policies: Readonly<Record<string, DriftPolicy>>;
  readonly #settleAt: number;
  readonly #backoff: { minMs: number; maxMs: number };
  readonly #now: () => number;
  readonly #reported = new Map<string, ReportedValue>();
  readonly #drift = new Map<string, Drift>();
  readonly #writing = new Set<string>();
  /** Per resource: no reassert before this time, and the wait after the next failure. */
  readonly #retry = new Map<string, { at: number; waitMs: number }>();

  constructor(o: DeviceTwinOptions) {
    this.#writable = new Set(o.writable);
    this.#desired = o.desired ?? {};
    this.#policies = o.policies ?? {};
    this.#now = o.now ?? Date.now;
    this.#settleAt = this.#now() + (o.settleMs ?? DEFAULT_SETTLE_MS);
    this.#backoff = o.backoff ?? DEFAULT_BACKOFF;
  }

  /** The policy of a resource. */
  policy(resource: string): DriftPolicy {
    return this.#policies[resource] ?? this.#policies[ANY_RESOURCE] ?? DEFAULT_DRIFT_POLICY;
  }

  /** The desired value of a resource the twin tends (writable, with a desired value). */
  desired(resource: string): { value: unknown } | undefined {
    return this.#writable.has(resource) && Object.hasOwn(this.#desired, resource) ? { value: this.#desired[resource] } : undefined;
  }

  /** Takes readings in; says which resources to reassert now. */
  observe(samples: readonly Sample[]): Observation {
    const out: Observation = { reassert: [], changed: false };
    const now = this.#now();
    for (const s of samples) {
      if (!this.#writable.has(s.resource) || s.quality === 'bad' || s.value === null) continue;
      const prev = this.#reported.get(s.resource);
      if (prev && s.origin < prev.origin) continue;
      if (!prev || !sameValue(prev.value, s.value) || prev.quality !== s.quality) out.changed = true;
      this.#reported.set(s.resource, { value: s.value, origin: s.origin, quality: s.quality });
      const want = this.desired(s.resource);
      if (!want || this.#writing.has(s.resource)) continue;
      const d = this.#drift.get(s.resource);
      if (sameValue(s.value, want.value)) {
        if (d && d.resolvedAt === undefined) {
          d.resolvedAt = new Date(now).toISOString();
          delete d.error;
          this.#retry.delete(s.resource);
          out.changed = true;
        }
        continue;
      }
      if (now < this.#settleAt) continue;
      if (!d || d.resolvedAt !== undefined) {
        this.#drift.set(s.resource, { desired: want.value, observed: s.value, since: new Date(now).toISOString(), policy: this.policy(s.resource) });
        this.#retry.delete(s.resource);
        out.changed = true;
      } else if (!sameValue(d.observed, s.value)) {
        d.observed = s.value;
        out.changed = true;
      }
      if (this.policy(s.resource) === 'reassert' && now >= (this.#retry.get(s.resource)?.at ?? 0)) out.reassert.push(s.resource);
    }
    return out;
  }

  /** A write of the resource starts (a command or a reassert): no drift is judged until it ends. */
  writing(resource: string): void {
    this.#writing.add(resource);
  }

  /** A write ended. For a reassert, `reassert` carries its outcome: the next one waits longer. */
  written(resource: string, reassert?: { error?: string }): void {
    this.#writing.delete(resource);
    if (!reassert) return;
    const d = this.#drift.get(resource);
    if (d) {
      d.reasserts = (d.reasserts ?? 0) + 1;
      if (reassert.error === undefined) delete d.error;
      else d.error = reassert.error;
    }
    const prev = this.#retry.get(resource);
    const waitMs = prev ? Math.min(prev.waitMs * 2, this.#backoff.maxMs) : this.#backoff.minMs;
    this.#retry.set(resource, { at: this.#now() + waitMs, waitMs });
  }

  reported(): Record<string, ReportedValue> {
    return Object.fromEntries(this.#reported);
  }

  drift(): Record<string, Drift> {
    return Object.fromEntries([...this.#drift].map(([k, d]) => [k, { ...d }]));
  }
}
