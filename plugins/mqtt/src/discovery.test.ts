import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deferCleanup } from '../../../test/support/cleanup.ts';
import { quiet, startHubFixture } from '../../../test/support/hub-fixture.ts';
import { HaDiscoveryCollector, mapValueTemplate, parseDiscoveryTopic, parseNativeAnnounce, suggestName, type Announcement, type HaAcceptResult } from './discovery.ts';
import { createMqttDriver } from './driver.ts';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'announce');
const defer = deferCleanup();

interface Message {
  topic: string;
  payload: unknown;
}

function messages(file: string): Message[] {
  return JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8')) as Message[];
}

function raw(file: string): Buffer {
  return readFileSync(path.join(FIXTURES, file));
}

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

/** Feeds every message of a fixture; returns the results in order. */
function feed(c: HaDiscoveryCollector, file: string): HaAcceptResult[] {
  return messages(file).map((m) => c.accept(m.topic, json(m.payload)));
}

function last(results: HaAcceptResult[]): Announcement {
  const a = results.at(-1)?.announcement;
  if (!a) throw new Error(`no announcement: ${JSON.stringify(results.at(-1))}`);
  return a;
}

describe('discovery topics', () => {
  it('splits component, optional node id and object id under the prefix', () => {
    expect(parseDiscoveryTopic('homeassistant/sensor/A1B2C3_ENERGY_Power/config')).toEqual({ component: 'sensor', objectId: 'A1B2C3_ENERGY_Power' });
    expect(parseDiscoveryTopic('homeassistant/sensor/0x00158d0001a2b3c4/temperature/config')).toEqual({ component: 'sensor', nodeId: '0x00158d0001a2b3c4', objectId: 'temperature' });
    expect(parseDiscoveryTopic('site-ha/switch/plug/config', 'site-ha')).toEqual({ component: 'switch', objectId: 'plug' });
    for (const bad of ['homeassistant/sensor/x/state', 'other/sensor/x/config', 'homeassistant/sensor/config', 'homeassistant/sensor/a/b/c/config', 'homeassistant/sensor/x y/config']) {
      expect(parseDiscoveryTopic(bad), bad).toBeUndefined();
    }
  });
});

describe('value templates', () => {
  it('maps the common forms to a payload path', () => {
    expect(mapValueTemplate('{{ value }}')).toEqual({});
    expect(mapValueTemplate('{{ value | float }}')).toEqual({});
    expect(mapValueTemplate('{{ value_json }}')).toEqual({ json: true, path: '' });
    expect(mapValueTemplate('{{ value_json.temperature }}')).toEqual({ json: true, path: 'temperature' });
    expect(mapValueTemplate('{{value_json.a.b}}')).toEqual({ json: true, path: 'a.b' });
    expect(mapValueTemplate("{{ value_json['ENERGY']['Power'] }}")).toEqual({ json: true, path: 'ENERGY.Power' });
    expect(mapValueTemplate('{{ value_json["a b"][0].c }}')).toEqual({ json: true, path: 'a b[0].c' });
    expect(mapValueTemplate('{{ value_json.a[0] | float | round(2) }}')).toEqual({ json: true, path: 'a[0]' });
    expect(mapValueTemplate('{{ value_json.a | int(0) }}')).toEqual({ json: true, path: 'a' });
  });

  it('refuses anything else', () => {
    for (const t of [
      '{{ value_json.a * 10 }}',
      "{{ value_json.a | default('x') }}",
      '{% if value == "1" %}ON{% endif %}',
      '{{ value_json["a.b"] }}',
      '{{ value_jsonx.a }}',
      '{{ states("sensor.x") }}',
      'value_json.a',
      '{{ value_json.a }} {{ value }}',
      '{{ value_json.a | round(2) | foo }}',
    ]) {
      expect(mapValueTemplate(t), t).toBeUndefined();
    }
  });
});

describe('Home Assistant discovery', () => {
  it('groups a Tasmota-style plug (switch and energy sensors using ~) into one device', () => {
    const c = new HaDiscoveryCollector({ site: 'plant-a' });
    const results = feed(c, 'tasmota-plug.json');
    expect(results.map((r) => r.announcement?.profile.deviceResources.length)).toEqual([1, 2, 3]);
    const a = last(results);
    expect(a).toMatchObject({
      source: 'homeassistant',
      site: 'plant-a',
      id: 'A1B2C3',
      suggestedName: 'kitchen-plug-a1b2c3',
      manufacturer: 'ITEAD',
      model: 'Sonoff Pow R2',
      swVersion: '9.5.0(tasmota)',
      displayName: 'Kitchen Plug',
      warnings: [],
    });
    expect(a.protocol).toEqual({
      topic: 'kitchen_plug_A1B2C3',
      availabilityTopic: 'kitchen_plug_A1B2C3/tele/LWT',
      payloadAvailable: 'Online',
      payloadNotAvailable: 'Offline',
    });
    expect(a.profile).toEqual({
      manufacturer: 'ITEAD',
      model: 'Sonoff Pow R2',
      description: 'Kitchen Plug',
      labels: ['homeassistant'],
      deviceResources: [
        {
          name: 'ENERGY_Power',
          description: 'Kitchen Plug ENERGY Power',
          tags: { component: 'sensor', uniqueId: 'A1B2C3_ENERGY_Power', deviceClass: 'power', stateClass: 'measurement' },
          attributes: { topic: 'tele/SENSOR', payload: 'json', path: 'ENERGY.Power' },
          properties: { valueType: 'Float64', readWrite: 'R', units: 'W' },
        },
        {
          name: 'ENERGY_Total',
          description: 'Kitchen Plug ENERGY Total',
          tags: { component: 'sensor', uniqueId: 'A1B2C3_ENERGY_Total', deviceClass: 'energy', stateClass: 'total_increasing' },
          attributes: { topic: 'tele/SENSOR', payload: 'json', path: 'ENERGY.Total' },
          properties: { valueType: 'Float64', readWrite: 'R', units: 'kWh' },
        },
        {
          name: 'RL_1',
          description: 'Kitchen Plug',
          tags: { component: 'switch', uniqueId: 'A1B2C3_RL_1' },
          attributes: {
            topic: 'tele/STATE',
            payload: 'json',
            path: 'POWER',
            trueValue: 'ON',
            falseValue: 'OFF',
            commandTopic: 'cmnd/POWER',
            commandPayload: 'raw',
            commandTrue: 'ON',
            commandFalse: 'OFF',
          },
          properties: { valueType: 'Bool', readWrite: 'RW' },
        },
      ],
    });
    expect(a.topics).toEqual({
      publish: [
        'homeassistant/sensor/A1B2C3_ENERGY_Power/config',
        'kitchen_plug_A1B2C3/tele/SENSOR',
        'kitchen_plug_A1B2C3/tele/LWT',
        'homeassistant/sensor/A1B2C3_ENERGY_Total/config',
        'homeassistant/switch/A1B2C3_RL_1/config',
        'kitchen_plug_A1B2C3/tele/STATE',
        'kitchen_plug_A1B2C3/tele/HASS_STATE',
      ],
      subscribe: ['kitchen_plug_A1B2C3/cmnd/POWER'],
    });
    // The same device whatever order its entities arrive in.
    const reversed = new HaDiscoveryCollector({ site: 'plant-a' });
    for (const m of messages('tasmota-plug.json').reverse()) reversed.accept(m.topic, json(m.payload));
    expect(reversed.devices()).toEqual([a]);
  });

  it('maps a zigbee2mqtt-style climate sensor with JSON value templates', () => {
    const a = last(feed(new HaDiscoveryCollector({ site: 'plant-a' }), 'z2m-climate.json'));
    expect(a).toMatchObject({
      id: 'zigbee2mqtt_0x00158d0001a2b3c4',
      suggestedName: 'living-room-climate-a2b3c4',
      manufacturer: 'Aqara',
      model: 'Temperature and humidity sensor (WSDCGQ11LM)',
      swVersion: '3000-0001',
      displayName: 'Living Room Climate',
      warnings: [],
    });
    expect(a.protocol).toEqual({ topic: 'zigbee2mqtt', availabilityTopic: 'zigbee2mqtt/bridge/state' });
    expect(a.profile.deviceResources).toEqual([
      {
        name: 'humidity',
        tags: { component: 'sensor', uniqueId: '0x00158d0001a2b3c4_humidity_zigbee2mqtt', deviceClass: 'humidity', stateClass: 'measurement' },
        attributes: { topic: 'Living Room Climate', payload: 'json', path: 'humidity' },
        properties: { valueType: 'Float64', readWrite: 'R', units: '%' },
      },
      {
        name: 'linkquality',
        description: 'Linkquality',
        tags: { component: 'sensor', uniqueId: '0x00158d0001a2b3c4_linkquality_zigbee2mqtt', stateClass: 'measurement' },
        attributes: { topic: 'Living Room Climate', payload: 'json', path: 'linkquality' },
        properties: { valueType: 'Float64', readWrite: 'R', units: 'lqi' },
      },
      {
        name: 'temperature',
        tags: { component: 'sensor', uniqueId: '0x00158d0001a2b3c4_temperature_zigbee2mqtt', deviceClass: 'temperature', stateClass: 'measurement' },
        attributes: { topic: 'Living Room Climate', payload: 'json', path: 'temperature' },
        properties: { valueType: 'Float64', readWrite: 'R', units: '°C' },
      },
    ]);
    expect(a.topics.subscribe).toEqual([]);
    expect(a.topics.publish).toContain('zigbee2mqtt/Living Room Climate');
  });

  it('maps a binary_sensor door contact, keeping JSON booleans as the true/false values', () => {
    const a = last(feed(new HaDiscoveryCollector({ site: 'plant-a' }), 'z2m-door.json'));
    expect(a.profile.deviceResources).toEqual([
      {
        name: 'contact',
        tags: { component: 'binary_sensor', uniqueId: '0x00158d000aabbccd_contact_zigbee2mqtt', deviceClass: 'door' },
        attributes: { topic: 'Back Door', payload: 'json', path: 'contact', trueValue: false, falseValue: true },
        properties: { valueType: 'Bool', readWrite: 'R' },
      },
    ]);
  });

  it('maps a number setpoint, a select and a raw ON/OFF binary_sensor of one device', () => {
    const a = last(feed(new HaDiscoveryCollector({ site: 'plant-a' }), 'esphome-thermostat.json'));
    expect(a).toMatchObject({ id: 'a4cf12deadbeef', suggestedName: 'thermostat-1-adbeef', manufacturer: 'espressif', model: 'esp32dev', swVersion: 'esphome v2024.6.0' });
    expect(a.protocol).toEqual({ topic: 'thermostat-1', availabilityTopic: 'thermostat-1/status' });
    expect(a.profile.deviceResources).toEqual([
      {
        name: 'window',
        description: 'Window',
        tags: { component: 'binary_sensor', uniqueId: 'a4cf12deadbeefbinary_sensorwindow', deviceClass: 'window' },
        attributes: { topic: 'binary_sensor/window/state', payload: 'text', trueValue: 'ON', falseValue: 'OFF' },
        properties: { valueType: 'Bool', readWrite: 'R' },
      },
      {
        name: 'setpoint',
        description: 'Setpoint',
        tags: { component: 'number', uniqueId: 'a4cf12deadbeefnumbersetpoint' },
        attributes: { topic: 'number/setpoint/state', payload: 'number', commandTopic: 'number/setpoint/command', commandPayload: 'raw' },
        properties: { valueType: 'Float64', readWrite: 'RW', units: '°C', minimum: 5, maximum: 30, optional: { step: 0.5 } },
      },
      {
        name: 'mode',
        description: 'Mode',
        tags: { component: 'select', uniqueId: 'a4cf12deadbeefselectmode' },
        attributes: { topic: 'select/mode/state', payload: 'text', commandTopic: 'select/mode/command', commandPayload: 'raw', options: ['heat', 'eco', 'off'] },
        properties: { valueType: 'String', readWrite: 'RW' },
      },
    ]);
    expect(a.topics.subscribe).toEqual(['thermostat-1/number/setpoint/command', 'thermostat-1/select/mode/command']);
    // A Bool read from a text payload maps through trueValue/falseValue: the driver takes it.
    expect(a.warnings).toEqual([]);
  });

  it('removes entities on an empty payload, and the device with its last entity', () => {
    const c = new HaDiscoveryCollector({ site: 'plant-a' });
    const [sw, power, total] = messages('tasmota-plug.json');
    feed(c, 'tasmota-plug.json');
    const afterOne = c.accept(total!.topic, Buffer.alloc(0));
    expect(afterOne.announcement?.profile.deviceResources.map((r) => r.name)).toEqual(['ENERGY_Power', 'RL_1']);
    expect(c.accept(power!.topic, Buffer.alloc(0)).announcement?.profile.deviceResources.map((r) => r.name)).toEqual(['RL_1']);
    expect(c.accept(sw!.topic, Buffer.alloc(0))).toEqual({ removed: 'A1B2C3' });
    expect(c.devices()).toEqual([]);
    expect(c.accept(sw!.topic, Buffer.alloc(0)).ignored).toMatch(/removal of an entity that is not known/);
  });

  it('reports the old device removed when its only entity moves to another device', () => {
    const c = new HaDiscoveryCollector({ site: 'plant-a' });
    const topic = 'homeassistant/sensor/probe/temp/config';
    c.accept(topic, json({ stat_t: 'probe/temp', unit_of_meas: '°C', uniq_id: 'probe-temp', dev: { ids: ['old-box'] } }));
    const r = c.accept(topic, json({ stat_t: 'probe/temp', unit_of_meas: '°C', uniq_id: 'probe-temp', dev: { ids: ['new-box'] } }));
    expect(r.announcement?.id).toBe('new-box');
    expect(r.removed).toBe('old-box');
    expect(c.devices().map((d) => d.id)).toEqual(['new-box']);
  });

  it('makes an entity without a device block a device of its own, by unique_id', () => {
    const c = new HaDiscoveryCollector({ site: 'plant-a' });
    const r = c.accept('homeassistant/sensor/outdoor/config', json({ name: 'Outdoor', stat_t: 'weather/outdoor', unit_of_meas: '°C', uniq_id: 'outdoor-temp-1' }));
    expect(r.announcement).toMatchObject({ id: 'outdoor-temp-1', displayName: 'Outdoor', suggestedName: 'outdoor-1', protocol: { topic: 'weather' } });
    expect(r.announcement?.profile.deviceResources[0]).toMatchObject({ name: 'outdoor', attributes: { topic: 'outdoor', payload: 'number' }, properties: { valueType: 'Float64', units: '°C' } });
    expect(c.accept('homeassistant/sensor/anon/config', json({ stat_t: 'weather/anon' })).ignored).toMatch(/neither a device block nor a unique_id/);
  });

  it('expands ~ at the end of a topic, types plain sensors as String, and keeps unmappable templates as text with a warning', () => {
    const c = new HaDiscoveryCollector({ site: 'plant-a' });
    const dev = { ids: 'box-9', name: 'Box 9' };
    c.accept('homeassistant/sensor/box-9/status/config', json({ '~': 'site/box-9', stat_t: 'status/~', uniq_id: 'b9s', dev }));
    const r = c.accept('homeassistant/sensor/box-9/scaled/config', json({ '~': 'site/box-9', stat_t: '~/raw', val_tpl: '{{ value_json.v * 10 }}', unit_of_meas: 'mm', uniq_id: 'b9r', dev }));
    const a = r.announcement!;
    expect(a.profile.deviceResources).toEqual([
      { name: 'scaled', tags: { component: 'sensor', uniqueId: 'b9r' }, attributes: { topic: '/site/box-9/raw', payload: 'text' }, properties: { valueType: 'String', readWrite: 'R', units: 'mm' } },
      { name: 'status', tags: { component: 'sensor', uniqueId: 'b9s' }, attributes: { topic: '/status/site/box-9', payload: 'text' }, properties: { valueType: 'String', readWrite: 'R' } },
    ]);
    expect(a.protocol).toEqual({});
    expect(a.warnings).toEqual(["scaled: value_template '{{ value_json.v * 10 }}' could not be mapped; the resource reads the whole payload as text"]);
  });

  it('ignores unsupported components and other topics with a reason', () => {
    const c = new HaDiscoveryCollector({ site: 'plant-a' });
    expect(c.accept('homeassistant/light/lamp/config', json({ cmd_t: 'lamp/set', uniq_id: 'lamp' }))).toEqual({
      ignored: "homeassistant/light/lamp/config: component 'light' is not supported (sensor, binary_sensor, switch, number, select)",
    });
    expect(c.accept('zigbee2mqtt/Back Door', json({ contact: true })).ignored).toMatch(/not a discovery config topic/);
    const custom = new HaDiscoveryCollector({ site: 'plant-a', prefix: 'ha' });
    expect(custom.accept('ha/sensor/x/config', json({ stat_t: 'x', uniq_id: 'x' })).announcement?.id).toBe('x');
  });

  it('returns a coded error naming the field for garbage, never throws', () => {
    const c = new HaDiscoveryCollector({ site: 'plant-a' });
    const t = 'homeassistant/sensor/plug/config';
    const err = (payload: Buffer): HaAcceptResult['error'] => c.accept(t, payload).error;
    expect(err(raw('garbage-truncated.txt'))).toMatchObject({ code: 'EDGE_ERR_MQTT_HA_DISCOVERY', path: '', message: expect.stringMatching(/payload is not JSON/) });
    expect(err(Buffer.from([0xff, 0xfe, 0x00]))).toMatchObject({ code: 'EDGE_ERR_MQTT_HA_DISCOVERY', message: expect.stringMatching(/not JSON/) });
    expect(err(json([1, 2]))).toMatchObject({ path: '', message: expect.stringMatching(/must be a JSON object, got an array/) });
    expect(err(json({ stat_t: 5, uniq_id: 'p' }))).toMatchObject({ path: 'stat_t', message: `${t}: stat_t (state_topic) must be a topic string, got number 5` });
    expect(err(json({ stat_t: 'plug/+/state', uniq_id: 'p' }))).toMatchObject({ path: 'stat_t', message: expect.stringMatching(/holds a wildcard/) });
    expect(err(json({ uniq_id: 'p' }))).toMatchObject({ path: 'state_topic', message: expect.stringMatching(/state_topic is required for a sensor/) });
    expect(err(json({ stat_t: 'p', uniq_id: 'p', dev: { ids: { a: 1 } } }))).toMatchObject({ path: 'dev.ids', message: expect.stringMatching(/dev\.ids must be a string or a list of strings, got an object/) });
    expect(err(json({ stat_t: 'p', uniq_id: 'p', dev: { name: 'x' } }))).toMatchObject({ path: 'dev.identifiers', message: expect.stringMatching(/needs identifiers or connections/) });
    expect(err(json({ stat_t: 'p', uniq_id: 'p', avty: [{ t: 7 }] }))).toMatchObject({ path: 'avty[0].t' });
    expect(err(json({ '~': 3, stat_t: 'p', uniq_id: 'p' }))).toMatchObject({ path: '~' });
    expect(c.accept('homeassistant/number/n/config', json({ cmd_t: 'n/set', min: 'low', uniq_id: 'n' })).error).toMatchObject({ path: 'min', message: expect.stringMatching(/must be a number, got the string "low"/) });
    expect(c.accept('homeassistant/number/n/config', json({ cmd_t: 'n/set', min: 10, max: 5, uniq_id: 'n' })).error).toMatchObject({ path: 'max' });
    expect(c.accept('homeassistant/select/s/config', json({ cmd_t: 's/set', uniq_id: 's' })).error).toMatchObject({ path: 'options', message: expect.stringMatching(/options is required for a select/) });
    expect(c.accept('homeassistant/select/s/config', json({ cmd_t: 's/set', ops: ['a', 2], uniq_id: 's' })).error).toMatchObject({ path: 'ops' });
    const oversized = Buffer.from(JSON.stringify({ stat_t: 'p', uniq_id: 'p', pad: 'x'.repeat(70_000) }));
    expect(err(oversized)).toMatchObject({ path: '', message: expect.stringMatching(/payload is \d+ bytes, over the 65536-byte limit/) });
    expect(c.devices()).toEqual([]);
  });

  it('keeps the last good config of an entity when an update is bad', () => {
    const c = new HaDiscoveryCollector({ site: 'plant-a' });
    const t = 'homeassistant/sensor/plug/config';
    c.accept(t, json({ stat_t: 'plug/power', unit_of_meas: 'W', uniq_id: 'p' }));
    expect(c.accept(t, Buffer.from('{oops')).error).toBeDefined();
    expect(c.devices().map((d) => d.profile.deviceResources[0]!.attributes)).toEqual([{ topic: 'power', payload: 'number' }]);
  });
});

describe('native announce', () => {
  it('maps a valid announce to protocol, profile and topics', () => {
    const r = parseNativeAnnounce('plant-a', 'edgeadm/announce/pump-7', raw('native-pump.json'));
    expect(r.error).toBeUndefined();
    expect(r.announcement).toEqual({
      source: 'announce',
      site: 'plant-a',
      id: 'pump-7',
      suggestedName: 'pump-7',
      manufacturer: 'acme',
      model: 'P-200',
      swVersion: '1.4.2',
      displayName: 'Pump 7',
      protocol: { topic: 'plant/pumps/7', commandTopic: 'plant/pumps/7/command', responseTopic: 'plant/pumps/7/response' },
      profile: {
        manufacturer: 'acme',
        model: 'P-200',
        description: 'Pump 7',
        labels: ['announce'],
        deviceResources: [
          { name: 'flow', attributes: { topic: 'telemetry', path: 'sensors[0].flow' }, properties: { valueType: 'Float64', readWrite: 'R', units: 'm3/h' } },
          { name: 'running', attributes: { topic: 'telemetry', path: 'running' }, properties: { valueType: 'Bool', readWrite: 'R' } },
          { name: 'speed', attributes: { topic: 'speed', payload: 'number' }, properties: { valueType: 'Float64', readWrite: 'RW', units: 'rpm', minimum: 0, maximum: 3000 } },
          { name: 'firmware', attributes: { topic: '/plant/fw/pump-7', payload: 'text' }, properties: { valueType: 'String', readWrite: 'R' } },
        ],
      },
      labels: { line: '3' },
      topics: {
        publish: ['edgeadm/announce/pump-7', 'plant/pumps/7/telemetry', 'plant/pumps/7/speed', 'plant/fw/pump-7', 'plant/pumps/7/response'],
        subscribe: ['plant/pumps/7/command'],
      },
      warnings: [],
    });
  });

  it('defaults the base topic to edgeadm/<site>/<id> and needs no command topics when read-only', () => {
    const r = parseNativeAnnounce('plant-a', 'edgeadm/announce/th-1', json({ id: 'th-1', resources: [{ name: 'temp', valueType: 'Float64' }] }));
    expect(r.announcement?.protocol).toEqual({ topic: 'edgeadm/plant-a/th-1' });
    expect(r.announcement?.topics).toEqual({ publish: ['edgeadm/announce/th-1', 'edgeadm/plant-a/th-1/temp'], subscribe: [] });
  });

  it('names every bad field of an announce', () => {
    const r = parseNativeAnnounce('plant-a', 'edgeadm/announce/pump-8', raw('native-bad.json'));
    expect(r.announcement).toBeUndefined();
    expect(r.issues).toEqual([
      { code: 'EDGE_ERR_MQTT_ANNOUNCE', path: 'resources[2].valueType', message: expect.stringMatching(/^resources\[2\]\.valueType must be one of Bool, String, .*got the string "Float65"$/) },
      { code: 'EDGE_ERR_MQTT_ANNOUNCE', path: 'resources[3].unit', message: 'resources[3].unit is not a known field' },
    ]);
    expect(r.error).toEqual(r.issues![0]);
  });

  it('applies the driver rules to resources and topics, naming the announce field', () => {
    const paths = (doc: unknown, topic = 'edgeadm/announce/p1'): string[] => (parseNativeAnnounce('plant-a', topic, json(doc)).issues ?? []).map((i) => `${i.path}: ${i.message}`);
    expect(
      paths({
        id: 'p1',
        resources: [
          { name: 'a', valueType: 'Float64', payload: 'text' },
          { name: 'a', valueType: 'Float64' },
          { name: 'b', valueType: 'Float64', path: 'x..y' },
          { name: 'c', valueType: 'Float64', topic: 'x/#' },
          { name: 'd', valueType: 'Float64', minimum: 5, maximum: 1 },
        ],
        labels: { 'bad key!': 'v' },
      }),
    ).toEqual([
      "labels.bad key!: labels.bad key! is not a valid label key: name part must consist of letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
      'resources[4].maximum: resources[4].maximum 1 is below minimum 5',
      "resources[0].payload: resources[0].payload payload 'text' needs valueType String (or Bool with trueValue and falseValue), not Float64",
      "resources[1].name: resources[1].name resource 'a' is defined twice",
      'resources[2].path: resources[2].path path must be a field path like \'a.b[0].c\', got "x..y"',
      "resources[3].topic: resources[3].topic topic 'x/#' holds a wildcard (+ or #)",
    ]);
    expect(paths({ id: 'p2', resources: [{ name: 'a', valueType: 'Float64' }] })).toEqual(["id: id 'p2' differs from the device id 'p1' in the topic"]);
    expect(paths({ id: 'p1', topic: 'a/+/b', resources: [{ name: 'a', valueType: 'Float64' }] })).toEqual(["topic: topic 'a/+/b' holds a wildcard (+ or #)"]);
    expect(paths({ id: 'p1', resources: [] })).toEqual([expect.stringMatching(/^resources: resources must not have fewer than 1 items/)]);
    expect(paths({ resources: [{ name: 'a' }] })).toEqual(['id: id is required', 'resources[0].valueType: resources[0].valueType is required']);
    expect(paths({ id: 'x', resources: [{ name: 'a', valueType: 'Float64' }] }, 'edgeadm/announce/x/extra')).toEqual(["topic: topic 'edgeadm/announce/x/extra' is not edgeadm/announce/<deviceId>"]);
  });

  it('returns a coded error for garbage and oversized payloads', () => {
    const t = 'edgeadm/announce/p1';
    expect(parseNativeAnnounce('plant-a', t, raw('garbage-truncated.txt')).error).toMatchObject({ code: 'EDGE_ERR_MQTT_ANNOUNCE', path: '', message: expect.stringMatching(/not JSON/) });
    expect(parseNativeAnnounce('plant-a', t, json('pump')).error).toMatchObject({ path: '', message: 'payload must be a JSON object, got the string "pump"' });
    expect(parseNativeAnnounce('plant-a', t, json({ id: 'p1', resources: [{ name: 'a', valueType: 'Float64', minimum: 'low' }] })).error).toMatchObject({ path: 'resources[0].minimum' });
    const big = json({ id: 'p1', resources: [{ name: 'a', valueType: 'Float64', description: 'x'.repeat(70_000) }] });
    expect(parseNativeAnnounce('plant-a', t, big).error).toMatchObject({ path: '', message: expect.stringMatching(/over the 65536-byte limit/) });
  });
});

describe('suggested names', () => {
  it('are DNS-1123 labels of at most 40 characters', () => {
    expect(suggestName('A1B2C3', 'Kitchen Plug')).toBe('kitchen-plug-a1b2c3');
    expect(suggestName('pump-7')).toBe('pump-7');
    expect(suggestName('温度计')).toMatch(/^device-[0-9a-f]{8}$/);
    const long = suggestName('x', 'A Very Long Device Name That Goes On And On Forever');
    expect(long.length).toBeLessThanOrEqual(40);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe('proposals are usable as they are', () => {
  function proposals(): Announcement[] {
    const out: Announcement[] = [];
    for (const f of ['tasmota-plug.json', 'z2m-climate.json', 'z2m-door.json', 'esphome-thermostat.json']) out.push(last(feed(new HaDiscoveryCollector({ site: 'plant-a' }), f)));
    out.push(parseNativeAnnounce('plant-a', 'edgeadm/announce/pump-7', raw('native-pump.json')).announcement!);
    return out;
  }

  it('are accepted by the hub store as DeviceProfile and Device', async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    await f.apply({ kind: 'Site', metadata: { name: 'plant-a' }, spec: {} });
    for (const a of proposals()) {
      await f.apply({ kind: 'DeviceProfile', metadata: { name: a.suggestedName }, spec: a.profile });
      await f.apply({
        kind: 'Device',
        metadata: { name: a.suggestedName, ...(a.labels ? { labels: a.labels } : {}) },
        spec: { site: a.site, profile: a.suggestedName, protocols: { mqtt: a.protocol } },
      });
      const got = await f.api<{ spec: unknown }>('GET', `/api/v1/deviceprofiles/${a.suggestedName}`);
      expect(got.status).toBe(200);
      expect(got.body.spec).toMatchObject({ deviceResources: a.profile.deviceResources.map((r) => ({ name: r.name, properties: r.properties })) });
    }
    // The store does check: a profile resource without properties is refused.
    await expect(f.apply({ kind: 'DeviceProfile', metadata: { name: 'broken' }, spec: { deviceResources: [{ name: 'x', attributes: {} }] } })).rejects.toThrow(/40\d/);
  });

  it('pass the driver validation', () => {
    const driver = createMqttDriver({ logger: quiet });
    defer(() => driver.close());
    for (const a of proposals()) {
      const issues = driver.validate!({
        site: a.site,
        name: a.suggestedName,
        profile: a.suggestedName,
        protocol: a.protocol,
        resources: a.profile.deviceResources.map((r) => ({ name: r.name, valueType: r.properties.valueType, readWrite: r.properties.readWrite, attributes: r.attributes, properties: r.properties })),
      });
      expect(issues, a.id).toEqual([]);
    }
  });
});
