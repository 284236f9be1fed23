/**
 * CustomResourceDefinitions from TypeBox schemas (crds.ts): every CRD of
 * edgeadmCrds() is accepted by the Kubernetes API test server (which refuses
 * non-structural schemas as kube-apiserver does), an object of each kind
 * round-trips through it unchanged (nothing pruned, nothing refused), the
 * node-by-node mapping, and a TypeBox schema kube cannot express is a coded
 * error naming the field path.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- answers are arbitrary Kubernetes JSON (RawResponse.body) */
import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { useKubeApiServer } from '../../test/support/kube-apiserver/client.ts';
import { crdFromSchema, edgeadmCrds } from './crds.ts';
import { ErrCrdSchema } from './errors.ts';
import { hashSecret } from '../kernel/index.ts';
import { prepareResource, prepareStatus } from './schemas.ts';
import { API_VERSION, KINDS, type Kind } from './types.ts';

const t = useKubeApiServer();
const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const HASH = await hashSecret('secret', { logN: 10, r: 1, p: 1 });

/** One full object of each kind, spec and status, with the shapes the mapping must carry (unions, records, unknowns, nulls). */
const SAMPLES: Record<Kind, { spec: unknown; status: unknown }> = {
  Site: {
    spec: { displayName: 'Plant A', location: { latitude: 1.5, longitude: 2 }, onboarding: { rules: [{ name: 'r1', match: { source: 'announce', model: 'x*' }, labels: { a: 'b' } }] } },
    status: { phase: 'Online', lastSeen: '2026-01-01T00:00:00Z', message: 'm' },
  },
  Node: { spec: { site: 'plant-a', hostname: 'h1', addresses: ['10.0.0.1'] }, status: { connected: true, sshHostKeys: ['ssh-ed25519 AAAA'] } },
  DeviceProfile: {
    spec: {
      manufacturer: 'acme',
      deviceResources: [
        { name: 'temp', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0 }, properties: { valueType: 'Float32', readWrite: 'R', scale: '0.1', minimum: -40, defaultValue: 3 } },
        { name: 'on', properties: { valueType: 'Bool', readWrite: 'RW', defaultValue: true, optional: { x: [1, null] } } },
      ],
      deviceCommands: [{ name: 'c', readWrite: 'R', resourceOperations: [{ deviceResource: 'temp', mappings: { '1': 'one' } }] }],
    },
    status: { message: 'ok' },
  },
  Device: {
    spec: { site: 'plant-a', profile: 'meter', adminState: 'UNLOCKED', protocols: { 'modbus-tcp': { Address: '10.0.0.5', Port: 502 } }, desired: { on: true, sp: null }, driftPolicy: { '*': 'report' } },
    status: {
      operatingState: 'UP',
      reported: { temp: { value: 21.5, origin: 1 }, nothing: { value: null, origin: 2 } },
      drift: { sp: { desired: { a: 1 }, observed: [1, 'x'], since: '2026-01-01T00:00:00Z', policy: 'report' } },
    },
  },
  Addon: { spec: { plugin: 'modbus', sites: ['plant-a'], config: { deep: { list: [1, { x: 'y' }] } }, templates: { 'plant-a': { k: 1 } } }, status: { sites: { 'plant-a': { state: 'Running', observedGeneration: 1 } } } },
  Lease: { spec: { holderIdentity: 'r1', holderAddress: 'ws://127.0.0.1:1', leaseDurationSeconds: 15, leaseTransitions: 0 }, status: {} },
  BrokerCredential: { spec: { site: 'plant-a', username: 'gw-1', passwordHash: HASH, publish: ['a/+/#'], disabled: false }, status: { message: 'm' } },
  PendingDevice: {
    spec: {
      site: 'plant-a',
      source: 'announce',
      identifier: 'id-1',
      suggestedName: 'dev-1',
      protocolName: 'mqtt',
      protocol: { topic: 't' },
      profile: { deviceResources: [{ name: 'r', properties: { valueType: 'Int16', readWrite: 'R' } }] },
      firstSeen: '2026-01-01T00:00:00Z',
      lastSeen: '2026-01-01T00:00:00Z',
    },
    status: { phase: 'Pending' },
  },
};

async function established(name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const got = (await t.c.call('GET', `${CRDS}/${name}`)).body;
    if (got.status?.conditions?.some((x: { type: string; status: string }) => x.type === 'Established' && x.status === 'True')) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`CRD ${name} never became Established`);
}

describe('edgeadmCrds', () => {
  it('every CRD is accepted (structural) and Established, with a status subresource, printer columns and the edgeadm category', async () => {
    const crds = edgeadmCrds();
    expect(crds).toHaveLength(KINDS.length);
    for (const crd of crds) {
      const r = await t.c.call('POST', CRDS, crd);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      await established((crd.metadata as { name: string }).name);
    }
    const disc = (await t.c.call('GET', '/apis/edgeadm.io/v1alpha1')).body;
    const names = disc.resources.map((r: { name: string }) => r.name);
    for (const plural of ['sites', 'nodes', 'deviceprofiles', 'devices', 'addons', 'leases', 'brokercredentials', 'pendingdevices']) {
      expect(names).toContain(plural);
      expect(names).toContain(`${plural}/status`);
    }
    const device = crds.find((c) => (c.metadata as { name: string }).name === 'devices.edgeadm.io') as { spec: { names: unknown; versions: { additionalPrinterColumns: { name: string; jsonPath: string }[] }[] } };
    expect(device.spec.names).toMatchObject({ kind: 'Device', categories: ['edgeadm'], shortNames: ['dev'] });
    expect(device.spec.versions[0]?.additionalPrinterColumns.map((c) => [c.name, c.jsonPath])).toEqual([
      ['Site', '.spec.site'],
      ['Profile', '.spec.profile'],
      ['Plugin', '.spec.plugin'],
      ['State', '.status.operatingState'],
      ['Age', '.metadata.creationTimestamp'],
    ]);
  });

  it.each(KINDS.map((k) => [k]))('a full %s round-trips: created, status written through /status, read back unchanged', async (kind) => {
    const sample = SAMPLES[kind];
    const name = kind === 'Site' ? 'plant-a' : 'x-1';
    const prepared = prepareResource({ apiVersion: API_VERSION, kind, metadata: { name }, spec: sample.spec });
    expect(prepared.ok, JSON.stringify(prepared)).toBe(true);
    expect(prepareStatus(kind, sample.status)).toMatchObject({ ok: true });
    const spec = (prepared as { value: { spec: unknown } }).value.spec;
    const crd = edgeadmCrds().find((c) => (c.spec as { names: { kind: string } }).names.kind === kind) as { spec: { names: { plural: string } } };
    const base = `/apis/edgeadm.io/v1alpha1/namespaces/default/${crd.spec.names.plural}`;
    const created = await t.c.call('POST', `${base}?fieldValidation=Strict`, { apiVersion: API_VERSION, kind, metadata: { name }, spec });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.spec).toEqual(spec);
    const withStatus = await t.c.call('PUT', `${base}/${name}/status?fieldValidation=Strict`, { ...created.body, status: sample.status });
    expect(withStatus.status, JSON.stringify(withStatus.body)).toBe(200);
    const got = (await t.c.call('GET', `${base}/${name}`)).body;
    expect(got.spec).toEqual(spec);
    expect(got.status).toEqual(sample.status);
  });

  it('kube refuses what the schema refuses where it can say so: an enum, a bound, a pattern', async () => {
    const base = '/apis/edgeadm.io/v1alpha1/namespaces/default/devices';
    const r = await t.c.call('POST', base, { apiVersion: API_VERSION, kind: 'Device', metadata: { name: 'bad' }, spec: { site: 'Not_A_Label', profile: 'p', adminState: 'MAYBE', protocols: { x: {} } } });
    expect(r.status).toBe(422);
    expect(r.body.details.causes.map((c: { field: string }) => c.field).sort()).toEqual(['spec.adminState', 'spec.site']);
  });
});

describe('crdFromSchema mapping', () => {
  const schemaOf = (spec: ReturnType<typeof Type.Object>): Record<string, unknown> => {
    const crd = crdFromSchema({ group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', scope: 'Cluster', specSchema: spec }) as {
      spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, unknown> } } } }; subresources?: unknown }[] };
    };
    expect(crd.spec.versions[0]?.subresources).toBeUndefined();
    return crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec.properties as Record<string, unknown>;
  };

  it('maps unions, records, unknowns, nulls, bounds, patterns and formats by kube\'s rules', () => {
    const p = schemaOf(
      Type.Object(
        {
          color: Type.Union([Type.Literal('red'), Type.Literal('blue')], { default: 'red' }),
          one: Type.Literal(3),
          note: Type.Union([Type.String({ maxLength: 3 }), Type.Null()]),
          port: Type.Union([Type.Integer(), Type.String()]),
          num: Type.Union([Type.Number(), Type.String()]),
          map: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
          free: Type.Unknown(),
          open: Type.Object({ a: Type.String() }),
          closed: Type.Object({ a: Type.String() }, { additionalProperties: false }),
          pos: Type.Integer({ exclusiveMinimum: 0, maximum: 9 }),
          topic: Type.String({ pattern: '^[^\\u0000\\u002d]*$' }),
          user: Type.String({ pattern: '^(?!x-)[a-z]+$', minLength: 1 }),
          when: Type.String({ format: 'date-time' }),
          odd: Type.String({ format: 'json-pointer' }),
          tags: Type.Array(Type.String(), { maxItems: 4 }),
        },
        { additionalProperties: false },
      ),
    );
    expect(p).toEqual({
      color: { type: 'string', enum: ['red', 'blue'], default: 'red' },
      one: { type: 'integer', enum: [3] },
      note: { type: 'string', maxLength: 3, nullable: true },
      port: { 'x-kubernetes-int-or-string': true },
      num: { 'x-kubernetes-preserve-unknown-fields': true },
      map: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
      free: { 'x-kubernetes-preserve-unknown-fields': true, nullable: true },
      open: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], 'x-kubernetes-preserve-unknown-fields': true },
      closed: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
      pos: { type: 'integer', minimum: 0, exclusiveMinimum: true, maximum: 9 },
      topic: { type: 'string', pattern: '^[^\u0000\\-]*$' },
      user: { type: 'string', minLength: 1 },
      when: { type: 'string', format: 'date-time' },
      odd: { type: 'string' },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 4 },
    });
  });

  it('a status schema gives the status subresource', () => {
    const crd = crdFromSchema({ group: 'example.com', version: 'v1', kind: 'W', plural: 'ws', scope: 'Namespaced', specSchema: Type.Object({}), statusSchema: Type.Object({ ok: Type.Boolean() }) }) as {
      spec: { versions: { subresources: unknown; schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }[] };
    };
    expect(crd.spec.versions[0]?.subresources).toEqual({ status: {} });
    expect(Object.keys(crd.spec.versions[0]?.schema.openAPIV3Schema.properties ?? {})).toEqual(['spec', 'status']);
  });

  it.each([
    ['a tuple', Type.Object({ a: Type.Object({ pair: Type.Tuple([Type.String(), Type.Integer()]) }) }), 'spec.a.pair', /tuples/],
    ['a record with a key pattern', Type.Object({ m: Type.Record(Type.String({ pattern: '^[a-z]+$' }), Type.String()) }), 'spec.m', /record keys/],
    ['a reference', Type.Object({ list: Type.Array(Type.Ref('Thing')) }), 'spec.list[]', /\$ref/],
    ['an intersection', Type.Object({ both: Type.Intersect([Type.Object({ a: Type.String() }), Type.Object({ b: Type.String() })]) }), 'spec.both', /allOf/],
    ['null alone', Type.Object({ n: Type.Null() }), 'spec.n', /null alone/],
    ['a function', Type.Object({ f: Type.Function([], Type.Void()) }), 'spec.f', /no JSON type|not a JSON type/],
  ])('%s is a coded error naming the path', (_what, schema, path, reason) => {
    let err: unknown;
    try {
      crdFromSchema({ group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', scope: 'Cluster', specSchema: schema });
    } catch (e) {
      err = e;
    }
    expect(ErrCrdSchema.is(err)).toBe(true);
    expect((err as ErrorWithParams).params).toMatchObject({ kind: 'Widget', path });
    expect((err as Error).message).toMatch(reason);
    expect((err as Error).message).toContain(path);
  });
});

interface ErrorWithParams {
  params: Record<string, unknown>;
}
