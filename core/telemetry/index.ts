/**
 * core/telemetry: the site's durable outbox, the forwarder that drains it
 * through an uplink (REST or MQTT), and the hub's idempotent telemetry store
 * with its MQTT ingest.
 */
import type { PostgresTelemetryOptions } from './postgres-store.ts';
import type { TelemetryStore } from './types.ts';

export type * from './types.ts';
export * as TelemetryErrors from './errors.ts';
export { openOutbox, type OutboxOptions } from './outbox.ts';
export { openTelemetryStore, DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT, STREAM_ID_RE, type TelemetryStoreOptions } from './telemetry-store.ts';
export type { PostgresTelemetryOptions } from './postgres-store.ts';
/** The PostgreSQL driver, loaded on use: a site agent (which imports this folder for its outbox) never loads `pg`. */
export async function openPostgresTelemetryStore(opts: PostgresTelemetryOptions): Promise<TelemetryStore> {
  return (await import('./postgres-store.ts')).openPostgresTelemetryStore(opts);
}
export { startForwarder, backoffDelay, type Forwarder, type ForwarderOptions, type ForwarderStats } from './forwarder.ts';
export { createRestUplink, type RestUplinkOptions } from './rest-uplink.ts';
export { createMqttUplink, type MqttUplinkOptions } from './mqtt-uplink.ts';
export { createBridgeUplink, DEFAULT_BRIDGE_TOPIC, type BridgeUplinkOptions } from './bridge-uplink.ts';
export { ErrBridgeOption } from './errors.ts';
export { startMqttIngest, REJECT_LOG_WINDOW_MS, type MqttIngest, type MqttIngestOptions } from './mqtt-ingest.ts';
export { telemetryTopic } from './topic.ts';
export { startTelemetryExport, exportGroup, exportTopic, exportUrl, DEFAULT_EXPORT_TOPIC, type TelemetryExport, type TelemetryExportOptions, type ExportFormat } from './export.ts';
export { ReadingInputSchema, sampleReading, withSite } from './validate.ts';
