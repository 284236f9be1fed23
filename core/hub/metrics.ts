/**
 * The hub's Prometheus metrics, registered on the registry the caller
 * passes in (never prom-client's global one). Building a second app on the
 * same registry reuses the metrics instead of failing on duplicate names.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface HubMetrics {
  requests: Counter<'method' | 'route' | 'status'>;
  requestDuration: Histogram<'method' | 'route' | 'status'>;
  streamClients: Gauge<'transport'>;
  streamDropped: Counter<'transport'>;
  readings: Counter<'result'>;
  commands: Counter;
  /** Node SSH host key changes: `reported` by a join (kept pending), `trusted` or `rejected` by an admin. */
  hostKeyChanges: Counter<'event'>;
}

/** The metric named `name` on `registry`, made by `make` when it is not there yet (modules of the hub use it too). */
export function registeredMetric<M>(registry: Registry, name: string, make: () => M): M {
  const existing = registry.getSingleMetric(name);
  return existing === undefined ? make() : (existing as M);
}

export function createHubMetrics(registry: Registry): HubMetrics {
  const registers = [registry];
  return {
    requests: registeredMetric(
      registry,
      'edgeadm_hub_http_requests_total',
      () =>
        new Counter({
          name: 'edgeadm_hub_http_requests_total',
          help: 'HTTP requests answered by the hub, by route template and status.',
          labelNames: ['method', 'route', 'status'] as const,
          registers,
        }),
    ),
    requestDuration: registeredMetric(
      registry,
      'edgeadm_hub_http_request_duration_seconds',
      () =>
        new Histogram({
          name: 'edgeadm_hub_http_request_duration_seconds',
          help: 'Time from request to response, by route template and status.',
          labelNames: ['method', 'route', 'status'] as const,
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers,
        }),
    ),
    streamClients: registeredMetric(
      registry,
      'edgeadm_hub_stream_clients',
      () =>
        new Gauge({
          name: 'edgeadm_hub_stream_clients',
          help: 'Connected live stream clients, by transport (sse and ws: telemetry; watch: resources).',
          labelNames: ['transport'] as const,
          registers,
        }),
    ),
    streamDropped: registeredMetric(
      registry,
      'edgeadm_hub_stream_clients_dropped_total',
      () =>
        new Counter({
          name: 'edgeadm_hub_stream_clients_dropped_total',
          help: 'Live stream clients disconnected because they read too slowly (buffer over the limit), by transport.',
          labelNames: ['transport'] as const,
          registers,
        }),
    ),
    readings: registeredMetric(
      registry,
      'edgeadm_hub_telemetry_readings_total',
      () =>
        new Counter({
          name: 'edgeadm_hub_telemetry_readings_total',
          help: 'Readings received on the ingest route, by result (accepted, duplicate).',
          labelNames: ['result'] as const,
          registers,
        }),
    ),
    commands: registeredMetric(
      registry,
      'edgeadm_hub_commands_enqueued_total',
      () =>
        new Counter({
          name: 'edgeadm_hub_commands_enqueued_total',
          help: 'Device commands enqueued.',
          registers,
        }),
    ),
    hostKeyChanges: registeredMetric(
      registry,
      'edgeadm_hub_node_host_key_changes_total',
      () =>
        new Counter({
          name: 'edgeadm_hub_node_host_key_changes_total',
          help: 'SSH host key changes of nodes, by event: reported (a join brought other keys; they wait for an admin), trusted, rejected.',
          labelNames: ['event'] as const,
          registers,
        }),
    ),
  };
}
