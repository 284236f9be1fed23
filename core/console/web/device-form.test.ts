import { describe, expect, it } from 'vitest';

/** device-form.js's pure helpers (a browser module with JSDoc types, which this project's TypeScript does not read). */
interface Draft {
  name: string;
  site: string;
  profile: string;
  protocol: string;
  block: Record<string, unknown>;
  otherName: string;
  otherJson: string;
  plugin: string;
  adminState: string;
  description: string;
  labels: string;
  autoEvents: { sourceName: string; interval: string; onChange: boolean; kept?: Record<string, unknown> }[];
  desired: string;
  driftPolicy: string;
}
interface Device {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}
type Built = { protocol: string } & ({ body: { metadata: Device['metadata']; spec: Record<string, unknown> } } | { problems: Map<string, string> });
interface Helpers {
  placeIssues: (issues: Map<string, string>, protocol: string) => { fields: Map<string, string>; block: Map<string, string>; rest: string[] };
  protocolsOf: (plugins: { id: string; version: string; protocols?: Record<string, Record<string, unknown>> }[]) => Map<string, { schema: Record<string, unknown>; plugins: string[] }>;
  draftOf: (device: Device | undefined, known: Map<string, unknown>) => Draft;
  bodyOf: (draft: Draft, device?: Device) => Built;
}
const MODULE: string = './device-form.js';
const UI: string = './ui.js';
const { bodyOf, draftOf, placeIssues, protocolsOf } = (await import(MODULE)) as Helpers;
const { fromLines } = (await import(UI)) as { fromLines: (text: string) => { value: Record<string, string> } | { error: string } };

const tcpSchema = { type: 'object', properties: { Address: { type: 'string' }, Port: { type: 'integer' } } };
const known = protocolsOf([
  { id: 'modbus', version: '1.0.0', protocols: { 'modbus-tcp': tcpSchema, 'modbus-rtu': { type: 'object' } } },
  { id: 'gateway', version: '1.0.0', protocols: { 'modbus-tcp': tcpSchema } },
  { id: 'simulator', version: '1.0.0' },
]);

const device: Device = {
  metadata: { name: 'hvac-1', labels: { room: '2' }, annotations: { 'example.com/owner': 'facilities' }, resourceVersion: '41' },
  spec: {
    site: 'plant',
    profile: 'hvac',
    protocols: { 'modbus-tcp': { Address: '10.0.0.5', Port: 502 }, extra: { Key: 'kept' } },
    autoEvents: [{ sourceName: 'Temperature', interval: '1s', onChangeThreshold: 0.5 }],
    desired: { Setpoint: 21 },
    driftPolicy: { '*': 'report' },
  },
  status: { operatingState: 'UP' },
};

describe('device form helpers', () => {
  it('lists every protocol the catalog declares with the plugins that read it, sorted', () => {
    expect([...known.keys()]).toEqual(['modbus-rtu', 'modbus-tcp']);
    expect(known.get('modbus-tcp')?.plugins).toEqual(['modbus', 'gateway']);
  });

  it('reads key=value lines and names a line that is not one', () => {
    expect(fromLines('a=1\n\n b = two words \nc=')).toEqual({ value: { a: '1', b: 'two words', c: '' } });
    expect(fromLines('a=1\nnope')).toEqual({ error: 'line 2 (“nope”) is not key=value' });
    expect(fromLines('=x')).toHaveProperty('error');
  });

  it('puts each of the hub’s problems at its field, the protocol block’s with their full path, the rest above the form', () => {
    const placed = placeIssues(
      new Map([
        ['metadata.name', 'must be a DNS-1123 subdomain'],
        ['spec.protocols.modbus-tcp.Port', 'must be at most 65535'],
        ['spec.protocols.modbus-tcp', 'must have Address'],
        ['spec.autoEvents[1].interval', 'must be a Go duration'],
        ['spec.site', 'Site x does not exist'],
        ['spec.desired.Setpoint', 'is not writable'],
        ['metadata.labels.bad key', 'is not a label key'],
        ['spec', 'something else'],
      ]),
      'modbus-tcp',
    );
    expect(Object.fromEntries(placed.block)).toEqual({ 'spec.protocols.modbus-tcp.Port': 'must be at most 65535', 'spec.protocols.modbus-tcp': 'must have Address' });
    expect(Object.fromEntries(placed.fields)).toEqual({
      name: 'must be a DNS-1123 subdomain',
      'autoEvents.1.interval': 'must be a Go duration',
      site: 'Site x does not exist',
      desired: 'Setpoint is not writable',
      labels: 'bad key is not a label key',
    });
    expect(placed.rest).toEqual(['spec: something else']);
  });

  it('edits a device keeping what the form does not show, and its resourceVersion', () => {
    const draft = draftOf(device, known);
    expect(draft).toMatchObject({ name: 'hvac-1', protocol: 'modbus-tcp', block: { Address: '10.0.0.5', Port: 502 }, labels: 'room=2', driftPolicy: '*=report' });
    const built = bodyOf({ ...draft, description: 'room 3', labels: 'room=3', block: { Address: '10.0.0.6', Port: 1502 } }, device);
    expect(built).toEqual({
      protocol: 'modbus-tcp',
      body: {
        metadata: { name: 'hvac-1', labels: { room: '3' }, annotations: { 'example.com/owner': 'facilities' }, resourceVersion: '41' },
        spec: {
          site: 'plant',
          profile: 'hvac',
          adminState: 'UNLOCKED',
          description: 'room 3',
          protocols: { 'modbus-tcp': { Address: '10.0.0.6', Port: 1502 }, extra: { Key: 'kept' } },
          autoEvents: [{ sourceName: 'Temperature', interval: '1s', onChangeThreshold: 0.5 }],
          desired: { Setpoint: 21 },
          driftPolicy: { '*': 'report' },
        },
      },
    });
  });

  it('replaces the protocol block when the protocol changes; a protocol outside the catalog is edited as JSON', () => {
    const other = draftOf({ ...device, spec: { ...device.spec, protocols: { bacnet: { Instance: 7 } } } }, known);
    expect(other).toMatchObject({ otherName: 'bacnet', block: {} });
    expect(JSON.parse(other.otherJson)).toEqual({ Instance: 7 });
    const built = bodyOf({ ...draftOf(device, known), protocol: 'modbus-rtu', block: { Address: '/dev/ttyUSB0' } }, device);
    expect('body' in built && built.body.spec.protocols).toEqual({ 'modbus-rtu': { Address: '/dev/ttyUSB0' }, extra: { Key: 'kept' } });
  });

  it('names the draft’s own mistakes by path and sends nothing', () => {
    const draft = { ...draftOf(undefined, known), protocol: '', labels: 'oops', desired: '[1]' };
    const built = bodyOf(draft);
    expect('problems' in built && Object.fromEntries(built.problems)).toEqual({
      'metadata.name': 'enter a name',
      'metadata.labels': 'line 1 (“oops”) is not key=value',
      'spec.desired': 'must be a JSON object, by resource name',
      'spec.protocols': 'choose the protocol the device speaks',
    });
  });

  it('creates a device with only what was filled in', () => {
    const draft = { ...draftOf(undefined, known), name: ' pump-1 ', site: 'plant', profile: 'pump', protocol: 'modbus-tcp', block: { Address: 'h', Port: 502 } };
    draft.autoEvents = [{ sourceName: 'Flow', interval: ' 500ms ', onChange: true }];
    expect(bodyOf(draft)).toEqual({
      protocol: 'modbus-tcp',
      body: {
        metadata: { name: 'pump-1', labels: {} },
        spec: { site: 'plant', profile: 'pump', adminState: 'UNLOCKED', protocols: { 'modbus-tcp': { Address: 'h', Port: 502 } }, autoEvents: [{ sourceName: 'Flow', interval: '500ms', onChange: true }] },
      },
    });
  });
});
