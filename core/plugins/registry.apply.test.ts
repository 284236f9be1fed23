/**
 * One instance reconciled at a time: `PluginRegistry.apply` starts what is
 * new, stops what is gone, restarts what changed and its dependants, and
 * leaves everything else running. Each plugin here counts its own starts and
 * stops, so a test sees exactly which instances were touched.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createError, createLogger, EDGEADM_VERSION, ServiceScope } from '../kernel/index.ts';
import { createServiceRef, definePlugin, Type } from '../sdk/index.ts';
import { PluginRegistry, type InstanceSpec, type PluginContext, type PluginDefinition } from './index.ts';

const busRef = createServiceRef<{ name: string; generation: number }>({ id: 'test.bus' });
const hostRef = createServiceRef<{ name: string }>({ id: 'test.host-service' });

type Events = string[];

/** A plugin that logs `start:<instance>:<config>` and `stop:<instance>` into `events`. */
function counting(id: string, events: Events, extra: Partial<Parameters<typeof definePlugin>[0]> = {}): PluginDefinition {
  return definePlugin({
    id,
    version: '1.0.0',
    engine: '*',
    configSchema: Type.Object({ n: Type.Optional(Type.Integer()), fail: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
    ...extra,
    async register(ctx) {
      const cfg = ctx.config as { n?: number; fail?: boolean };
      events.push(`start:${ctx.instanceId}:${cfg.n ?? 0}`);
      if (cfg.fail) throw new Error(`configured to fail`);
      ctx.onStop(() => {
        events.push(`stop:${ctx.instanceId}`);
      });
      await extra.register?.(ctx);
    },
  });
}

/** The `bus` plugin: provides busRef with the generation `next()` gives at each start. */
function busProvider(events: Events, next: () => number = () => 0): PluginDefinition {
  return counting('bus', events, {
    provides: [busRef],
    register(ctx) {
      ctx.provide(busRef, { name: ctx.instanceId, generation: next() });
    },
  });
}

const registries: PluginRegistry[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.stop();
});

function registry(inline: PluginDefinition[], services = ServiceScope.root()): PluginRegistry {
  const r = new PluginRegistry({
    kernelVersion: EDGEADM_VERSION,
    logger: createLogger({ level: 'silent' }),
    services,
    discovery: false,
    inline,
  });
  registries.push(r);
  return r;
}

function states(r: PluginRegistry): Record<string, string> {
  return Object.fromEntries(r.status().map((s) => [s.instance, s.state]));
}

describe('PluginRegistry.apply', () => {
  it('adds, updates and removes single instances and leaves the others running', async () => {
    const events: Events = [];
    const r = registry([counting('a', events), counting('b', events), counting('c', events)]);
    const first = await r.apply([
      { plugin: 'a', site: 's1' },
      { plugin: 'b', site: 's1' },
    ]);
    expect(first.added.sort()).toEqual(['a@s1', 'b@s1']);
    expect(events.sort()).toEqual(['start:a@s1:0', 'start:b@s1:0']);

    events.length = 0;
    const added = await r.apply([
      { plugin: 'a', site: 's1' },
      { plugin: 'b', site: 's1' },
      { plugin: 'c', site: 's1' },
    ]);
    expect(added).toMatchObject({ added: ['c@s1'], updated: [], removed: [], restarted: [] });
    expect(added.unchanged.sort()).toEqual(['a@s1', 'b@s1']);
    expect(events).toEqual(['start:c@s1:0']);

    events.length = 0;
    const updated = await r.apply([
      { plugin: 'a', site: 's1' },
      { plugin: 'b', site: 's1' },
      { plugin: 'c', site: 's1', config: { n: 2 } },
    ]);
    expect(updated).toMatchObject({ added: [], updated: ['c@s1'], removed: [], restarted: [] });
    expect(events).toEqual(['stop:c@s1', 'start:c@s1:2']);

    events.length = 0;
    const removed = await r.apply([
      { plugin: 'a', site: 's1' },
      { plugin: 'b', site: 's1' },
    ]);
    expect(removed).toMatchObject({ added: [], updated: [], removed: ['c@s1'], restarted: [] });
    expect(events).toEqual(['stop:c@s1']);
    expect(states(r)).toEqual({ 'a@s1': 'running', 'b@s1': 'running' });

    // The same set again, with config keys in another order, touches nothing.
    events.length = 0;
    const same = await r.apply([
      { plugin: 'b', site: 's1', config: {} },
      { plugin: 'a', site: 's1' },
    ]);
    expect(same.unchanged.sort()).toEqual(['a@s1', 'b@s1']);
    expect(events).toEqual([]);
  });

  it("runs an instance's onRemove after its teardown when it is removed for good, never on a config change or a stop", async () => {
    const events: Events = [];
    const lasting = counting('lasting', events, {
      register(ctx) {
        ctx.onRemove(() => {
          events.push(`remove:${ctx.instanceId}:${(ctx.config as { n?: number }).n ?? 0}`);
        });
      },
    });
    const r = registry([lasting]);
    await r.apply([{ plugin: 'lasting', site: 's1' }, { plugin: 'lasting', site: 's2' }]);
    events.length = 0;
    // A new config restarts it: what it made outside stays for the new instance.
    await r.apply([{ plugin: 'lasting', site: 's1', config: { n: 1 } }, { plugin: 'lasting', site: 's2' }]);
    expect(events).toEqual(['stop:lasting@s1', 'start:lasting@s1:1']);
    events.length = 0;
    const removed = await r.apply([{ plugin: 'lasting', site: 's2' }]);
    expect(removed.removed).toEqual(['lasting@s1']);
    expect(events).toEqual(['stop:lasting@s1', 'remove:lasting@s1:1']);
    events.length = 0;
    await r.stop();
    expect(events).toEqual(['stop:lasting@s2']);
  });

  it('tells an instance the Addon it runs for and whether it is a site half, and restarts it when either changes', async () => {
    const events: Events = [];
    const seen: string[] = [];
    const half = counting('half', events, {
      register(ctx) {
        seen.push(`${ctx.addon ?? '-'}:${ctx.workloadsAsGrid}`);
      },
    });
    const r = registry([half]);
    await r.apply([{ plugin: 'half', site: 's1', addon: 'edgex' }]);
    expect(seen).toEqual(['edgex:false']);
    expect((await r.apply([{ plugin: 'half', site: 's1', addon: 'edgex' }])).unchanged).toEqual(['half@s1']);
    await r.apply([{ plugin: 'half', site: 's1', addon: 'edgex-2', workloadsAsGrid: true }]);
    await r.apply([{ plugin: 'half', site: 's1' }]);
    expect(seen).toEqual(['edgex:false', 'edgex-2:true', '-:false']);
    await r.stop();
  });

  it('restarts the dependants of a changed provider, dependants first on the way down, and nothing else', async () => {
    const events: Events = [];
    let generation = 0;
    const provider = busProvider(events, () => ++generation);
    const seen: number[] = [];
    const consumer = counting('driver', events, {
      consumes: [busRef],
      register(ctx) {
        seen.push(ctx.get(busRef).generation);
      },
    });
    const r = registry([provider, consumer, counting('other', events)]);
    await r.apply([
      { plugin: 'bus', site: 's1' },
      { plugin: 'driver', site: 's1' },
      { plugin: 'bus', site: 's2' },
      { plugin: 'driver', site: 's2' },
      { plugin: 'other', site: 's1' },
    ]);
    events.length = 0;
    const res = await r.apply([
      { plugin: 'bus', site: 's1', config: { n: 7 } },
      { plugin: 'driver', site: 's1' },
      { plugin: 'bus', site: 's2' },
      { plugin: 'driver', site: 's2' },
      { plugin: 'other', site: 's1' },
    ]);
    expect(res.updated).toEqual(['bus@s1']);
    expect(res.restarted).toEqual(['driver@s1']);
    expect(res.unchanged.sort()).toEqual(['bus@s2', 'driver@s2', 'other@s1']);
    // Down: the dependant first; up: the provider first.
    expect(events).toEqual(['stop:driver@s1', 'stop:bus@s1', 'start:bus@s1:7', 'start:driver@s1:0']);
    // The restarted driver got the new bus, not the stopped one.
    expect(seen.at(-1)).toBe(3);
    expect(r.service(busRef, 's1').generation).toBe(3);
    expect(r.service(busRef, 's2').generation).toBe(2);

    // Removing the provider stops its dependant and leaves it blocked with the reason.
    events.length = 0;
    const gone = await r.apply([
      { plugin: 'driver', site: 's1' },
      { plugin: 'bus', site: 's2' },
      { plugin: 'driver', site: 's2' },
      { plugin: 'other', site: 's1' },
    ]);
    expect(gone.removed).toEqual(['bus@s1']);
    expect(events).toEqual(['stop:driver@s1', 'stop:bus@s1']);
    expect(r.status().find((s) => s.instance === 'driver@s1')).toMatchObject({
      state: 'invalid',
      error: { code: 'EDGE_ERR_PLUGIN_DEP_MISSING' },
    });
    expect(states(r)).toMatchObject({ 'bus@s2': 'running', 'driver@s2': 'running', 'other@s1': 'running' });

    // And putting it back starts both again, in order.
    events.length = 0;
    await r.apply([
      { plugin: 'bus', site: 's1' },
      { plugin: 'driver', site: 's1' },
      { plugin: 'bus', site: 's2' },
      { plugin: 'driver', site: 's2' },
      { plugin: 'other', site: 's1' },
    ]);
    expect(events).toEqual(['start:bus@s1:0', 'start:driver@s1:0']);
    expect(states(r)['driver@s1']).toBe('running');
  });

  it('restarts a consumer whose provider resolution changes, e.g. from the site-less provider to its own site', async () => {
    const events: Events = [];
    const provider = busProvider(events);
    const names: string[] = [];
    const consumer = counting('driver', events, {
      consumes: [busRef],
      register(ctx) {
        names.push(ctx.get(busRef).name);
      },
    });
    const r = registry([provider, consumer]);
    await r.apply([{ plugin: 'bus' }, { plugin: 'driver', site: 's1' }]);
    expect(names).toEqual(['bus']);
    events.length = 0;
    const res = await r.apply([{ plugin: 'bus' }, { plugin: 'bus', site: 's1' }, { plugin: 'driver', site: 's1' }]);
    expect(res.added).toEqual(['bus@s1']);
    expect(res.updated).toEqual(['driver@s1']);
    expect(names).toEqual(['bus', 'bus@s1']);
    expect(events).toEqual(['stop:driver@s1', 'start:bus@s1:0', 'start:driver@s1:0']);
  });

  it('keeps a failed instance failed until its spec changes, and starts a blocked one when its dependency is fixed', async () => {
    const events: Events = [];
    const provider = busProvider(events);
    const consumer = counting('driver', events, { consumes: [busRef] });
    const r = registry([provider, consumer, counting('other', events)]);
    await r.apply([
      { plugin: 'bus', site: 's1', config: { fail: true } },
      { plugin: 'driver', site: 's1' },
      { plugin: 'other', site: 's1', config: { fail: true } },
    ]);
    expect(states(r)).toEqual({ 'bus@s1': 'failed', 'driver@s1': 'blocked', 'other@s1': 'failed' });

    events.length = 0;
    const res = await r.apply([
      { plugin: 'bus', site: 's1' },
      { plugin: 'driver', site: 's1' },
      { plugin: 'other', site: 's1', config: { fail: true } },
    ]);
    expect(res.updated.sort()).toEqual(['bus@s1', 'driver@s1']);
    expect(res.unchanged).toEqual(['other@s1']);
    expect(events).toEqual(['start:bus@s1:0', 'start:driver@s1:0']);
    expect(states(r)).toEqual({ 'bus@s1': 'running', 'driver@s1': 'running', 'other@s1': 'failed' });
    // The kept failure is still reported.
    expect(r.problems().map((p) => p.code)).toContain('EDGE_ERR_PLUGIN_START');
    expect(r.status().find((s) => s.instance === 'other@s1')?.error?.message).toMatch(/configured to fail/);
  });

  it('lets a restarted provider provide its service again (what it provided is withdrawn on stop and on a failed start)', async () => {
    const events: Events = [];
    let attempt = 0;
    const flaky = counting('bus', events, {
      provides: [busRef],
      register(ctx) {
        ctx.provide(busRef, { name: ctx.instanceId, generation: ++attempt });
        // Provides, then fails: what it provided must not stay behind.
        if (attempt === 1) throw new Error('failed after providing');
      },
    });
    const services = ServiceScope.root();
    services.provide(hostRef, { name: 'host' });
    const r = registry([flaky], services);
    await r.apply([{ plugin: 'bus', site: 's1' }]);
    expect(states(r)).toEqual({ 'bus@s1': 'failed' });
    expect(() => r.service(busRef, 's1')).toThrow(expect.objectContaining({ code: 'EDGE_ERR_SERVICE_MISSING' }));
    await r.apply([{ plugin: 'bus', site: 's1', config: { n: 1 } }]);
    expect(states(r)).toEqual({ 'bus@s1': 'running' });
    expect(r.service(busRef, 's1').generation).toBe(2);
    await r.apply([{ plugin: 'bus', site: 's1', config: { n: 2 } }]);
    expect(r.service(busRef, 's1').generation).toBe(3);
    expect(r.service(hostRef, 's1').name).toBe('host');
  });

  it('reports validation problems of the new set without touching running instances, and refuses after stop', async () => {
    const events: Events = [];
    const r = registry([counting('a', events), counting('b', events)]);
    await r.apply([{ plugin: 'a', site: 's1' }]);
    events.length = 0;
    const res = await r.apply([
      { plugin: 'a', site: 's1' },
      { plugin: 'b', site: 's1', config: { n: 'x' } },
      { plugin: 'nope', site: 's1' },
    ] as InstanceSpec[]);
    expect(res.problems.map((p) => p.code).sort()).toEqual(['EDGE_ERR_PLUGIN_CONFIG', 'EDGE_ERR_PLUGIN_NOT_FOUND']);
    expect(events).toEqual([]);
    expect(states(r)).toEqual({ 'a@s1': 'running', 'b@s1': 'invalid', 'nope@s1': 'invalid' });
    await r.stop();
    expect(events).toEqual(['stop:a@s1']);
    await expect(r.apply([{ plugin: 'a', site: 's1' }])).rejects.toMatchObject({ code: 'EDGE_ERR_KERNEL_STATE' });
  });

  it('finds a plugin installed after it started, when an instance asks for it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-late-plugin-'));
    try {
      const r = new PluginRegistry({
        kernelVersion: EDGEADM_VERSION,
        logger: createLogger({ level: 'silent' }),
        services: ServiceScope.root(),
        discovery: { builtinDir: null, searchPaths: [dir], nodeModules: [] },
      });
      registries.push(r);
      const first = await r.apply([{ plugin: 'late', site: 's1' }]);
      expect(first.problems.map((p) => p.code)).toEqual(['EDGE_ERR_PLUGIN_NOT_FOUND']);
      const pkg = path.join(dir, 'late');
      mkdirSync(pkg);
      writeFileSync(
        path.join(pkg, 'package.json'),
        JSON.stringify({ name: 'late', version: '1.0.0', type: 'module', edgeadm: { id: 'late', role: 'extension', engine: '*', entry: './index.ts' } }),
      );
      const sdk = pathToFileURL(path.resolve('core/sdk/index.ts')).href;
      writeFileSync(
        path.join(pkg, 'index.ts'),
        `import { definePlugin } from ${JSON.stringify(sdk)};\nexport default definePlugin({ id: 'late', version: '1.0.0', engine: '*', register() {} });\n`,
      );
      const second = await r.apply([{ plugin: 'late', site: 's1' }]);
      expect(second.problems).toEqual([]);
      expect(states(r)).toEqual({ 'late@s1': 'running' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('an instance degraded by its own word', () => {
  const ErrPeerDown = createError('EDGE_ERR_TEST_PEER_DOWN', (p: { peer: string }) => `peer '${p.peer}' does not answer`, { statusCode: 503 });

  it('shows degraded with the cause while running, back to running when cleared, told to onStatus once per change', async () => {
    const events: Events = [];
    const contexts: PluginContext[] = [];
    const heard: string[] = [];
    const r = new PluginRegistry({
      kernelVersion: EDGEADM_VERSION,
      logger: createLogger({ level: 'silent' }),
      services: ServiceScope.root(),
      discovery: false,
      inline: [counting('probe', events, { register: (ctx) => void contexts.push(ctx) })],
      onStatus: (instance) => heard.push(instance),
    });
    registries.push(r);
    await r.apply([{ plugin: 'probe', site: 's1', config: { n: 1 } }]);
    const ctx = contexts[0]!;
    expect(r.status()[0]).toMatchObject({ state: 'running' });

    ctx.setDegraded(new ErrPeerDown({ peer: 'plc-1' }));
    expect(r.status()[0]).toMatchObject({ state: 'degraded', error: { code: 'EDGE_ERR_TEST_PEER_DOWN', message: "peer 'plc-1' does not answer" } });
    // The same cause again (a retry loop) changes nothing and is not told again; another cause is.
    ctx.setDegraded(new ErrPeerDown({ peer: 'plc-1' }));
    expect(heard).toEqual(['probe@s1']);
    ctx.setDegraded(new ErrPeerDown({ peer: 'plc-2' }));
    expect(r.status()[0]?.error?.message).toBe("peer 'plc-2' does not answer");
    ctx.setDegraded(undefined);
    expect(r.status()[0]).toEqual(expect.objectContaining({ state: 'running' }));
    expect(r.status()[0]).not.toHaveProperty('error');
    expect(heard).toEqual(['probe@s1', 'probe@s1', 'probe@s1']);

    // A restart (new config) clears it, and the old start's context no longer speaks for the instance.
    ctx.setDegraded(new ErrPeerDown({ peer: 'plc-1' }));
    await r.apply([{ plugin: 'probe', site: 's1', config: { n: 2 } }]);
    expect(r.status()[0]).toMatchObject({ state: 'running' });
    ctx.setDegraded(new ErrPeerDown({ peer: 'plc-3' }));
    expect(r.status()[0]).toMatchObject({ state: 'running' });
    expect(heard).toHaveLength(4);
    // The new start's context does.
    contexts[1]!.setDegraded(new ErrPeerDown({ peer: 'plc-4' }));
    expect(r.status()[0]).toMatchObject({ state: 'degraded', error: { message: "peer 'plc-4' does not answer" } });
    // A stopped instance says nothing.
    await r.apply([]);
    contexts[1]!.setDegraded(undefined);
    expect(r.status()).toEqual([]);
    expect(heard).toHaveLength(5);
  });
});
