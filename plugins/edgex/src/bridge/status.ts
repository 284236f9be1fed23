/**
 * The bridge's health: whether each EdgeX service it uses answers, and why
 * not. A bridge that cannot reach EdgeX keeps running, degraded: the first
 * service down (core-metadata, core-command, message-bus in that order)
 * gives the instance's status its cause (`onChange`, wired to
 * PluginContext.setDegraded: the Addon's status at the hub, `edgeadm addon
 * status`, `edgeadm status`, the console), cleared when all answer again;
 * and it shows here:
 *
 *   edgeadm_edgex_bridge_up{service}               1 while the service answers, 0 after a failure (core-metadata, core-command, message-bus)
 *   edgeadm_edgex_bridge_failures_total{service}   failed calls and connections
 *   edgeadm_edgex_bridge_retry_seconds             the wait before core-metadata is read again after a failure (0 when healthy)
 *
 * plus one warning per cause (its coded error, with the URL and the reason,
 * never a secret) and one info line when the service answers again; the
 * EdgeX devices' reads carry the cause in their quality detail, so their
 * status shows it too. Retries wait `backoff(n)`: doubling from the first
 * wait, capped.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { isEdgeError, toErrorInfo, type ErrorInfo, type Logger } from '../../../../core/sdk/index.ts';

export type BridgeService = 'core-metadata' | 'core-command' | 'message-bus';
const SERVICES: readonly BridgeService[] = ['core-metadata', 'core-command', 'message-bus'];

/** One service's health as the bridge last saw it. */
export interface ServiceHealth {
  up: boolean;
  /** Why it is down (the last failure's coded error). */
  cause?: ErrorInfo;
  /** Failures in a row. */
  failures: number;
}

const NAMES = ['edgeadm_edgex_bridge_up', 'edgeadm_edgex_bridge_failures_total', 'edgeadm_edgex_bridge_retry_seconds'] as const;

/** The wait before retry `n` (1 for the first): `firstMs` doubled each time, at most `maxMs`. */
export function backoff(n: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(n - 1, 0), 30));
}

export class BridgeHealth {
  readonly #log: Logger;
  readonly #registry: Registry;
  readonly #up: Gauge<'service'>;
  readonly #failures: Counter<'service'>;
  readonly #retry: Gauge;
  readonly #state = new Map<BridgeService, ServiceHealth & { causeKey?: string; error?: Error }>();
  readonly #onChange: ((cause: Error | undefined) => void) | undefined;

  /** `onChange` hears the bridge's cause of trouble after every failure or recovery (undefined: every service answers). */
  constructor(registry: Registry, log: Logger, services: readonly BridgeService[] = SERVICES, onChange?: (cause: Error | undefined) => void) {
    this.#log = log;
    this.#onChange = onChange;
    this.#registry = registry;
    const registers = [registry];
    this.#up = new Gauge({ name: NAMES[0], help: 'Whether the EdgeX service the bridge uses answers (1) or not (0).', labelNames: ['service'] as const, registers });
    this.#failures = new Counter({ name: NAMES[1], help: 'Failed calls and connections of the bridge to EdgeX, by service.', labelNames: ['service'] as const, registers });
    this.#retry = new Gauge({ name: NAMES[2], help: 'Seconds before core-metadata is read again after a failure (0 when it answers).', registers });
    for (const s of services) this.#state.set(s, { up: true, failures: 0 });
    for (const s of services) this.#up.set({ service: s }, 1);
  }

  /** Each service's health now. */
  status(): Record<string, ServiceHealth> {
    const out: Record<string, ServiceHealth> = {};
    for (const [s, h] of this.#state) out[s] = { up: h.up, failures: h.failures, ...(h.cause ? { cause: h.cause } : {}) };
    return out;
  }

  /** A failure of `service`: down, counted, logged once per cause. Returns the failures in a row. */
  fail(service: BridgeService, err: unknown, fields: Record<string, unknown> = {}): number {
    const h = this.#state.get(service) ?? { up: true, failures: 0 };
    const cause = toErrorInfo(err);
    const key = `${isEdgeError(err) ? err.code : 'error'}\u0000${cause.message}`;
    h.up = false;
    h.failures++;
    h.cause = cause;
    this.#up.set({ service }, 0);
    this.#failures.inc({ service });
    if (h.causeKey !== key) this.#log.warn({ service, ...fields, error: cause }, 'edgex bridge: EdgeX does not answer; retrying');
    h.causeKey = key;
    h.error = err instanceof Error ? err : new Error(cause.message);
    this.#state.set(service, h);
    this.#changed();
    return h.failures;
  }

  /** The cause the bridge is degraded by: the first service down's error; undefined when all answer. */
  cause(): Error | undefined {
    for (const h of this.#state.values()) if (!h.up) return h.error;
    return undefined;
  }

  #changed(): void {
    this.#onChange?.(this.cause());
  }

  /** `service` answered: up again (logged when it was down). */
  ok(service: BridgeService): void {
    const h = this.#state.get(service);
    if (h && !h.up) this.#log.info({ service, failures: h.failures }, 'edgex bridge: EdgeX answers again');
    this.#state.set(service, { up: true, failures: 0 });
    this.#up.set({ service }, 1);
    if (h && !h.up) this.#changed();
  }

  /** The wait before the next try, as shown in edgeadm_edgex_bridge_retry_seconds. */
  retryIn(ms: number): void {
    this.#retry.set(ms / 1000);
  }

  unregister(): void {
    for (const name of NAMES) this.#registry.removeSingleMetric(name);
  }
}
