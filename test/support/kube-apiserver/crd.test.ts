/**
 * The Kubernetes API test server's custom resources: a CRD is served once
 * Established and no longer once deleted; structural schemas; pruning,
 * defaulting and validation with kube-apiserver's 422 causes; fieldValidation
 * Strict / Warn / Ignore; the status subresource; dry run. Each test cites
 * the rule of the CustomResourceDefinition, field validation or API
 * concepts documents it checks.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- answers are arbitrary Kubernetes JSON, read loosely by the assertions (client.ts's RawResponse.body) */
import { describe, expect, it } from 'vitest';
import { useKubeApiServer } from './client.ts';

const t = useKubeApiServer();

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

const widgetSchema = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['size'],
      properties: {
        size: { type: 'integer', minimum: 1, maximum: 10 },
        color: { type: 'string', enum: ['red', 'blue'], default: 'red' },
        name: { type: 'string', pattern: '^[a-z]+$', maxLength: 8 },
        port: { 'x-kubernetes-int-or-string': true },
        tags: { type: 'array', maxItems: 2, items: { type: 'string' } },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        note: { type: 'string', nullable: true },
        free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    },
    status: { type: 'object', properties: { ready: { type: 'boolean' } } },
  },
};

function widgetCrd(versions: Record<string, unknown>[] = [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: widgetSchema }, subresources: { status: {} } }]) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: { group: 'example.com', scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] }, versions },
  };
}

async function establishedCrd(body: Record<string, unknown>): Promise<void> {
  const r = await t.c.call('POST', CRDS, body);
  expect(r.status).toBe(201);
  const name = (body.metadata as { name: string }).name;
  for (let i = 0; i < 100; i++) {
    const got = (await t.c.call('GET', `${CRDS}/${name}`)).body;
    if (got.status?.conditions?.some((x: { type: string; status: string }) => x.type === 'Established' && x.status === 'True')) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`CRD ${name} never became Established`);
}

const W = '/apis/example.com/v1/namespaces/default/widgets';
const widget = (name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name }, spec, ...extra });

describe('CRD lifecycle', () => {
  it('serves the custom type once the CRD is Established (names accepted), with discovery, status subresource and short names', async () => {
    await establishedCrd(widgetCrd());
    const crd = (await t.c.call('GET', `${CRDS}/widgets.example.com`)).body;
    expect(crd.status.acceptedNames).toMatchObject({ plural: 'widgets', kind: 'Widget' });
    expect(crd.status.storedVersions).toEqual(['v1']);
    const disc = (await t.c.call('GET', '/apis/example.com/v1')).body;
    expect(disc.resources).toEqual([
      expect.objectContaining({ name: 'widgets', kind: 'Widget', namespaced: true, shortNames: ['wd'] }),
      expect.objectContaining({ name: 'widgets/status' }),
    ]);
    expect((await t.c.call('GET', '/apis')).body.groups.map((g: { name: string }) => g.name)).toContain('example.com');
    const created = await t.c.call('POST', W, widget('w1', { size: 2 }));
    expect(created.status).toBe(201);
    // CustomResourceDefinition docs, "Defaulting": a missing property with a default gets it.
    expect(created.body.spec).toEqual({ size: 2, color: 'red' });
    expect(created.body.metadata.generation).toBe(1);
  });

  it('refuses a CRD whose schema is not structural, naming each field path', async () => {
    const bad = widgetCrd([
      { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { properties: { a: { type: 'string' } } } } } } },
    ]);
    const r = await t.c.call('POST', CRDS, { ...bad, metadata: { name: 'gadgets.example.com' }, spec: { ...bad.spec, names: { plural: 'gadgets', kind: 'Gadget' } } });
    // CustomResourceDefinition docs, "Specifying a structural schema": every specified field needs a type.
    expect(r.status).toBe(422);
    expect(r.body.details.causes).toEqual([expect.objectContaining({ field: 'spec.versions[0].schema.openAPIV3Schema.properties[spec].type', reason: 'FieldValueRequired' })]);
    const noStorage = widgetCrd([{ name: 'v1', served: true, storage: false, schema: { openAPIV3Schema: { type: 'object' } } }]);
    expect((await t.c.call('POST', CRDS, { ...noStorage, metadata: { name: 'x.example.com' } })).status).toBe(422);
    expect((await t.c.call('GET', '/apis/example.com/v1')).body.resources.map((r2: { name: string }) => r2.name)).not.toContain('gadgets');
  });

  it('deleting the CRD removes its custom resources, ends their watches and stops serving the type', async () => {
    const crd = widgetCrd([{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }]);
    await establishedCrd({ ...crd, metadata: { name: 'things.other.io' }, spec: { ...crd.spec, group: 'other.io', scope: 'Cluster', names: { plural: 'things', kind: 'Thing' } } });
    expect((await t.c.call('POST', '/apis/other.io/v1/things', { metadata: { name: 't1' }, spec: { anything: [1, 2] } })).status).toBe(201);
    const w = await t.c.watch(`/apis/other.io/v1/things?watch=true&resourceVersion=${t.server.revision}`);
    const del = await t.c.call('DELETE', `${CRDS}/things.other.io`);
    expect(del.body.metadata.deletionTimestamp).toBeDefined();
    expect(await w.next()).toMatchObject({ type: 'DELETED', object: { metadata: { name: 't1' } } });
    await w.ended;
    for (let i = 0; i < 50 && (await t.c.call('GET', `${CRDS}/things.other.io`)).status !== 404; i++) await new Promise((res) => setTimeout(res, 10));
    expect((await t.c.call('GET', `${CRDS}/things.other.io`)).status).toBe(404);
    expect((await t.c.call('GET', '/apis/other.io/v1/things')).status).toBe(404);
    expect((await t.c.call('GET', '/apis/other.io/v1')).status).toBe(404);
  });
});

describe('validation and pruning of custom resources', () => {
  it('answers 422 Invalid with a cause per bad field, with kube-apiserver\'s reasons and field paths', async () => {
    const r = await t.c.call('POST', W, widget('bad', { size: 'big', color: 'green', name: 'ABC', port: 1.5, tags: ['a', 'b', 'c'], labels: { a: 1 } }));
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422, details: { name: 'bad', group: 'example.com', kind: 'Widget' } });
    expect(r.body.message).toMatch(/^Widget\.example\.com "bad" is invalid: \[/);
    const causes = Object.fromEntries(r.body.details.causes.map((x: { field: string; reason: string }) => [x.field, x.reason]));
    expect(causes).toEqual({
      'spec.size': 'FieldValueTypeInvalid',
      'spec.color': 'FieldValueNotSupported',
      'spec.name': 'FieldValueInvalid',
      'spec.port': 'FieldValueTypeInvalid',
      'spec.tags': 'FieldValueTooMany',
      'spec.labels.a': 'FieldValueTypeInvalid',
    });
    const range = await t.c.call('POST', W, widget('bad', { size: 11 }));
    expect(range.body.details.causes).toEqual([{ reason: 'FieldValueInvalid', field: 'spec.size', message: 'Invalid value: 11: spec.size in body should be less than or equal to 10' }]);
    const missing = await t.c.call('POST', W, widget('bad', {}));
    expect(missing.body.details.causes).toEqual([{ reason: 'FieldValueRequired', field: 'spec.size', message: 'Required value' }]);
    expect((await t.c.call('POST', W, widget('ok', { size: 1, port: 'http', note: null }))).status).toBe(201);
    expect((await t.c.call('GET', `${W}/bad`)).status).toBe(404);
  });

  it('prunes unknown fields with a Warning header by default (Warn), refuses them under Strict, drops them silently under Ignore', async () => {
    const body = widget('pr', { size: 3, extra: 1, free: { kept: { deep: true } } }, { junk: 'x' });
    const warn = await t.c.call('POST', W, body);
    // Field validation docs: Warn drops unknown fields and warns; Strict fails the request with BadRequest; Ignore drops silently.
    expect(warn.status).toBe(201);
    expect(warn.body.spec).toEqual({ size: 3, color: 'red', free: { kept: { deep: true } } });
    expect(warn.body.junk).toBeUndefined();
    const warnings = ([] as string[]).concat(warn.headers.warning ?? []).join(',');
    expect(warnings).toContain('unknown field \\"spec.extra\\"');
    expect(warnings).toContain('unknown field \\"junk\\"');
    const strict = await t.c.call('POST', `${W}?fieldValidation=Strict`, { ...body, metadata: { name: 'pr2' } });
    expect(strict.status).toBe(400);
    expect(strict.body).toMatchObject({ reason: 'BadRequest', message: expect.stringContaining('strict decoding error: unknown field "spec.extra", unknown field "junk"') });
    expect((await t.c.call('GET', `${W}/pr2`)).status).toBe(404);
    const ignore = await t.c.call('POST', `${W}?fieldValidation=Ignore`, { ...body, metadata: { name: 'pr3' } });
    expect(ignore.status).toBe(201);
    expect(ignore.headers.warning).toBeUndefined();
    expect(ignore.body.spec.extra).toBeUndefined();
    // Nulls of non-nullable fields are pruned, not refused.
    const nul = await t.c.call('POST', W, widget('pr4', { size: 2, name: null }));
    expect(nul.status).toBe(201);
    expect('name' in nul.body.spec).toBe(false);
  });

  it('validates updates and patches too, and a dry run of a custom resource writes nothing', async () => {
    await t.c.call('POST', W, widget('up', { size: 4 }));
    const p = await t.c.call('PATCH', `${W}/up`, { spec: { size: 0 } }, 'application/merge-patch+json');
    expect(p.status).toBe(422);
    expect((await t.c.call('PATCH', `${W}/up`, { spec: { size: 5 } }, 'application/strategic-merge-patch+json')).status).toBe(415);
    const rv = t.server.revision;
    const dry = await t.c.call('POST', `${W}?dryRun=All`, widget('dry', { size: 2, extra: true }));
    expect(dry.status).toBe(201);
    expect(dry.body.spec).toEqual({ size: 2, color: 'red' });
    const dryBad = await t.c.call('POST', `${W}?dryRun=All`, widget('dry', { size: 20 }));
    expect(dryBad.status).toBe(422);
    expect(t.server.revision).toBe(rv);
  });
});

describe('status subresource of custom resources', () => {
  it('status changes only through /status; the main resource ignores status; generation counts spec changes only', async () => {
    const created = (await t.c.call('POST', W, widget('st', { size: 1 }, { status: { ready: true } }))).body;
    // CustomResourceDefinition docs, "Status subresource": status in a create or main update is ignored; /status ignores all but status; generation follows spec.
    expect(created.status).toBeUndefined();
    const main = (await t.c.call('PATCH', `${W}/st`, { spec: { size: 2 }, status: { ready: true } }, 'application/merge-patch+json')).body;
    expect(main.status).toBeUndefined();
    expect(main.metadata.generation).toBe(2);
    const st = (await t.c.call('PATCH', `${W}/st/status`, { spec: { size: 9 }, status: { ready: true } }, 'application/merge-patch+json')).body;
    expect(st.status).toEqual({ ready: true });
    expect(st.spec.size).toBe(2);
    expect(st.metadata.generation).toBe(2);
    const badStatus = await t.c.call('PATCH', `${W}/st/status`, { status: { ready: 'yes' } }, 'application/merge-patch+json');
    expect(badStatus.status).toBe(422);
    expect(badStatus.body.details.causes[0].field).toBe('status.ready');
  });

  it('a CRD without a status subresource treats status as an ordinary field', async () => {
    const crd = widgetCrd([{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: widgetSchema } }]);
    await establishedCrd({ ...crd, metadata: { name: 'plains.example.com' }, spec: { ...crd.spec, names: { plural: 'plains', kind: 'Plain' } } });
    const r = (await t.c.call('POST', '/apis/example.com/v1/namespaces/default/plains', { metadata: { name: 'p' }, spec: { size: 1 }, status: { ready: true } })).body;
    expect(r.status).toEqual({ ready: true });
    expect((await t.c.call('GET', '/apis/example.com/v1/namespaces/default/plains/p/status')).status).toBe(404);
  });
});

describe('several versions', () => {
  it('serves every served version of one stored object, converting with strategy None (apiVersion only)', async () => {
    const schema = { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { n: { type: 'integer' } } } } } };
    const crd = widgetCrd([
      { name: 'v1', served: true, storage: true, schema },
      { name: 'v1beta1', served: true, storage: false, schema },
    ]);
    await establishedCrd({ ...crd, metadata: { name: 'gizmos.example.com' }, spec: { ...crd.spec, names: { plural: 'gizmos', kind: 'Gizmo' } } });
    await t.c.call('POST', '/apis/example.com/v1beta1/namespaces/default/gizmos', { apiVersion: 'example.com/v1beta1', kind: 'Gizmo', metadata: { name: 'g' }, spec: { n: 1 } });
    const v1 = (await t.c.call('GET', '/apis/example.com/v1/namespaces/default/gizmos/g')).body;
    expect(v1).toMatchObject({ apiVersion: 'example.com/v1', spec: { n: 1 } });
    expect((await t.c.call('GET', '/apis/example.com')).body.versions.map((v: { version: string }) => v.version)).toEqual(['v1', 'v1beta1']);
  });
});
