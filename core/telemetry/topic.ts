/** The MQTT topic a site publishes its telemetry to, shared by the uplink and the hub's ingest. */
export function telemetryTopic(site: string): string {
  return `edgeadm/telemetry/${site}`;
}
