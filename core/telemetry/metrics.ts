/**
 * prom-client metrics, registered on the registry a component is given (or on
 * none). A metric already registered under the same name is reused, so two
 * components sharing a registry share one series instead of throwing.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export function counter<L extends string = never>(registry: Registry | undefined, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const existing = registry?.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter<L>({ name, help, labelNames, registers: registry ? [registry] : [] });
}

export function gauge<L extends string = never>(registry: Registry | undefined, name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  const existing = registry?.getSingleMetric(name);
  if (existing instanceof Gauge) return existing;
  return new Gauge<L>({ name, help, labelNames, registers: registry ? [registry] : [] });
}
