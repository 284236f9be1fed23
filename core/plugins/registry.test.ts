import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createServiceRef, definePlugin, Type } from '../sdk/index.ts';
import { startTestKernel, type TestKernel } from '../sdk/testkit/index.ts';
import { discoverPlugins, type InstanceSpec } from './index.ts';
import { betaRef } from './fixtures/refs.ts';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const discovery = { builtinDir: null, searchPaths: [fixtures], nodeModules: [] };
const healthy: InstanceSpec[] = [
  { plugin: 'alpha', site: 's1' },
  { plugin: 'beta', site: 's1' },
];

const running: TestKernel[] = [];
async function start(instances: InstanceSpec[], extra: Parameters<typeof startTestKernel>[0] = {}): Promise<TestKernel> {
  const tk = await startTestKernel({ discovery, instances: [...healthy, ...instances], ...extra });
  running.push(tk);
  return tk;
}
afterEach(async () => {
  for (const tk of running.splice(0)) await tk.stop().catch(() => undefined);
});

function expectHealthyRunning(tk: TestKernel): void {
  expect(tk.status('alpha@s1').state).toBe('running');
  expect(tk.status('beta@s1').state).toBe('running');
  expect(tk.get(betaRef, 's1').relay()).toBe('hello beta from alpha@s1');
}

function codes(tk: TestKernel): string[] {
  return tk.problems.map((p) => p.code);
}

describe('discovery', () => {
  it('reads manifests without running plugin code and reports broken ones', () => {
    const { manifests, problems } = discoverPlugins(discovery);
    const ids = manifests.map((m) => m.id);
    expect(ids).toContain('alpha');
    // throws-on-load would have thrown if discovery imported it.
    expect(ids).toContain('throws-on-load');
    expect(manifests.find((m) => m.id === 'beta')).toMatchObject({ source: 'path', dependencies: ['alpha'], version: '1.0.0' });
    const broken = problems.map((p) => ({ code: p.code, message: p.message }));
    expect(broken).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: 'EDGE_ERR_PLUGIN_MANIFEST', message: expect.stringMatching(/broken-manifest.*edgeadm\.role/) }),
        expect.objectContaining({ code: 'EDGE_ERR_PLUGIN_MANIFEST', message: expect.stringMatching(/broken-manifest.*edgeadm\.entry is required/) }),
        expect.objectContaining({ code: 'EDGE_ERR_PLUGIN_MANIFEST', message: expect.stringMatching(/not a semver range/) }),
        expect.objectContaining({ code: 'EDGE_ERR_PLUGIN_MANIFEST', message: expect.stringMatching(/broken-json.*not valid JSON/) }),
      ]),
    );
  });
});

describe('plugin registry', () => {
  it('starts plugins in dependency order with per-site service scopes', async () => {
    const tk = await start([
      { plugin: 'alpha', site: 's2' },
      { plugin: 'beta', site: 's2' },
    ]);
    // The fixture folder holds broken packages; none of them concerns these instances.
    expect(tk.problems.filter((p) => (p.params as { plugin?: string }).plugin !== undefined && ['alpha', 'beta'].includes((p.params as { plugin: string }).plugin))).toEqual([]);
    expect(new Set(codes(tk))).toEqual(new Set(['EDGE_ERR_PLUGIN_MANIFEST', 'EDGE_ERR_PLUGIN_DUPLICATE', 'EDGE_ERR_PLUGIN_ENGINE']));
    expectHealthyRunning(tk);
    expect(tk.get(betaRef, 's2').relay()).toBe('hello beta from alpha@s2');
    expect(tk.status('beta@s2').dependsOn).toEqual(['alpha@s2']);
  });

  const cases: { name: string; instances: InstanceSpec[]; code: string; instance: string; state: string; message: RegExp }[] = [
    { name: 'a broken manifest', instances: [{ plugin: 'broken-manifest' }], code: 'EDGE_ERR_PLUGIN_NOT_FOUND', instance: 'broken-manifest', state: 'invalid', message: /broken-manifest/ },
    { name: 'a duplicate id', instances: [{ plugin: 'dup' }], code: 'EDGE_ERR_PLUGIN_DUPLICATE', instance: 'dup', state: 'invalid', message: /dup-one.*dup-two/ },
    { name: 'a missing plugin dependency', instances: [{ plugin: 'missing-dep' }], code: 'EDGE_ERR_PLUGIN_DEP_MISSING', instance: 'missing-dep', state: 'invalid', message: /needs plugin 'not-installed'/ },
    { name: 'a missing service', instances: [{ plugin: 'missing-service' }], code: 'EDGE_ERR_PLUGIN_DEP_MISSING', instance: 'missing-service', state: 'invalid', message: /needs service 'fixture.nowhere'/ },
    { name: 'a cycle', instances: [{ plugin: 'cycle-x' }, { plugin: 'cycle-y' }], code: 'EDGE_ERR_PLUGIN_DEP_CYCLE', instance: 'cycle-x', state: 'invalid', message: /cycle-x -> cycle-y -> cycle-x|cycle-y -> cycle-x -> cycle-y/ },
    { name: 'an engine mismatch', instances: [{ plugin: 'engine-mismatch' }], code: 'EDGE_ERR_PLUGIN_ENGINE', instance: 'engine-mismatch', state: 'invalid', message: /needs edgeadm >=99, this is 0\.1\.0/ },
    { name: 'an entry that throws on import', instances: [{ plugin: 'throws-on-load' }], code: 'EDGE_ERR_PLUGIN_LOAD', instance: 'throws-on-load', state: 'invalid', message: /cannot initialise native binding/ },
    { name: 'a definition that disagrees with its manifest', instances: [{ plugin: 'mismatch' }], code: 'EDGE_ERR_PLUGIN_MANIFEST_MISMATCH', instance: 'mismatch', state: 'invalid', message: /version '1\.0\.0'.*'2\.0\.0'/ },
    { name: 'config that fails its schema', instances: [{ plugin: 'configured', site: 'p1', config: { port: 'eighty', mode: 'turbo', colour: 'red' } }], code: 'EDGE_ERR_PLUGIN_CONFIG', instance: 'configured@p1', state: 'invalid', message: /port must be integer; mode must be one of 'fast', 'safe'; colour is not a known field/ },
    { name: 'a start that throws', instances: [{ plugin: 'start-fails' }], code: 'EDGE_ERR_PLUGIN_START', instance: 'start-fails', state: 'failed', message: /device bus unavailable/ },
    { name: 'a planned plugin', instances: [{ plugin: 'planned' }], code: 'EDGE_ERR_PLUGIN_NOT_AVAILABLE', instance: 'planned', state: 'invalid', message: /stage 'planned'/ },
  ];
  for (const c of cases) {
    it(`isolates ${c.name}: coded error, healthy plugins still run`, async () => {
      const tk = await start(c.instances);
      expect(codes(tk)).toContain(c.code);
      const status = tk.status(c.instance);
      expect(status.state).toBe(c.state);
      expect(status.error?.code ?? '').toMatch(/^EDGE_ERR_PLUGIN_/);
      const problem = tk.problems.find((p) => p.code === c.code);
      expect(problem?.message).toMatch(c.message);
      expectHealthyRunning(tk);
    });
  }

  it('reports every problem at once, before starting anything', async () => {
    const order: string[] = [];
    const probe = definePlugin({ id: 'probe', version: '1.0.0', engine: '^0.1.0', register: () => void order.push('probe') });
    const tk = await startTestKernel({
      discovery,
      plugins: [probe],
      instances: [
        { plugin: 'engine-mismatch' },
        { plugin: 'missing-dep' },
        { plugin: 'cycle-x' },
        { plugin: 'cycle-y' },
        { plugin: 'configured', config: {} },
        { plugin: 'nope' },
      ],
    });
    running.push(tk);
    const all = codes(tk);
    for (const code of ['EDGE_ERR_PLUGIN_ENGINE', 'EDGE_ERR_PLUGIN_DEP_MISSING', 'EDGE_ERR_PLUGIN_DEP_CYCLE', 'EDGE_ERR_PLUGIN_CONFIG', 'EDGE_ERR_PLUGIN_NOT_FOUND', 'EDGE_ERR_PLUGIN_MANIFEST', 'EDGE_ERR_PLUGIN_DUPLICATE']) {
      expect(all).toContain(code);
    }
    // Every problem names its plugin.
    for (const p of tk.problems) expect(p.params).toHaveProperty('plugin');
    expect(order).toEqual(['probe']);
    expect(tk.status('probe').state).toBe('running');
  });

  it('gives each site instance its own validated, defaulted, frozen config and logger', async () => {
    const seen: { site: string | undefined; config: unknown; frozen: boolean }[] = [];
    const sited = definePlugin({
      id: 'sited',
      version: '1.0.0',
      engine: '^0.1.0',
      configSchema: Type.Object({ port: Type.Integer(), tags: Type.Array(Type.String(), { default: [] }) }),
      register(ctx) {
        seen.push({ site: ctx.site, config: ctx.config, frozen: Object.isFrozen(ctx.config) && Object.isFrozen(ctx.config.tags) });
        ctx.logger.info({ password: 'hunter2', nested: { token: 'abc.def' } }, 'hello');
      },
    });
    const tk = await startTestKernel({
      plugins: [
        { plugin: sited, site: 'plant-a', config: { port: 502 } },
        { plugin: sited, site: 'plant-b', config: { port: 1502, tags: ['x'] } },
      ],
    });
    running.push(tk);
    expect(seen.sort((a, b) => String(a.site).localeCompare(String(b.site)))).toEqual([
      { site: 'plant-a', config: { port: 502, tags: [] }, frozen: true },
      { site: 'plant-b', config: { port: 1502, tags: ['x'] }, frozen: true },
    ]);
    const hello = tk.logs.filter((l) => l.msg === 'hello');
    expect(hello.map((l) => l.site).sort()).toEqual(['plant-a', 'plant-b']);
    expect(hello.every((l) => l.plugin === 'sited')).toBe(true);
    expect(JSON.stringify(hello)).not.toContain('hunter2');
    expect(JSON.stringify(hello)).not.toContain('abc.def');
  });

  it('rejects the same instance configured twice', async () => {
    const p = definePlugin({ id: 'twice', version: '1.0.0', engine: '^0.1.0', register() {} });
    const tk = await startTestKernel({ plugins: [{ plugin: p, site: 'a' }], instances: [{ plugin: 'twice', site: 'a' }] });
    running.push(tk);
    expect(codes(tk)).toContain('EDGE_ERR_PLUGIN_INSTANCE_DUPLICATE');
    expect(tk.status('twice@a').state).toBe('running');
  });

  it('stops in reverse dependency order and blocks dependents of a failed start', async () => {
    const events: string[] = [];
    const baseRef = createServiceRef<number>({ id: 'fixture.base' });
    const brokenRef = createServiceRef<number>({ id: 'fixture.broken' });
    const base = definePlugin({
      id: 'base', version: '1.0.0', engine: '^0.1.0', provides: [baseRef],
      register(ctx) {
        events.push('start base');
        ctx.provide(baseRef, 1);
        ctx.onStop(() => void events.push('stop base'));
      },
    });
    const mid = definePlugin({
      id: 'mid', version: '1.0.0', engine: '^0.1.0', consumes: [baseRef],
      register(ctx) {
        events.push(`start mid ${ctx.get(baseRef)}`);
        ctx.onStop(() => void events.push('stop mid'));
      },
    });
    const broken = definePlugin({
      id: 'broken', version: '1.0.0', engine: '^0.1.0', provides: [brokenRef],
      register() {
        throw new Error('no');
      },
    });
    const dependent = definePlugin({ id: 'dependent', version: '1.0.0', engine: '^0.1.0', consumes: [brokenRef], register: () => void events.push('start dependent') });
    const tk = await startTestKernel({ plugins: [mid, dependent, base, broken] });
    expect(tk.status('broken').state).toBe('failed');
    expect(tk.status('dependent')).toMatchObject({ state: 'blocked', error: { code: 'EDGE_ERR_PLUGIN_DEP_FAILED' } });
    await tk.stop();
    expect(events).toEqual(['start base', 'start mid 1', 'stop mid', 'stop base']);
    expect(tk.status('mid').state).toBe('stopped');
  });

  it('fails a plugin that does not provide what it declares', async () => {
    const ref = createServiceRef<number>({ id: 'fixture.promised' });
    const liar = definePlugin({ id: 'liar', version: '1.0.0', engine: '^0.1.0', provides: [ref], register() {} });
    const tk = await startTestKernel({ plugins: [liar] });
    running.push(tk);
    expect(tk.status('liar')).toMatchObject({ state: 'failed', error: { code: 'EDGE_ERR_PLUGIN_PROVIDES_MISSING' } });
  });

  it('times out a start, names the plugin, and releases what it created even after the timeout', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const tk = await start([{ plugin: 'slow' }], { startTimeoutMs: 100 });
    expect(tk.status('slow')).toMatchObject({ state: 'failed', error: { code: 'EDGE_ERR_PLUGIN_START_TIMEOUT' } });
    expect(tk.problems.find((p) => p.code === 'EDGE_ERR_PLUGIN_START_TIMEOUT')?.message).toMatch(/plugin 'slow'.*within 100 ms/);
    expectHealthyRunning(tk);
    await new Promise((r) => setTimeout(r, 150));
    await tk.stop();
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(after).toBeLessThanOrEqual(before);
  });

  it('keeps stopping the others when a stop throws, and shows the coded error', async () => {
    const tk = await startTestKernel({ discovery, instances: [...healthy, { plugin: 'stop-throws' }] });
    expect(tk.status('stop-throws').state).toBe('running');
    await expect(tk.stop()).rejects.toMatchObject({ code: 'EDGE_ERR_KERNEL_STOP' });
    expect(tk.status('stop-throws')).toMatchObject({ state: 'failed', error: { code: 'EDGE_ERR_PLUGIN_STOP', message: expect.stringMatching(/disk on fire/) } });
    expect(tk.status('alpha@s1').state).toBe('stopped');
    expect(tk.status('beta@s1').state).toBe('stopped');
  });

  it('aborts the whole start when a plugin with failure policy abort fails', async () => {
    const events: string[] = [];
    const first = definePlugin({ id: 'first', version: '1.0.0', engine: '^0.1.0', register: (ctx) => ctx.onStop(() => void events.push('stop first')) });
    const critical = definePlugin({
      id: 'critical', version: '1.0.0', engine: '^0.1.0', dependencies: ['first'],
      register() {
        throw new Error('cannot open bus');
      },
    });
    const err = await startTestKernel({ plugins: [first, { plugin: critical, failurePolicy: 'abort' }] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EDGE_ERR_KERNEL_COMPONENT_START', cause: { code: 'EDGE_ERR_PLUGIN_ABORT' } });
    expect(events).toEqual(['stop first']);
  });

  it('leaves no open handles after shutdown', async () => {
    const kinds = (): string[] => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap').sort();
    const before = kinds();
    const serverPlugin = definePlugin({
      id: 'server', version: '1.0.0', engine: '^0.1.0',
      async register(ctx) {
        const server = createServer((s) => s.end());
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        ctx.onStop(() => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))));
        const timer = setInterval(() => undefined, 10);
        ctx.onStop(() => clearInterval(timer));
      },
    });
    const tk = await startTestKernel({ plugins: [{ plugin: serverPlugin, site: 'a' }, { plugin: serverPlugin, site: 'b' }] });
    expect(kinds().filter((k) => k === 'TCPServerWrap').length).toBeGreaterThanOrEqual(2);
    await tk.stop();
    // libuv runs close callbacks after the check phase: two turns release closed handles.
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(kinds()).toEqual(before);
  });
});
