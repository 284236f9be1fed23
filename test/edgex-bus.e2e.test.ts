/**
 * The edgex plugin end to end with a native driver (the simulator plugin),
 * on the site broker (aedes, as the site agent
 * runs it) and on a real Mosquitto: a stand-in for an EdgeX app service
 * subscribes to `edgex/events/#` and reads what the plugin publishes as EdgeX
 * would (JSON envelope, base64 payload, AddEventRequest), checked against
 * EdgeX's DTO fields and against the readings the site stored; a stand-in for
 * an EdgeX device service publishes events the site takes as readings of its
 * EdgeX devices. Malformed and unknown events are counted by reason, logged
 * once per cause, and never stop the plugin.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bindService,
  mockSiteServices,
  startTestKernel,
  type MockSite,
  type TestKernel,
} from '../core/sdk/testkit/index.ts';
import { edgexToReadings, siteBrokerRef, type EdgeXAddEventRequest, type Reading, type SiteBroker } from '../core/sdk/index.ts';
import { waitFor } from './support/hub-fixture.ts';
import { startMosquitto, type Mosquitto } from './support/mosquitto.ts';
import edgex from '../plugins/edgex/index.ts';
import simulator from '../plugins/simulator/index.ts';

const SITE = 'plant-a';
const SERVICE = 'edgeadm-plant-a';
// A real broker on a busy shared machine: generous.
const SLOW = 60_000;

interface Received {
  topic: string;
  envelope: Record<string, unknown>;
  request: EdgeXAddEventRequest;
}

/** An EdgeX app service's view of the bus: every event on `edgex/events/#`, decoded as EdgeX decodes it. */
async function appService(broker: SiteBroker, name: string): Promise<{ client: MqttClient; events: Received[] }> {
  const client = await connectAsync(broker.url, { clientId: `edgeadm-${name}`, username: broker.credentials.username, password: broker.credentials.password, clean: true });
  const events: Received[] = [];
  client.on('message', (topic, payload) => {
    const envelope = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    const request = JSON.parse(Buffer.from(envelope.payload as string, 'base64').toString('utf8')) as EdgeXAddEventRequest;
    events.push({ topic, envelope, request });
  });
  await client.subscribeAsync('edgex/events/#', { qos: 0 });
  return { client, events };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What EdgeX's DTOs require of an AddEventRequest with one reading, checked field by field. */
function expectEdgeXEvent(e: Received, r: Reading): void {
  expect(e.topic).toBe(`edgex/events/device/${SERVICE}/${r.profile}/${r.device}/${r.resource}`);
  expect(e.envelope).toEqual({ apiVersion: 'v3', receivedTopic: '', correlationID: expect.stringMatching(UUID), requestID: '', errorCode: 0, payload: expect.any(String), contentType: 'application/json' });
  const { request } = e;
  expect(Object.keys(request)).toEqual(['apiVersion', 'requestId', 'event']);
  expect(request).toMatchObject({ apiVersion: 'v3', requestId: expect.stringMatching(UUID) });
  expect(request.event).toMatchObject({ apiVersion: 'v3', id: expect.stringMatching(UUID), deviceName: r.device, profileName: r.profile, sourceName: r.resource, origin: r.origin });
  expect(request.event.readings).toHaveLength(1);
  expect(request.event.readings[0]).toMatchObject({ id: expect.stringMatching(UUID), origin: r.origin, deviceName: r.device, resourceName: r.resource, profileName: r.profile, valueType: r.valueType });
  const { site: _s, seq: _q, ...platform } = r;
  const [back] = edgexToReadings(request).readings;
  // EdgeX writes a Float32 with the digits that tell the float32 apart: it reads back as that float32.
  if (r.valueType === 'Float32') expect({ ...back, value: Math.fround(back!.value as number) }).toEqual(platform);
  else if (r.valueType === 'Float32Array') expect({ ...back, value: (back!.value as number[]).map(Math.fround) }).toEqual(platform);
  else expect(back).toEqual(platform);
}

const simProfile = {
  kind: 'DeviceProfile',
  metadata: { name: 'sim-sensor' },
  spec: {
    deviceResources: [
      { name: 'count', attributes: { function: 'ramp', step: 1, max: 1000 }, properties: { valueType: 'Uint16', readWrite: 'R' } },
      { name: 'temperature', attributes: { function: 'sine', amplitude: 5, periodS: 60, offset: 20 }, properties: { valueType: 'Float64', readWrite: 'R', units: 'degC' } },
      { name: 'setpoint', attributes: { function: 'setpoint', initial: 21.7 }, properties: { valueType: 'Float32', readWrite: 'RW', units: 'degC' } },
    ],
  },
};
const simDevice = {
  kind: 'Device',
  metadata: { name: 'sim-1' },
  spec: {
    site: SITE,
    profile: 'sim-sensor',
    protocols: { simulator: { seed: '7' } },
    autoEvents: [
      { sourceName: 'count', interval: '50ms' },
      { sourceName: 'temperature', interval: '50ms' },
      { sourceName: 'setpoint', interval: '50ms' },
    ],
  },
};
const boilerProfile = {
  kind: 'DeviceProfile',
  metadata: { name: 'boiler' },
  spec: {
    deviceResources: [
      { name: 'temperature', properties: { valueType: 'Float32', readWrite: 'R', units: 'degC' } },
      { name: 'on', properties: { valueType: 'Bool', readWrite: 'R' } },
      { name: 'counts', properties: { valueType: 'Uint64Array', readWrite: 'R' } },
      { name: 'snapshot', properties: { valueType: 'Binary', readWrite: 'R', mediaType: 'image/jpeg' } },
    ],
  },
};
const boilerDevice = {
  kind: 'Device',
  metadata: { name: 'boiler-1' },
  spec: { site: SITE, profile: 'boiler', protocols: { edgex: { serviceName: 'device-virtual', deviceName: 'Boiler 1' } } },
};

const ORIGIN = 1733300000000000000;
/** An event as EdgeX's device-virtual publishes it, written out by hand from the DTO fields. */
function deviceServiceEvent(source: string, readings: Record<string, unknown>[], device = 'Boiler 1', profile = 'boiler'): string {
  const request = {
    apiVersion: 'v3',
    requestId: '7a1f9d2e-3c4b-4a5d-9e6f-0a1b2c3d4e5f',
    event: {
      apiVersion: 'v3',
      id: '5b8c0f3e-1d2a-4e6f-8a9b-0c1d2e3f4a5b',
      deviceName: device,
      profileName: profile,
      sourceName: source,
      origin: ORIGIN,
      readings: readings.map((r, i) => ({ id: `5b8c0f3e-1d2a-4e6f-8a9b-0c1d2e3f4a${50 + i}`, origin: ORIGIN, deviceName: device, profileName: profile, ...r })),
    },
  };
  return JSON.stringify({
    apiVersion: 'v3',
    receivedTopic: '',
    correlationID: '0f1e2d3c-4b5a-4968-8776-655443322110',
    requestID: '',
    errorCode: 0,
    payload: Buffer.from(JSON.stringify(request)).toString('base64'),
    contentType: 'application/json',
  });
}

async function counter(site: MockSite, name: string): Promise<Record<string, number>> {
  const metric = site.metrics.getSingleMetric(name);
  const out: Record<string, number> = {};
  if (!metric) return out;
  for (const v of (await metric.get()).values) out[String(v.labels.reason ?? '')] = v.value;
  return out;
}

interface Env {
  site: MockSite;
  tk: TestKernel;
  broker: SiteBroker;
  mosquitto?: Mosquitto;
  clients: MqttClient[];
}

let env: Env | undefined;
afterEach(async () => {
  if (!env) return;
  for (const c of env.clients) await c.endAsync(true);
  await env.tk.stop();
  await env.site.close();
  await env.mosquitto?.close();
  env = undefined;
});

async function start(kind: 'aedes' | 'mosquitto', config: Record<string, unknown> = {}): Promise<Env> {
  const site = await mockSiteServices({ site: SITE, broker: kind === 'aedes', logLevel: 'info' });
  let broker: SiteBroker;
  let mosquitto: Mosquitto | undefined;
  const services = [...site.services];
  if (kind === 'mosquitto') {
    const credentials = { username: 'site-plant-a', password: 'site-secret' };
    mosquitto = await startMosquitto({ users: { [credentials.username]: credentials.password } });
    broker = { url: mosquitto.url, credentials };
    services.push(bindService(siteBrokerRef, broker));
  } else {
    broker = site.broker!;
  }
  const tk = await startTestKernel({
    plugins: [
      { plugin: simulator, site: SITE },
      { plugin: edgex, site: SITE, config },
    ],
    services,
    logLevel: 'info',
  });
  env = { site, tk, broker, clients: [], ...(mosquitto ? { mosquitto } : {}) };
  return env;
}

/** A stand-in for EdgeX's device-virtual on the broker, and the site's EdgeX device it serves, up. */
async function deviceService(e: Env): Promise<MqttClient> {
  const ds = await connectAsync(e.broker.url, { clientId: 'edgeadm-device-virtual', username: e.broker.credentials.username, password: e.broker.credentials.password });
  e.clients.push(ds);
  await e.site.devices.apply(boilerProfile, boilerDevice);
  await e.site.devices.waitFor('boiler-1', 'up');
  return ds;
}

describe.each(['aedes', 'mosquitto'] as const)('the edgex plugin on %s', (kind) => {
  it(
    'publishes every reading of a native driver as an EdgeX v3 event an app service reads as EdgeX does',
    async () => {
      const { site, tk, broker, clients } = await start(kind);
      expect(tk.status('edgex@plant-a').state).toBe('running');
      const app = await appService(broker, 'app-rules');
      clients.push(app.client);
      await site.devices.apply(simProfile, simDevice);
      await site.devices.waitFor('sim-1', 'up');
      for (const res of ['count', 'temperature', 'setpoint']) {
        await waitFor(`3 events of ${res}`, () => app.events.filter((e) => e.request.event.sourceName === res).length >= 3);
      }
      for (const e of app.events) {
        const stored = site.readings.of('sim-1', e.request.event.sourceName).find((r) => r.origin === e.request.event.origin);
        expect(stored, e.topic).toBeDefined();
        expectEdgeXEvent(e, stored!);
        const text = (e.request.event.readings[0] as { value: string }).value;
        // EdgeX's texts: Uint16 in decimal, floats in Go's 'e' format.
        if (stored!.valueType === 'Uint16') expect(text).toBe(`${stored!.value as number}`);
        else expect(text).toMatch(/^-?\d(\.\d+)?e[+-]\d\d$/);
      }
      expect(app.events.find((e) => e.request.event.sourceName === 'setpoint')!.request.event.readings[0]).toMatchObject({ value: '2.17e+01', units: 'degC' });
      expect((await counter(site, 'edgeadm_edgex_published_events_total'))['']).toBeGreaterThanOrEqual(9);
    },
    SLOW,
  );

  it(
    'publishes each valueType as EdgeX encodes it: 64-bit integers, arrays, Binary, Object, and readings without a value',
    async () => {
      const { site, broker, clients } = await start(kind);
      const app = await appService(broker, 'app-all-types');
      clients.push(app.client);
      const base = { device: 'direct-1', profile: 'direct', origin: ORIGIN, quality: 'good' as const };
      const readings: (Omit<Reading, 'site' | 'seq'> & { text?: string })[] = [
        { ...base, resource: 'u64', valueType: 'Uint64', value: '18446744073709551615', text: '18446744073709551615' },
        { ...base, resource: 'i64', valueType: 'Int64', value: -42, text: '-42' },
        { ...base, resource: 'f32', valueType: 'Float32', value: 3.4028234663852886e38, text: '3.4028235e+38' },
        { ...base, resource: 'f64a', valueType: 'Float64Array', value: [0.1, -2.5], text: '[1e-01, -2.5e+00]' },
        { ...base, resource: 'flags', valueType: 'BoolArray', value: [true, false], text: '[true, false]' },
        { ...base, resource: 'names', valueType: 'StringArray', value: ['a', 'b'], text: '[a, b]' },
        { ...base, resource: 'blob', valueType: 'Binary', value: Buffer.from([0, 1, 254, 255]).toString('base64') },
        { ...base, resource: 'status', valueType: 'Object', value: { mode: 'auto', level: 3 } },
        { ...base, resource: 'gone', valueType: 'Int16', value: null, quality: 'bad', qualityDetail: 'EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED' },
      ];
      site.readings.append(readings.map(({ text: _t, ...r }) => r));
      await waitFor('every event', () => app.events.length >= readings.length);
      for (const want of readings) {
        const e = app.events.find((x) => x.request.event.sourceName === want.resource)!;
        const stored = site.readings.of('direct-1', want.resource)[0]!;
        expectEdgeXEvent(e, stored);
        const reading = e.request.event.readings[0] as unknown as Record<string, unknown>;
        if (want.text !== undefined) expect(reading.value, want.resource).toBe(want.text);
      }
      const by = (res: string): Record<string, unknown> => app.events.find((x) => x.request.event.sourceName === res)!.request.event.readings[0] as unknown as Record<string, unknown>;
      expect(by('blob')).toMatchObject({ binaryValue: 'AAH+/w==', mediaType: 'application/octet-stream' });
      expect(by('blob')).not.toHaveProperty('value');
      expect(by('status')).toMatchObject({ objectValue: { mode: 'auto', level: 3 } });
      expect(by('gone')).toMatchObject({ value: null, binaryValue: null, objectValue: null, tags: { quality: 'bad', qualityDetail: 'EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED' } });
    },
    SLOW,
  );

  it(
    "takes an EdgeX device service's events as readings of the site's EdgeX device, with exact valueTypes, and does not publish them again",
    async () => {
      const e = await start(kind);
      const { site, broker, clients } = e;
      const app = await appService(broker, 'app-watch');
      clients.push(app.client);
      const ds = await deviceService(e);
      await ds.publishAsync(
        'edgex/events/device/device-virtual/boiler/Boiler 1/readings',
        deviceServiceEvent('readings', [
          { resourceName: 'temperature', valueType: 'Float32', units: 'degC', value: '2.17e+01' },
          { resourceName: 'on', valueType: 'Bool', value: 'true' },
          { resourceName: 'counts', valueType: 'Uint64Array', value: '[1, 18446744073709551615]' },
        ]),
      );
      await ds.publishAsync('edgex/events/device/device-virtual/boiler/Boiler 1/snapshot', deviceServiceEvent('snapshot', [{ resourceName: 'snapshot', valueType: 'Binary', binaryValue: '/9j/4AAQ', mediaType: 'image/jpeg' }]));
      const got = await site.readings.waitFor({ device: 'boiler-1' }, { count: 4 });
      expect(got.map(({ seq: _s, ...r }) => r)).toEqual([
        { site: SITE, device: 'boiler-1', profile: 'boiler', resource: 'temperature', valueType: 'Float32', units: 'degC', value: 21.7, origin: ORIGIN, quality: 'good' },
        { site: SITE, device: 'boiler-1', profile: 'boiler', resource: 'on', valueType: 'Bool', value: true, origin: ORIGIN, quality: 'good' },
        { site: SITE, device: 'boiler-1', profile: 'boiler', resource: 'counts', valueType: 'Uint64Array', value: [1, '18446744073709551615'], origin: ORIGIN, quality: 'good' },
        { site: SITE, device: 'boiler-1', profile: 'boiler', resource: 'snapshot', valueType: 'Binary', value: '/9j/4AAQ', origin: ORIGIN, quality: 'good' },
      ]);
      expect(site.devices.status('boiler-1')).toMatchObject({ state: 'up', protocol: 'edgex' });
      expect((await counter(site, 'edgeadm_edgex_received_readings_total'))['']).toBe(4);
      // The app service saw device-virtual's two events, and no copy of them from the site.
      await waitFor('the device service events at the app service', () => app.events.length >= 2);
      await new Promise((r) => setTimeout(r, 300));
      expect(app.events.map((e) => e.topic)).toEqual([
        'edgex/events/device/device-virtual/boiler/Boiler 1/readings',
        'edgex/events/device/device-virtual/boiler/Boiler 1/snapshot',
      ]);
      // A live read or a write of an EdgeX device says why it cannot.
      expect(await site.devices.write('boiler-1', 'on', false)).toMatchObject({ ok: false, error: { code: 'EDGE_ERR_EDGEX_BUS_NO_WRITE' } });
    },
    SLOW,
  );
});

describe('the edgex plugin', () => {
  it(
    'counts malformed and unknown events by reason, logs each cause once, skips its own, and keeps taking good ones',
    async () => {
      const e = await start('aedes');
      const { site, tk } = e;
      const ds = await deviceService(e);
      const t = 'edgex/events/device/device-virtual/boiler/Boiler 1';
      const good = [{ resourceName: 'temperature', valueType: 'Float32', value: '2e+01' }];
      const envelope = (o: Record<string, unknown>): string =>
        JSON.stringify({ apiVersion: 'v3', receivedTopic: '', correlationID: '', requestID: '', errorCode: 0, payload: Buffer.from('{}').toString('base64'), contentType: 'application/json', ...o });
      const sends: [string, string | Buffer][] = [
        [`${t}/temperature`, 'not json'],
        [`${t}/temperature`, envelope({ contentType: 'text/plain' })],
        [`${t}/temperature`, envelope({ payload: Buffer.from('{"event":').toString('base64') })],
        [`${t}/temperature`, envelope({ errorCode: 1, contentType: 'text/plain' })],
        [`${t}/temperature`, envelope({})],
        [`${t}/temperature`, deviceServiceEvent('temperature', [{ resourceName: 'temperature', valueType: 'Float128', value: '1' }])],
        [`${t}/temperature`, deviceServiceEvent('temperature', [{ resourceName: 'temperature', valueType: 'Float32', value: 'warm' }])],
        ['edgex/events/device/device-virtual/boiler/Boiler 2/temperature', deviceServiceEvent('temperature', good, 'Boiler 2')],
        ['edgex/events/device/device-virtual/boiler/Boiler 2/temperature', deviceServiceEvent('temperature', good, 'Boiler 2')],
        ['edgex/events/device/device-virtual/boiler/Boiler 2/temperature', deviceServiceEvent('temperature', good, 'Boiler 2')],
        ['edgex/events/device/device-other/boiler/Boiler 1/temperature', deviceServiceEvent('temperature', good)],
        [`${t}/pressure`, deviceServiceEvent('pressure', [{ resourceName: 'pressure', valueType: 'Float32', value: '1e+00' }])],
        [`${t}/temperature`, deviceServiceEvent('temperature', [{ resourceName: 'temperature', valueType: 'Float64', value: '1e+00' }])],
        [`${t}/other-source`, deviceServiceEvent('temperature', good)],
        ['edgex/events/device/device-virtual/boiler', deviceServiceEvent('temperature', good)],
        // Its own service's events are skipped before they are read.
        [`edgex/events/device/${SERVICE}/boiler/boiler-1/temperature`, 'not json either'],
      ];
      for (const [topic, payload] of sends) await ds.publishAsync(topic, payload);
      await ds.publishAsync(`${t}/temperature`, deviceServiceEvent('temperature', good));
      const [stored] = await site.readings.waitFor({ device: 'boiler-1', resource: 'temperature' });
      expect(stored).toMatchObject({ value: 20, valueType: 'Float32' });
      await waitFor('every refusal counted', async () => Object.values(await counter(site, 'edgeadm_edgex_events_rejected_total')).reduce((a, b) => a + b, 0) >= 13);
      expect(await counter(site, 'edgeadm_edgex_events_rejected_total')).toEqual({
        envelope: 2,
        'content-type': 1,
        payload: 1,
        field: 1,
        'value-type': 1,
        value: 1,
        'unknown-device': 3,
        'wrong-service': 1,
        topic: 2,
      });
      expect(await counter(site, 'edgeadm_edgex_readings_rejected_total')).toEqual({ 'unknown-resource': 1, 'type-mismatch': 1 });
      expect(site.readings.of('boiler-1')).toHaveLength(1);
      expect(tk.status('edgex@plant-a').state).toBe('running');
      const refusals = tk.logs.filter((l) => l.msg === 'edgex: an event from the bus was refused');
      expect(refusals.filter((l) => l.reason === 'unknown-device')).toHaveLength(1);
      expect(refusals.find((l) => l.reason === 'value')).toMatchObject({ error: { code: 'EDGE_ERR_EDGEX_VALUE', message: expect.stringMatching(/event\.readings\[0\]\.value is not a Float32/) } });
      expect(refusals.find((l) => l.reason === 'wrong-service')).toMatchObject({ error: { code: 'EDGE_ERR_EDGEX_BUS_WRONG_SERVICE' } });
    },
    SLOW,
  );

  it(
    'drops and counts what the broker connection cannot take instead of queueing it',
    async () => {
      // At QoS 1 an event is in flight until the broker's PUBACK, which comes on a later turn.
      const { site } = await start('aedes', { qos: 1, maxInFlight: 1 });
      const base = { device: 'burst-1', profile: 'burst', resource: 'n', valueType: 'Int32' as const, origin: ORIGIN, quality: 'good' as const };
      site.readings.append(Array.from({ length: 200 }, (_, i) => ({ ...base, value: i })));
      await waitFor('the burst handled', async () => {
        const dropped = (await counter(site, 'edgeadm_edgex_publish_dropped_total')).backlog ?? 0;
        const published = (await counter(site, 'edgeadm_edgex_published_events_total'))[''] ?? 0;
        return dropped + published === 200;
      });
      expect((await counter(site, 'edgeadm_edgex_publish_dropped_total')).backlog).toBe(199);
    },
    SLOW,
  );

  it(
    'drops while the broker is down, and publishes again once it is back (Mosquitto restarted)',
    async () => {
      const { site, broker, mosquitto, clients } = await start('mosquitto');
      const base = { device: 'd-1', profile: 'p', resource: 'n', valueType: 'Int32' as const, origin: ORIGIN, quality: 'good' as const };
      await mosquitto!.stop();
      await new Promise((r) => setTimeout(r, 300));
      site.readings.append([{ ...base, value: 1 }]);
      await waitFor('the reading dropped as offline', async () => (await counter(site, 'edgeadm_edgex_publish_dropped_total')).offline === 1);
      await mosquitto!.restart();
      const app = await appService(broker, 'app-after-restart');
      clients.push(app.client);
      // The plugin reconnects by itself (every second): a reading now and then until one comes through.
      const tick = setInterval(() => site.readings.append([{ ...base, value: 2 }]), 200);
      try {
        await waitFor('an event after the restart', () => app.events.find((e) => (e.request.event.readings[0] as { value: string }).value === '2'), 20_000);
      } finally {
        clearInterval(tick);
      }
    },
    SLOW,
  );

  it('refuses mode bridge without its bridge block, a config it does not know, and runs without publishing or subscribing when told', async () => {
    const site = await mockSiteServices({ site: SITE, broker: true });
    const tk = await startTestKernel({
      plugins: [
        { plugin: edgex, site: SITE, config: { mode: 'bridge' } },
        { plugin: edgex, site: 'plant-b', config: { colour: 'red' } },
        { plugin: edgex, site: 'plant-c', config: { publish: false, subscribe: false } },
      ],
      services: site.services,
    });
    env = { site, tk, broker: site.broker!, clients: [] };
    expect(tk.status('edgex@plant-c').state).toBe('running');
    const app = await appService(site.broker!, 'app-quiet');
    env.clients.push(app.client);
    site.readings.append([{ device: 'd-1', profile: 'p', resource: 'n', valueType: 'Int32', value: 1, origin: ORIGIN, quality: 'good' }]);
    await new Promise((r) => setTimeout(r, 300));
    expect(app.events).toEqual([]);
    expect(tk.status('edgex@plant-a')).toMatchObject({
      state: 'failed',
      error: { code: 'EDGE_ERR_PLUGIN_START', message: expect.stringMatching(/bridge is required in mode 'bridge'/), cause: { code: 'EDGE_ERR_EDGEX_BRIDGE_CONFIG' } },
    });
    expect(tk.status('edgex@plant-b')).toMatchObject({ state: 'invalid', error: { code: 'EDGE_ERR_PLUGIN_CONFIG' } });
    expect(site.drivers.protocols()).toEqual([]);
  });
});
