/**
 * EdgeX import and export at a site, over real HTTP against a real hub
 * (SQLite stores): the fixtures of core/edgex import, a second import changes
 * nothing, a dry run writes nothing, any problem is a 400 with every problem
 * and nothing written, what only the platform holds survives an import, the
 * export reads back as what the hub holds, who may call which, and a write
 * that fails part way is undone.
 */
import type { Static } from 'typebox';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { EDGEX_NAME_ANNOTATION, parseEdgeXFiles, type EdgeXProblem } from '../../edgex/index.ts';
import type { Resource } from '../../store/index.ts';
import { brokenEdgeXFixtures, edgexFixtures } from '../../../test/support/edgex-files.ts';
import { startHubFixture, type HubFixture } from '../../../test/support/hub-fixture.ts';
import { sqliteBackend, startTestHub, type Backend } from '../../../test/support/hub/harness.ts';
import type * as Wire from '../api-types.ts';
import type { EdgeXExportSchema, EdgeXImportBody, EdgeXImportResultSchema, EdgeXProblemSchema } from './edgex.ts';

const SITE = 'plant-x';
const OTHER = 'plant-y';
const GOOD = edgexFixtures();
const BROKEN = brokenEdgeXFixtures();

let f: HubFixture;
let viewer: string;
let agent: string;

const importAt = (site: string, body: unknown, token?: string) => f.api<Wire.EdgeXImportResult & Wire.ErrorBody>('POST', `/api/v1/sites/${site}/edgex/import`, body, token);
const names = (refs: readonly Wire.EdgeXImportedRef[]): string[] => refs.map((r) => `${r.kind}/${r.name}`).sort();
const all = async (): Promise<Resource[]> => {
  const [p, d] = await Promise.all([f.hub.store.list('DeviceProfile'), f.hub.store.list('Device')]);
  return [...p.items, ...d.items];
};

beforeAll(async () => {
  f = await startHubFixture();
  for (const s of [SITE, OTHER]) await f.apply({ kind: 'Site', metadata: { name: s }, spec: {} });
  viewer = (await f.api<{ token: string }>('POST', '/api/v1/tokens', { role: 'viewer' })).body.token;
  agent = await f.agentToken(SITE);
}, 30_000);

afterAll(async () => {
  await f?.hub.close();
});

describe('POST /api/v1/sites/:site/edgex/import', () => {
  it('says what a dry run would create and writes nothing; then creates every profile and device; then changes nothing', async () => {
    const expected = parseEdgeXFiles(GOOD, { site: SITE });
    const want = [...expected.profiles, ...expected.devices].map((r) => `${r.kind}/${r.metadata.name}`).sort();
    expect(want.length).toBe(20);

    const dry = await importAt(SITE, { files: GOOD, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body.dryRun).toBe(true);
    expect(names(dry.body.created)).toEqual(want);
    expect(await all()).toEqual([]);

    const done = await importAt(SITE, { files: GOOD });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(names(done.body.created)).toEqual(want);
    expect(done.body.updated).toEqual([]);
    expect(done.body.files.find((x) => x.name === 'mqtt.profile.yaml')).toEqual({ name: 'mqtt.profile.yaml', kind: 'profile', version: 'v2' });
    expect(done.body.created.find((r) => r.name === 'power-meter-1-hall')).toEqual({ kind: 'Device', name: 'power-meter-1-hall', edgexName: 'Power Meter #1 (Hall)', file: 'devices.request.json', path: '[0].device' });
    // As the hub answers them through its resource API.
    const meter = await f.api<Resource>('GET', '/api/v1/devices/power-meter-1-hall');
    expect(meter.body.metadata.annotations?.[EDGEX_NAME_ANNOTATION]).toBe('Power Meter #1 (Hall)');
    expect(meter.body.spec).toMatchObject({ site: SITE, profile: 'power-meter', adminState: 'LOCKED' });

    const again = await importAt(SITE, { files: GOOD });
    expect(again.status).toBe(200);
    expect(again.body.created).toEqual([]);
    expect(again.body.updated).toEqual([]);
    expect(names(again.body.unchanged)).toEqual(want);
  });

  it('keeps what only the platform holds when it replaces a device, and updates what the file changed', async () => {
    const before = (await f.hub.store.get<Resource<Record<string, unknown>>>('Device', 'coolbridge-tcp-01'))!;
    await f.hub.store.apply({ ...before, metadata: { ...before.metadata, labels: { zone: 'roof' } }, spec: { ...before.spec, desired: { Temperature: 21.5 }, driftPolicy: { '*': 'report' } } });
    const list = GOOD.find((x) => x.name === 'modbus.devices.yaml')!;
    const unchanged = await importAt(SITE, { files: [list] });
    expect(names(unchanged.body.unchanged)).toEqual(['Device/coolbridge-rtu-01', 'Device/coolbridge-tcp-01', 'Device/modbus-tcp-read-string']);

    const changed = { name: list.name, content: list.content.replace('interval: 1s', 'interval: 2s') };
    const dry = await importAt(SITE, { files: [changed], dryRun: true });
    expect(names(dry.body.updated)).toEqual(['Device/coolbridge-tcp-01']);
    expect((await f.hub.store.get<Resource<{ autoEvents: { interval: string }[] }>>('Device', 'coolbridge-tcp-01'))!.spec.autoEvents[0]!.interval).toBe('1s');
    const done = await importAt(SITE, { files: [changed] });
    expect(names(done.body.updated)).toEqual(['Device/coolbridge-tcp-01']);
    const after = (await f.hub.store.get<Resource<Record<string, unknown>>>('Device', 'coolbridge-tcp-01'))!;
    expect(after.metadata.labels).toEqual({ zone: 'roof' });
    expect(after.spec).toMatchObject({ desired: { Temperature: 21.5 }, driftPolicy: { '*': 'report' }, autoEvents: [{ interval: '2s', onChange: false, sourceName: 'HVACValues' }] });
    await importAt(SITE, { files: [list] });
  });

  it('answers 400 with every problem of every file, each with its file and field, and writes nothing', async () => {
    const before = await all();
    const r = await f.api<Wire.ErrorBody & { details: { problems: EdgeXProblem[] } }>('POST', `/api/v1/sites/${SITE}/edgex/import`, { files: [...GOOD, ...BROKEN] });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('EDGE_ERR_EDGEX_FILES');
    const want = parseEdgeXFiles([...GOOD, ...BROKEN], { site: SITE, existing: { profiles: before.filter((x) => x.kind === 'DeviceProfile'), devices: before.filter((x) => x.kind === 'Device') } }).problems;
    expect(want.length).toBeGreaterThanOrEqual(25);
    expect(r.body.details.problems).toEqual(want);
    expect(r.body.message).toContain("pumps.devices.yaml: deviceList[1].name: 'pump_1' and 'Pump-1'");
    expect(await all()).toEqual(before);
  });

  it('refuses a device the hub holds at another site, naming the file and field, and a site it does not know', async () => {
    const r = await f.api<Wire.ErrorBody & { details: { problems: EdgeXProblem[] } }>('POST', `/api/v1/sites/${OTHER}/edgex/import`, { files: GOOD.filter((x) => x.name === 'mqtt.devices.yaml') });
    expect(r.status).toBe(400);
    expect(r.body.details.problems).toEqual([
      { file: 'mqtt.devices.yaml', field: 'deviceList[0].name', message: `Device 'mqtt-test-device' is at site '${SITE}': a device belongs to one site (delete it there first)` },
    ]);
    const gone = await importAt('nowhere', { files: GOOD });
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe('EDGE_ERR_HUB_NOT_FOUND');
  });

  it('lets only admins import: viewers and agents are refused before anything is read', async () => {
    const body = { files: GOOD, dryRun: true };
    expect((await importAt(SITE, body, viewer)).status).toBe(403);
    expect((await importAt(SITE, body, agent)).status).toBe(403);
    expect((await importAt(SITE, body, 'edgeadm_nobody_0000')).status).toBe(401);
  });
});

describe('GET /api/v1/sites/:site/edgex/export', () => {
  it("gives the site's devices and their profiles as EdgeX files that read back as what the hub holds", async () => {
    for (const encoding of ['yaml', 'json'] as const) {
      const r = await f.api<Wire.EdgeXExportResult>('GET', `/api/v1/sites/${SITE}/edgex/export?encoding=${encoding}`, undefined, viewer);
      expect(r.status).toBe(200);
      expect(r.body.files.at(-1)!.name).toBe(`devices/devices.${encoding}`);
      expect(r.body.notes).toEqual(["Device 'coolbridge-tcp-01': metadata.labels are the platform's alone (EdgeX labels are a device's or profile's own list): not written", "Device 'coolbridge-tcp-01': spec.desired is the platform's alone (EdgeX has no field for it): not written", "Device 'coolbridge-tcp-01': spec.driftPolicy is the platform's alone (EdgeX has no field for it): not written"]);
      const back = parseEdgeXFiles(r.body.files, { site: SITE });
      expect(back.problems).toEqual([]);
      const held = new Map((await all()).map((x) => [`${x.kind}/${x.metadata.name}`, x]));
      for (const x of [...back.profiles, ...back.devices]) {
        const h = held.get(`${x.kind}/${x.metadata.name}`)!;
        const { desired: _d, driftPolicy: _p, ...spec } = h.spec as Record<string, unknown>;
        expect(x.spec, x.metadata.name).toEqual(spec);
        expect(x.metadata.annotations, x.metadata.name).toEqual(h.metadata.annotations);
      }
      expect(back.devices.length).toBe(11);
    }
  });

  it('answers operators only, and a site with no devices with no files', async () => {
    expect((await f.api('GET', `/api/v1/sites/${SITE}/edgex/export`, undefined, agent)).status).toBe(403);
    const empty = await f.api<Wire.EdgeXExportResult>('GET', `/api/v1/sites/${OTHER}/edgex/export`);
    expect(empty.body).toEqual({ files: [], notes: [] });
  });
});

describe('a write that fails part way', () => {
  it('is undone: what was written before it goes back to what it was', async () => {
    const failing: Backend = {
      name: 'sqlite, failing on one Device',
      validates: true,
      open(dir, metrics, logger) {
        const opened = sqliteBackend.open(dir, metrics, logger);
        const store = new Proxy(opened.store, {
          get(target, prop) {
            if (prop === 'apply') {
              return (obj: Resource) => {
                if (obj.kind === 'Device' && obj.metadata.name === 'random-float-device') return Promise.reject(new Error('disk full'));
                return target.apply(obj);
              };
            }
            const v = Reflect.get(target, prop) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        });
        return { ...opened, store };
      },
    };
    const hub = await startTestHub({ backend: failing });
    try {
      const r = await hub.call('POST', '/api/v1/sites/plant-a/edgex/import', { body: { files: GOOD } });
      expect(r.statusCode).toBe(500);
      const profiles = (await hub.store.list('DeviceProfile')).items.map((p) => p.metadata.name);
      const devices = (await hub.store.list('Device')).items.map((d) => d.metadata.name);
      // The harness's own objects only: every profile and device the import had written is gone again.
      expect(profiles).toEqual(['thermo']);
      expect(devices.sort()).toEqual(['pump-a', 'pump-b']);
    } finally {
      await hub.close();
    }
  });
});

describe('wire types', () => {
  it('are the Static of the route schemas', () => {
    expectTypeOf<Wire.EdgeXImportBody>().toEqualTypeOf<Static<typeof EdgeXImportBody>>();
    expectTypeOf<Wire.EdgeXImportResult>().toEqualTypeOf<Static<typeof EdgeXImportResultSchema>>();
    expectTypeOf<Wire.EdgeXExportResult>().toEqualTypeOf<Static<typeof EdgeXExportSchema>>();
    expectTypeOf<Wire.EdgeXProblemOut>().toEqualTypeOf<Static<typeof EdgeXProblemSchema>>();
    expectTypeOf<Wire.EdgeXProblemOut>().toEqualTypeOf<EdgeXProblem>();
  });
});
