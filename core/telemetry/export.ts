/**
 * Export: the hub publishes every reading it stores to an external MQTT
 * broker or cluster (Mosquitto, EMQX, HiveMQ, ...) for consumers outside
 * the platform, with a durable cursor, so nothing is lost or skipped across
 * restarts:
 *
 * - it walks each producer stream in seq order (`streamReadings`) from the
 *   exporter's cursor, publishes at QoS 1, and moves the cursor once the
 *   broker has acknowledged every reading of the step (PUBACK); a restart
 *   goes on from there. A stop mid-step may publish that step again (QoS 1
 *   is at least once); consumers dedupe on (site, stream, seq), which every
 *   message carries;
 * - it wakes on each ingest (the store's live subscription) and otherwise
 *   looks again every `idleMs`; while the broker is away it waits and
 *   retries, readings staying in the store;
 * - the topic is a template of `{site}`, `{device}`, `{profile}`,
 *   `{resource}` (each made topic-safe: `/`, `+`, `#` become `_`);
 * - the payload is the platform's reading as JSON (`json`, with `stream`),
 *   or an EdgeX v3 AddEventRequest in EdgeX's message envelope (`edgex`,
 *   what EdgeX app services and eKuiper read);
 * - or, with `sparkplug`, each site is a Sparkplug B edge node with its own
 *   session, on `spBv1.0/{group}/...` topics (sparkplug.ts: births, deaths,
 *   bdSeq and seq, rebirth on NCMD); the topic template does not apply.
 *
 * Of several hub replicas on one store, given the same export, one runs it
 * at a time: the one holding the store's export lease (TelemetryStore.
 * exportLease: on PostgreSQL a session lock, freed when its holder's
 * connection ends). The others stand by, ask for the lease every `leaseMs`,
 * and the one that takes it over goes on from the durable cursor: a
 * replica stopped or killed mid-step hands over at most that step again.
 */
import type { MqttClient } from 'mqtt';
import type { Registry } from 'prom-client';
import { createLogger, toErrorInfo, type Logger } from '../kernel/index.ts';
import { edgexAddEventRequest, edgexEventOf, wrapEdgeXEnvelope, type StoredReading } from '../sdk/index.ts';
import { ErrExportOption } from './errors.ts';
import { counter, gauge } from './metrics.ts';
import type { StreamRef, TelemetryStore } from './types.ts';

export type ExportFormat = 'json' | 'edgex' | 'sparkplug';
const FORMATS: readonly string[] = ['json', 'edgex', 'sparkplug'];

export interface TelemetryExportOptions {
  store: TelemetryStore;
  /** The exporter's name: its cursor's key (default `mqtt`). */
  name?: string;
  /** mqtt://, mqtts://, ws:// or wss:// URL of the broker. */
  url: string;
  username?: string;
  /** A secret: never logged. */
  password?: string;
  /** PEM of the CA that signed the broker's certificate (mqtts, wss). */
  ca?: string;
  /** Default `edgeadm/{site}/{device}/{resource}`; not with `sparkplug` (its topics are Sparkplug's). */
  topic?: string;
  format?: ExportFormat;
  /** Sparkplug's group_id (format `sparkplug` only; default `edgeadm`). */
  group?: string;
  /** Readings per step (default 500). */
  batch?: number;
  /** Look again this often when nothing woke it (default 1000 ms). */
  idleMs?: number;
  /** A replica standing by asks for the lease this often (default 2000 ms). */
  leaseMs?: number;
  /** With `sparkplug`, each site's session adds `-<site>` to it. */
  clientId?: string;
  metrics?: Registry;
  logger?: Logger;
}

export interface TelemetryExport {
  /** Readings published and acknowledged since start. */
  readonly exported: number;
  /** Ends the export after the step under way (its publishes cut after 5 s without the broker); the cursor stays where the broker acknowledged. */
  stop(): Promise<void>;
}

export const DEFAULT_EXPORT_TOPIC = 'edgeadm/{site}/{device}/{resource}';
const FIELDS = ['site', 'device', 'profile', 'resource'] as const;
const topicSafe = (s: string): string => s.replace(/[/+#]/g, '_');

/** The topic template, checked: only its fields, no wildcard; throws EDGE_ERR_EXPORT_OPTION naming `topic`. */
export function exportTopic(template: string): (r: StoredReading) => string {
  if (template === '' || /[+#]/.test(template.replace(/\{[a-z]+\}/g, ''))) throw new ErrExportOption({ option: 'topic', reason: `'${template}' must be a topic without wildcards (+, #)` });
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(FIELDS as readonly string[]).includes(m[1]!)) throw new ErrExportOption({ option: 'topic', reason: `{${m[1]}} is not a field: ${FIELDS.map((f) => `{${f}}`).join(', ')}` });
  }
  return (r) => template.replace(/\{(site|device|profile|resource)\}/g, (_m, f: (typeof FIELDS)[number]) => topicSafe(r[f]));
}

/** The broker's URL, checked: mqtt://, mqtts://, ws:// or wss://; throws EDGE_ERR_EXPORT_OPTION naming `url`. */
export function exportUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ErrExportOption({ option: 'url', reason: 'is not a URL (mqtt://user:password@broker:1883)' });
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) throw new ErrExportOption({ option: 'url', reason: `must be mqtt://, mqtts://, ws:// or wss://, not ${url.protocol}//` });
  return url;
}

export const DEFAULT_SPARKPLUG_GROUP = 'edgeadm';

/** The Sparkplug group_id, checked: not empty, no `/`, `+` or `#` (Sparkplug 3.0); throws EDGE_ERR_EXPORT_OPTION naming `group`. */
export function exportGroup(group: string): string {
  if (group === '' || /[/+#]/.test(group)) throw new ErrExportOption({ option: 'group', reason: `'${group}' must be a Sparkplug group_id: not empty, without /, + or #` });
  return group;
}

/** Where a step's readings go: one broker client (json, edgex), or one Sparkplug edge node per site. */
interface ExportSink {
  /** Resolves once the broker has acknowledged every message of the step. */
  publish(stream: StreamRef, readings: readonly StoredReading[]): Promise<void>;
  close(force: boolean): Promise<void>;
}

/** Resolves when the client connects, or after `ms`. */
function connectedWithin(client: MqttClient, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      client.off('connect', done);
      resolve();
    }
    client.once('connect', done);
  });
}

function payloadOf(format: 'json' | 'edgex', r: StoredReading): string {
  if (format === 'json') return JSON.stringify(r);
  return wrapEdgeXEnvelope(edgexAddEventRequest(edgexEventOf([r])));
}

export async function startTelemetryExport(o: TelemetryExportOptions): Promise<TelemetryExport> {
  const name = o.name ?? 'mqtt';
  const format = o.format ?? 'json';
  if (!FORMATS.includes(format)) throw new ErrExportOption({ option: 'format', reason: `'${String(format)}' is not json or edgex, nor sparkplug` });
  const sparkplug = format === 'sparkplug';
  if (sparkplug && o.topic !== undefined) throw new ErrExportOption({ option: 'topic', reason: 'does not apply to format sparkplug (its topics are spBv1.0/{group}/...)' });
  if (!sparkplug && o.group !== undefined) throw new ErrExportOption({ option: 'group', reason: `applies to format sparkplug only, not ${format}` });
  const group = sparkplug ? exportGroup(o.group ?? DEFAULT_SPARKPLUG_GROUP) : undefined;
  const topicOf = exportTopic(o.topic ?? DEFAULT_EXPORT_TOPIC);
  const batch = o.batch ?? 500;
  const idleMs = o.idleMs ?? 1000;
  const url = exportUrl(o.url);
  const log = (o.logger ?? createLogger({ level: 'silent' })).child({ component: 'telemetry-export', exporter: name, broker: `${url.protocol}//${url.host}` });
  const exportedTotal = counter(o.metrics, 'edgeadm_telemetry_exported_total', 'Readings the hub published to its export broker and the broker acknowledged, by exporter.', ['exporter']);
  const clientId = o.clientId ?? `edgeadm-export-${name}`;

  // Loaded now, so a missing piece fails the start rather than the first lease: sparkplug with protobufjs (only this format needs them), else mqtt.js.
  const { startSparkplugSink } = group !== undefined ? await import('./sparkplug.ts') : { startSparkplugSink: undefined };
  const { connect } = await import('mqtt');

  /** The broker side, opened while this replica holds the lease. */
  const openSink = async (): Promise<ExportSink> => {
    if (group !== undefined && startSparkplugSink) {
      return startSparkplugSink({
        store: o.store,
        name,
        group,
        url: o.url,
        clientId,
        logger: log,
        ...(o.username === undefined ? {} : { username: o.username }),
        ...(o.password === undefined ? {} : { password: o.password }),
        ...(o.ca === undefined ? {} : { ca: o.ca }),
      });
    } else {
      const textFormat = format as 'json' | 'edgex';
      const client: MqttClient = connect(o.url, {
        clientId: clientId.slice(0, 64),
        ...(o.username === undefined ? {} : { username: o.username }),
        ...(o.password === undefined ? {} : { password: o.password }),
        ...(o.ca === undefined ? {} : { ca: o.ca }),
        clean: true,
        reconnectPeriod: 2000,
        connectTimeout: 10_000,
        protocolVersion: 4,
      });
      let lastError: string | undefined;
      client.on('error', (err) => {
        if (err.message !== lastError) log.warn({ error: err.message }, 'export broker: connection error');
        lastError = err.message;
      });
      client.on('connect', () => {
        lastError = undefined;
        log.info('export broker connected');
      });
      return {
        async publish(_stream, rs) {
          // Just started or reconnecting: give the broker a moment before the step counts as failed (and waits idleMs).
          if (!client.connected) await connectedWithin(client, 2000);
          if (!client.connected) throw new Error('the export broker is not connected');
          await Promise.all(rs.map((r) => client.publishAsync(topicOf(r), payloadOf(textFormat, r), { qos: 1 })));
        },
        async close(force) {
          await client.endAsync(force);
        },
      };
    }
  };

  const cursor = new Map<string, number>();
  const key = (s: StreamRef): string => `${s.site}\u0000${s.producer}\u0000${s.id}`;
  const leader = gauge(o.metrics, 'edgeadm_telemetry_export_leader', 'Whether this hub runs the exporter (1) or stands by while another replica holds its lease (0).', ['exporter']);
  const lease = o.store.exportLease(name);
  const leaseMs = o.leaseMs ?? 2000;

  let stopped = false;
  let exported = 0;
  let wake: (() => void) | undefined;
  /** Set while standing by: ends the wait at stop (an ingest does not: standby asks for the lease at its own pace). */
  let stopWait: (() => void) | undefined;
  const unsubscribe = o.store.subscribe({}, () => wake?.());
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        wake = undefined;
        resolve();
      }
      wake = done;
    });
  const standBy = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        stopWait = undefined;
        resolve();
      }
      stopWait = done;
    });
  let sink: ExportSink | undefined;
  let leading = false;
  const closeSink = async (force: boolean): Promise<void> => {
    const s = sink;
    sink = undefined;
    await s?.close(force);
  };

  /** One stream's next step; the number of readings sent. */
  const step = async (s: StreamRef & { highSeq: number }): Promise<number> => {
    const from = cursor.get(key(s)) ?? 0;
    if (s.highSeq <= from) return 0;
    const rs = await o.store.streamReadings(s, from, batch);
    if (rs.length === 0) {
      // Only quarantined seqs above the cursor: nothing to send up to the stream's highest.
      cursor.set(key(s), s.highSeq);
      await o.store.setExportCursor(name, s, s.highSeq);
      return 0;
    }
    await sink!.publish(s, rs);
    const last = rs.at(-1)!.seq;
    cursor.set(key(s), last);
    await o.store.setExportCursor(name, s, last);
    exported += rs.length;
    exportedTotal.inc({ exporter: name }, rs.length);
    return rs.length;
  };

  const loop = (async (): Promise<void> => {
    while (!stopped) {
      let held = false;
      try {
        held = await lease.acquire();
      } catch (err) {
        if (!stopped) log.warn({ error: toErrorInfo(err) }, 'export: the lease could not be asked for; asking again');
      }
      if (stopped) break;
      if (!held) {
        if (leading) {
          leading = false;
          leader.set({ exporter: name }, 0);
          log.info('export: another replica holds the lease now; this one stands by');
          await closeSink(false).catch(() => undefined);
        }
        await standBy(leaseMs);
        continue;
      }
      if (!leading) {
        // Taken (first, or over from another replica): go on from where the store says the exporter is.
        try {
          const cursors = await o.store.exportCursors(name);
          cursor.clear();
          for (const c of cursors) cursor.set(key(c), c.seq);
          sink = await openSink();
        } catch (err) {
          log.warn({ error: toErrorInfo(err) }, 'export: could not start; trying again');
          await closeSink(true).catch(() => undefined);
          await sleep(idleMs);
          continue;
        }
        leading = true;
        leader.set({ exporter: name }, 1);
        log.info('export: this replica holds the lease and exports');
      }
      let sent = 0;
      let failed: unknown;
      try {
        for (const s of await o.store.streams()) {
          if (stopped) break;
          // A stream whose step fails waits for the next round; the others go on (with sparkplug, each site has its own session).
          try {
            sent += await step(s);
          } catch (err) {
            failed ??= err;
          }
        }
      } catch (err) {
        failed ??= err;
      }
      if (failed !== undefined) {
        if (!stopped) log.warn({ error: toErrorInfo(failed) }, 'export: a step failed; trying again');
        await sleep(idleMs);
        continue;
      }
      if (sent === 0 && !stopped) await sleep(idleMs);
    }
  })();
  log.info(group === undefined ? { format, topic: o.topic ?? DEFAULT_EXPORT_TOPIC } : { format, topic: `spBv1.0/${group}/#` }, 'exporting readings');

  let stopping: Promise<void> | undefined;
  return {
    get exported() {
      return exported;
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        unsubscribe();
        wake?.();
        stopWait?.();
        // A step waiting on an absent broker's acknowledgements does not hold the hub's stop: the connection is ended under it.
        let timer: NodeJS.Timeout | undefined;
        const done = await Promise.race([loop.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)))]);
        clearTimeout(timer);
        await closeSink(!done);
        await loop;
        // Given up: another replica takes the export over at once.
        await lease.release().catch(() => undefined);
        if (leading) leader.set({ exporter: name }, 0);
      })();
      return stopping;
    },
  };
}
