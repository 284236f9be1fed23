/**
 * A site's health settings with their defaults applied. The rules of the
 * settings are the Site schema's (core/store: SiteHealthSchema and its
 * checks); this file only fills in what was left out, from one table.
 */
import { goDurationMs } from '../kernel/index.ts';
import type { HealthCheck, SiteHealth } from '../store/index.ts';
import { HEALTH_PORT } from './annotations.ts';
import { ErrHealthConfig } from './errors.ts';

export const HEALTH_DEFAULTS = {
  port: HEALTH_PORT,
  periodMs: 10_000,
  /** At most; shorter when the period is short (every try fits in half a period). */
  checkTimeoutMs: 2_000,
  retries: 1,
  weight: 1,
  voters: 5,
  fanout: 3,
  /** A vote counts for this many periods, unless voteTimeout says otherwise. */
  voteTimeoutPeriods: 18,
  httpPath: '/healthz',
} as const;

export interface ResolvedCheck {
  name: string;
  type: HealthCheck['type'];
  /** Undefined for icmp. */
  port: number | undefined;
  path: string;
  expectStatus: readonly number[];
  insecureSkipVerify: boolean;
  timeoutMs: number;
  retries: number;
  weight: number;
}

export interface HealthConfig {
  port: number;
  periodMs: number;
  checks: readonly ResolvedCheck[];
  passScore: number;
  voters: number;
  fanout: number;
  voteTimeoutMs: number;
  /** How often a node re-signs votes that did not change: a third of voteTimeout. */
  refreshMs: number;
}

function duration(value: string | undefined, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = goDurationMs(value);
  // The store refuses these already; a config that never went through it (a test, an SDK user) gets the same words.
  if (ms === undefined || ms <= 0) throw new ErrHealthConfig({ field, reason: `must be a Go duration longer than zero (is '${value}')` });
  return ms;
}

/** The settings with defaults; throws ErrHealthConfig for what the store would have refused. */
export function resolveHealthConfig(h: SiteHealth): HealthConfig {
  const port = h.port ?? HEALTH_DEFAULTS.port;
  const periodMs = duration(h.period, 'spec.health.period', HEALTH_DEFAULTS.periodMs);
  const raw: readonly HealthCheck[] = h.checks ?? [{ name: 'agent', type: 'tcp' }];
  const checks = raw.map((c, i): ResolvedCheck => {
    const retries = c.retries ?? HEALTH_DEFAULTS.retries;
    // Unless set, every try of a check fits in half a period.
    const timeoutMs = duration(c.timeout, `spec.health.checks[${i}].timeout`, Math.min(HEALTH_DEFAULTS.checkTimeoutMs, Math.floor(periodMs / (2 * (retries + 1)))));
    if (timeoutMs * (retries + 1) > periodMs) {
      throw new ErrHealthConfig({ field: `spec.health.checks[${i}].timeout`, reason: `times ${retries + 1} tries must fit in one period (${periodMs} ms)` });
    }
    return {
      name: c.name,
      type: c.type,
      port: c.type === 'icmp' ? undefined : (c.port ?? port),
      path: c.path ?? HEALTH_DEFAULTS.httpPath,
      expectStatus: c.expectStatus ?? [200],
      insecureSkipVerify: c.insecureSkipVerify ?? false,
      timeoutMs,
      retries,
      weight: c.weight ?? HEALTH_DEFAULTS.weight,
    };
  });
  const total = checks.reduce((a, c) => a + c.weight, 0);
  const passScore = h.passScore ?? total;
  if (passScore > total) throw new ErrHealthConfig({ field: 'spec.health.passScore', reason: `is more than the checks' weights add up to (${total})` });
  const voteTimeoutMs = duration(h.voteTimeout, 'spec.health.voteTimeout', periodMs * HEALTH_DEFAULTS.voteTimeoutPeriods);
  if (voteTimeoutMs < 3 * periodMs) throw new ErrHealthConfig({ field: 'spec.health.voteTimeout', reason: `must be at least 3 periods (${3 * periodMs} ms)` });
  return {
    port,
    periodMs,
    checks,
    passScore,
    voters: h.voters ?? HEALTH_DEFAULTS.voters,
    fanout: h.fanout ?? HEALTH_DEFAULTS.fanout,
    voteTimeoutMs,
    refreshMs: Math.floor(voteTimeoutMs / 3),
  };
}

/**
 * The settings without checks this node cannot run (icmp where `ping` is
 * missing or not permitted): the pass score shrinks in proportion to the
 * weight left, so peers are judged by what can be checked. Undefined when
 * no check is left.
 */
export function withoutChecks(c: HealthConfig, names: ReadonlySet<string>): HealthConfig | undefined {
  const checks = c.checks.filter((x) => !names.has(x.name));
  if (checks.length === c.checks.length) return c;
  if (checks.length === 0) return undefined;
  const total = c.checks.reduce((a, x) => a + x.weight, 0);
  const left = checks.reduce((a, x) => a + x.weight, 0);
  return { ...c, checks, passScore: (c.passScore * left) / total };
}
