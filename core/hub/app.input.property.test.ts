/**
 * Properties of the resource routes (create, apply, status of every kind)
 * over real HTTP against the SQLite store:
 *
 * - a valid generated object is accepted and reads back equal (spec, labels,
 *   annotations, status), apart from the documented normalisations (a
 *   Device's default adminState, a BrokerCredential's secret never answered);
 * - a valid body with one hostile mutation (a wrong type, a missing or extra
 *   field, prototype keys, a huge string, deep nesting, extreme numbers) is
 *   never answered with a 5xx; refused, it gets a coded 4xx naming at least
 *   one field and leaves the store's revision where it was; accepted, it
 *   reads back as answered.
 *
 * Fixed seeds (EDGEADM_PROPERTY_SEED overrides); fast-check prints the seed
 * and the path of a failing case. Sized to run in a few seconds on 2 cores.
 */
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../kernel/index.ts';
import { VALUE_TYPES } from '../sdk/index.ts';
import type { Kind } from '../store/index.ts';
import { sqliteBackend, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';

const SEED = Number(process.env.EDGEADM_PROPERTY_SEED ?? 20_240_613);
const RUNS_VALID = 100;
const RUNS_MUTATED = 400;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface KindCase {
  plural: string;
  kind: Kind;
  /** Metadata name of a fresh object (`n` makes it unique). */
  name: (n: number) => string;
  spec: (n: number) => fc.Arbitrary<JsonObject>;
  status: fc.Arbitrary<JsonObject>;
}

// ---------------------------------------------------------------------------
// Generators of valid content

const word = fc.stringMatching(/^[a-z][a-z0-9]{0,9}$/);
const text = fc.string({ maxLength: 24 });
const labelValue = fc.stringMatching(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?)?$/);
const labelKey = fc.oneof(word, fc.tuple(word, word).map(([p, n]) => `${p}.io/${n}`));
const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3 });
const annotations = fc.dictionary(labelKey, text, { maxKeys: 3 });
const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(1e308, -1e308, 5e-324, -0));
const freeKey = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_ -]{0,11}$/);
/** Free-form JSON (configs, attributes, protocol blocks, values), a few levels deep. */
const freeJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    number,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(freeKey, tie('value'), { maxKeys: 3 }),
  ),
})).value;
const freeMap = fc.dictionary(freeKey, freeJson, { maxKeys: 4 });
const time = fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
const site = fc.constantFrom('plant-a', 'plant-b');

/** An object with the given required fields and any subset of the optional ones. */
function shape(required: Record<string, fc.Arbitrary<Json>>, optional: Record<string, fc.Arbitrary<Json>>): fc.Arbitrary<JsonObject> {
  return fc.record({ ...required, ...optional }, { requiredKeys: Object.keys(required) });
}

const profileResources = fc
  .uniqueArray(
    fc.record({
      name: word,
      valueType: fc.constantFrom(...VALUE_TYPES),
      readWrite: fc.constantFrom('R', 'W', 'RW'),
      units: fc.option(text, { nil: undefined }),
      bounds: fc.option(fc.tuple(fc.integer({ min: -1000, max: 1000 }), fc.nat(1000)), { nil: undefined }),
      attributes: fc.option(freeMap, { nil: undefined }),
    }),
    { minLength: 1, maxLength: 3, selector: (r) => r.name },
  )
  .map((rs) =>
    rs.map((r): JsonObject => ({
      name: r.name,
      ...(r.attributes === undefined ? {} : { attributes: r.attributes }),
      properties: {
        valueType: r.valueType,
        readWrite: r.readWrite,
        ...(r.units === undefined ? {} : { units: r.units }),
        ...(r.bounds === undefined ? {} : { minimum: r.bounds[0], maximum: r.bounds[0] + r.bounds[1] }),
      },
    })),
  );

const maxLabel = (prefix: string, n: number): string => `${prefix}-${n}`;

let passwordHash = '';

const KINDS: KindCase[] = [
  {
    plural: 'sites',
    kind: 'Site',
    name: (n) => maxLabel('ps', n),
    spec: () => shape({}, { displayName: fc.string({ maxLength: 40 }), description: text, location: fc.oneof(text, freeMap) }),
    status: shape({}, { phase: fc.constantFrom('Pending', 'Online', 'Offline'), lastSeen: time, agentVersion: word, message: text }),
  },
  {
    plural: 'nodes',
    kind: 'Node',
    name: (n) => `pn-${n}.example`,
    spec: () => shape({ site }, { hostname: fc.domain(), addresses: fc.array(fc.ipV4(), { maxLength: 3 }), roles: fc.array(word, { maxLength: 2 }) }),
    status: shape({}, { connected: fc.boolean(), lastSeen: time, message: text, joinedAt: time }),
  },
  {
    plural: 'deviceprofiles',
    kind: 'DeviceProfile',
    name: (n) => `pp-${n}`,
    spec: () => shape({ deviceResources: profileResources }, { manufacturer: text, model: text, description: text, labels: fc.array(word, { maxLength: 3 }) }),
    status: shape({}, { message: text }),
  },
  {
    plural: 'devices',
    kind: 'Device',
    name: (n) => `pd-${n}`,
    spec: () =>
      shape(
        { site, profile: fc.constant('thermo'), protocols: fc.dictionary(fc.constantFrom('modbus-tcp', 'mqtt', 'other'), freeMap, { minKeys: 1, maxKeys: 2 }) },
        {
          description: text,
          adminState: fc.constantFrom('LOCKED', 'UNLOCKED'),
          autoEvents: fc.array(fc.record({ sourceName: fc.constantFrom('temp', 'mode'), interval: fc.constantFrom('500ms', '1s', '2m', '1h30m'), onChange: fc.boolean() }), { maxLength: 2 }),
          desired: freeMap,
        },
      ),
    status: shape(
      {},
      {
        operatingState: fc.constantFrom('UP', 'DOWN', 'UNKNOWN'),
        lastSeen: time,
        observedDesired: freeMap,
        reported: fc.dictionary(word, fc.record({ value: freeJson, origin: fc.nat(), quality: fc.constantFrom('good', 'bad') }), { maxKeys: 2 }),
        message: text,
      },
    ),
  },
  {
    plural: 'addons',
    kind: 'Addon',
    name: (n) => `pa-${n}`,
    spec: () =>
      shape(
        { plugin: fc.constantFrom('modbus', 'mqtt', 'edgex.core', 'acme-bacnet') },
        {
          version: fc.constantFrom('^1.2.0', '>=2 <3', '*'),
          config: freeMap,
          sites: fc.uniqueArray(site, { maxLength: 2 }),
          siteSelector: fc.dictionary(labelKey, labelValue, { maxKeys: 2 }),
          templates: fc.dictionary(site, freeMap, { maxKeys: 2 }),
        },
      ),
    status: shape({}, { sites: fc.dictionary(site, shape({ state: word }, { message: text, code: word }), { maxKeys: 2 }) }),
  },
  {
    plural: 'leases',
    kind: 'Lease',
    name: (n) => `pl-${n}`,
    spec: () =>
      shape(
        {},
        {
          holderIdentity: word,
          holderAddress: word.map((w) => `wss://${w}.example:8443/peer`),
          leaseDurationSeconds: fc.integer({ min: 1, max: 86_400 }),
          acquireTime: time,
          renewTime: time,
          leaseTransitions: fc.nat(),
        },
      ),
    status: fc.constant({}),
  },
  {
    plural: 'brokercredentials',
    kind: 'BrokerCredential',
    name: (n) => `pb-${n}`,
    spec: (n) =>
      shape(
        { site, username: fc.constant(`user-${n}`), passwordHash: fc.constant(passwordHash) },
        {
          publish: fc.array(fc.constantFrom('plant/+/temp', 'a/b/#', 'x'), { maxLength: 2 }),
          subscribe: fc.array(fc.constantFrom('cmd/#', 'y/+'), { maxLength: 2 }),
          disabled: fc.boolean(),
          description: text,
        },
      ),
    status: shape({}, { message: text }),
  },
  {
    plural: 'pendingdevices',
    kind: 'PendingDevice',
    name: (n) => `pq-${n}`,
    spec: () =>
      shape(
        {
          site,
          source: fc.constantFrom('homeassistant', 'announce'),
          identifier: word,
          suggestedName: word,
          protocolName: fc.constant('mqtt'),
          protocol: freeMap,
          profile: profileResources.map((deviceResources) => ({ deviceResources })),
          firstSeen: time,
          lastSeen: time,
        },
        { displayName: text, manufacturer: text, model: text, swVersion: word, warnings: fc.array(text, { maxLength: 2 }) },
      ),
    status: shape({}, { phase: fc.constantFrom('Pending', 'Approved', 'Rejected'), decidedBy: word, decidedAt: time, message: text }),
  },
];

const kindOf = (plural: string): KindCase => KINDS.find((k) => k.plural === plural) as KindCase;

// ---------------------------------------------------------------------------
// Mutations

/**
 * Hostile values too big or too odd for a JavaScript value (and for printing
 * a counterexample) travel as short markers the serializer expands into
 * JSON text: `num:1e400` (a number token as written), `deep:300:a` (300
 * nested arrays; `o` for objects), `long:100000` (a string that long).
 */
const marker = (token: string): string => `\u0000GEN:${token}\u0000`;
function expand(token: string): string {
  const [kind = '', a = '', b = ''] = token.split(':');
  if (kind === 'num') return a;
  if (kind === 'long') return JSON.stringify('x'.repeat(Number(a)));
  const depth = Number(a);
  return b === 'a' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"n":'.repeat(depth)}1${'}'.repeat(depth)}`;
}
const serialize = (body: Json): string => JSON.stringify(body).replace(/"\\u0000GEN:([^"\\]*)\\u0000"/g, (_m, token: string) => expand(token));

const PROTOTYPE_KEYS = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineGetter__', 'isPrototypeOf'];

const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  freeJson,
  fc.constantFrom('1e308', '-0', '1e400', '-1e400', `1${'0'.repeat(400)}`, '5e-324', '9007199254740993').map((t) => marker(`num:${t}`)),
  fc.constantFrom<Json>('NaN', 'Infinity', '1e308', '-0', '', ' ', '\u0000', '\ud800', '${x}', '../..', "'; DROP TABLE resources; --"),
  fc.integer({ min: 100_000, max: 300_000 }).map((n) => marker(`long:${n}`)),
  fc
    .tuple(fc.oneof(fc.integer({ min: 2, max: 80 }), fc.integer({ min: 80, max: 5000 })), fc.constantFrom('a', 'o'))
    .map(([depth, shape]) => marker(`deep:${depth}:${shape}`)),
  fc.constantFrom<Json>([], {}, [[]], [{}], { '': '' }),
);

type Mutation =
  | { op: 'replace'; at: number; value: Json }
  | { op: 'delete'; at: number }
  | { op: 'add'; at: number; key: string; value: Json }
  | { op: 'proto'; at: number; value: Json };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: hostileValue }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS), freeKey), value: hostileValue }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('proto' as const), at: fc.nat(), value: fc.oneof(freeMap, fc.constant({ polluted: true })) }) },
);

interface Slot {
  parent: JsonObject | Json[];
  key: string | number;
}

/** Every place in the body below its root, in a stable order. */
function slots(body: JsonObject): Slot[] {
  const out: Slot[] = [];
  const visit = (v: Json): void => {
    if (Array.isArray(v)) {
      v.forEach((c, i) => {
        out.push({ parent: v, key: i });
        visit(c);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, c] of Object.entries(v)) {
        out.push({ parent: v, key: k });
        visit(c);
      }
    }
  };
  visit(body);
  return out;
}

function containers(body: JsonObject): (JsonObject | Json[])[] {
  const out: (JsonObject | Json[])[] = [body];
  for (const s of slots(body)) {
    const v = (s.parent as Record<string | number, Json>)[s.key];
    if (v !== null && typeof v === 'object') out.push(v);
  }
  return out;
}

/** Applies `m` to a copy of `body`; the text sent. */
function mutate(body: JsonObject, m: Mutation): string {
  const copy = structuredClone(body);
  if (m.op === 'replace' || m.op === 'delete') {
    const all = slots(copy);
    const s = all[m.at % all.length] as Slot;
    if (m.op === 'replace') (s.parent as Record<string | number, Json>)[s.key] = m.value;
    else if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
    else delete s.parent[s.key];
  } else {
    const objects = containers(copy).filter((c): c is JsonObject => !Array.isArray(c));
    const target = objects[m.at % objects.length] as JsonObject;
    if (m.op === 'add') target[m.key] = m.value;
    else Object.defineProperty(target, '__proto__', { value: m.value, enumerable: true, configurable: true, writable: true });
  }
  return serialize(copy);
}

// ---------------------------------------------------------------------------
// The hub

interface Answer {
  status: number;
  body: { code?: string; message?: string; details?: Record<string, unknown>; [key: string]: unknown };
}

/** The field names an error carries (issues' paths, refs' fields, field, path, param). */
function namedFields(details: Record<string, unknown> | undefined): string[] {
  if (!details) return [];
  const out: string[] = [];
  for (const i of (details.issues as { path?: unknown }[] | undefined) ?? []) if (typeof i.path === 'string') out.push(i.path);
  for (const r of (details.refs as { field?: unknown }[] | undefined) ?? []) if (typeof r.field === 'string') out.push(r.field);
  for (const k of ['field', 'path', 'param']) if (typeof details[k] === 'string') out.push(details[k]);
  return out.filter((f) => f !== '');
}

/** What the hub answers of a resource: the spec without secret fields, defaults applied. */
function expectedSpec(kind: Kind, spec: JsonObject): JsonObject {
  const out = JSON.parse(JSON.stringify(spec)) as JsonObject;
  if (kind === 'BrokerCredential') delete out.passwordHash;
  if (kind === 'Device') out.adminState ??= 'UNLOCKED';
  return out;
}

describe('resource routes under generated and mutated bodies (property, real HTTP, SQLite)', () => {
  let h: TestHub;
  let base = '';
  let serial = 0;
  const fixtures = new Map<Kind, string>();

  async function call(method: string, url: string, body?: string): Promise<Answer> {
    const r = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${h.admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body }),
    });
    const text = await r.text();
    expect(text, `${method} ${url}`).not.toMatch(/FST_|"statusCode":/);
    return { status: r.status, body: text === '' ? {} : (JSON.parse(text) as Answer['body']) };
  }

  /** The store's revision: every accepted write moves it. */
  async function revision(): Promise<string> {
    const r = await call('GET', '/api/v1/sites?limit=1');
    return String(r.body.resourceVersion);
  }

  beforeAll(async () => {
    passwordHash = await hashSecret('property-password');
    h = await startTestHub({ backend: sqliteBackend });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    // One object of each kind to apply to and write the status of.
    for (const k of KINDS) {
      const name = k.name(++serial);
      const spec = fc.sample(k.spec(serial), { seed: SEED, numRuns: 1 })[0] as JsonObject;
      const r = await call('POST', `/api/v1/${k.plural}`, JSON.stringify({ metadata: { name }, spec }));
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      fixtures.set(k.kind, name);
    }
  });
  afterAll(() => h.close());

  it('accepts valid generated objects of every kind and reads them back equal', async () => {
    const arb = fc
      .constantFrom(...KINDS.map((k) => k.plural))
      .chain((plural) => fc.record({ plural: fc.constant(plural), labels, annotations, spec: kindOf(plural).spec(0), status: kindOf(plural).status }));
    await fc.assert(
      fc.asyncProperty(arb, async ({ plural, labels: l, annotations: a, spec: generated, status }) => {
        const k = kindOf(plural);
        const n = ++serial;
        const name = k.name(n);
        // Fields that must be unique per object take the serial (the generator saw 0); an Addon's
        // plugin too, since two Addons may not put one plugin at a site.
        const spec = k.kind === 'BrokerCredential' ? { ...generated, username: `user-${n}` } : k.kind === 'Addon' ? { ...generated, plugin: `${generated.plugin as string}-${n}` } : generated;
        const created = await call('POST', `/api/v1/${k.plural}`, JSON.stringify({ metadata: { name, labels: l, annotations: a }, spec }));
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const st = await call('PUT', `/api/v1/${k.plural}/${name}/status`, JSON.stringify({ status }));
        expect(st.status, JSON.stringify(st.body)).toBe(200);
        const got = await call('GET', `/api/v1/${k.plural}/${name}`);
        expect(got.status).toBe(200);
        expect(got.body.spec).toEqual(expectedSpec(k.kind, spec));
        expect(got.body.status).toEqual(JSON.parse(JSON.stringify(status)));
        const meta = got.body.metadata as { name: string; labels?: unknown; annotations?: unknown };
        expect(meta.name).toBe(name);
        expect(meta.labels ?? {}).toEqual(l);
        expect(meta.annotations ?? {}).toEqual(a);
      }),
      { seed: SEED, numRuns: RUNS_VALID },
    );
  });

  it('never answers a mutated body with a 5xx; a refusal is a coded 4xx naming a field and changes nothing', async () => {
    const route = fc.constantFrom('create' as const, 'apply' as const, 'status' as const);
    const arb = fc
      .tuple(fc.constantFrom(...KINDS.map((k) => k.plural)), route)
      .chain(([plural, r]) =>
        fc.record({
          plural: fc.constant(plural),
          route: fc.constant(r),
          labels,
          content: r === 'status' ? kindOf(plural).status : kindOf(plural).spec(0),
          mutation,
        }),
      );
    await fc.assert(
      fc.asyncProperty(arb, async ({ plural, route: r, labels: l, content, mutation: m }) => {
        const k = kindOf(plural);
        const n = ++serial;
        const fixture = fixtures.get(k.kind) as string;
        const name = r === 'create' ? k.name(n) : fixture;
        const spec =
          k.kind === 'BrokerCredential' && r === 'create'
            ? { ...content, username: `user-${n}` }
            : k.kind === 'Addon' && r === 'create'
              ? { ...content, plugin: `${content.plugin as string}-${n}` }
              : content;
        const body: JsonObject =
          r === 'create' ? { metadata: { name, labels: l }, spec } : r === 'apply' ? { metadata: { labels: l }, spec } : { status: content };
        const url = r === 'create' ? `/api/v1/${k.plural}` : r === 'apply' ? `/api/v1/${k.plural}/${name}` : `/api/v1/${k.plural}/${name}/status`;
        const before = await revision();
        const answer = await call(r === 'create' ? 'POST' : 'PUT', url, mutate(body, m));
        expect(answer.status, JSON.stringify(answer.body).slice(0, 400)).toBeLessThan(500);
        if (answer.status >= 400) {
          expect(answer.body.code).toMatch(/^EDGE_ERR_/);
          expect(namedFields(answer.body.details), JSON.stringify(answer.body).slice(0, 400)).not.toEqual([]);
          expect(await revision()).toBe(before);
          if (r === 'create') expect((await call('GET', `/api/v1/${k.plural}/${name}`)).status).toBe(404);
        } else {
          const got = await call('GET', `/api/v1/${k.plural}/${answer.body.metadata ? (answer.body.metadata as { name: string }).name : name}`);
          expect(got.body).toEqual(answer.body);
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { seed: SEED + 1, numRuns: RUNS_MUTATED },
    );
  });
});
