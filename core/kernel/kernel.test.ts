import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createError, createLogger, createServiceRef, Kernel, ServiceScope, type Component, type Phase } from './index.ts';

function quietLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

function recorder(events: string[], id: string, phase: Phase, extra: Partial<Component> = {}): Component {
  return {
    id,
    phase,
    start: (ctx) => {
      events.push(`start ${id}`);
      ctx.onStop(() => void events.push(`stop ${id}`));
    },
    ...extra,
  };
}

describe('coded errors', () => {
  it('carry code, params, message and cause', () => {
    const ErrX = createError('EDGE_ERR_TEST_X', (p: { name: string }) => `thing '${p.name}' broke`, { statusCode: 409 });
    const cause = new Error('root');
    const e = new ErrX({ name: 'pump-1' }, { cause });
    expect(e).toMatchObject({ code: 'EDGE_ERR_TEST_X', message: "thing 'pump-1' broke", params: { name: 'pump-1' }, statusCode: 409, cause });
    expect(ErrX.is(e)).toBe(true);
    expect(ErrX.is(new Error('x'))).toBe(false);
    expect(e.toJSON()).toEqual({ code: 'EDGE_ERR_TEST_X', message: "thing 'pump-1' broke", params: { name: 'pump-1' }, cause: { code: 'EDGE_ERR_UNEXPECTED', message: 'root' } });
    expect(() => createError('BAD', () => '')).toThrow(/EDGE_ERR_/);
  });
});

describe('service scopes', () => {
  it('resolve up the tree, keep siblings apart, and reject double provision', () => {
    const ref = createServiceRef<{ n: number }>({ id: 'test.counter' });
    const root = ServiceScope.root();
    const a = root.child('a');
    const b = root.child('b');
    a.provide(ref, { n: 1 });
    expect(a.child('a1').get(ref).n).toBe(1);
    expect(() => b.get(ref, 'plugin b')).toThrow(/service 'test.counter' is not available to plugin b/);
    expect(() => a.provide(ref, { n: 2 })).toThrow(expect.objectContaining({ code: 'EDGE_ERR_SERVICE_CONFLICT' }));
    // Refs with the same id are the same service, even from another copy of the SDK.
    expect(a.get(createServiceRef<{ n: number }>({ id: 'test.counter' })).n).toBe(1);
  });

  it('runs a factory once, lazily', () => {
    const ref = createServiceRef<object>({ id: 'test.lazy' });
    const scope = ServiceScope.root();
    let made = 0;
    scope.provideFactory(ref, () => ({ made: ++made }));
    expect(made).toBe(0);
    expect(scope.get(ref)).toBe(scope.get(ref));
    expect(made).toBe(1);
  });

  it('withdraws one provided value, keeps the others and the parent, and lets it be provided anew', () => {
    const ref = createServiceRef<{ n: number }>({ id: 'test.withdrawn' });
    const other = createServiceRef<{ n: number }>({ id: 'test.kept' });
    const lazy = createServiceRef<{ n: number }>({ id: 'test.kept-lazy' });
    const root = ServiceScope.root();
    root.provide(ref, { n: 0 });
    const site = root.child('site');
    const plugin = site.child('plugin');
    site.provide(ref, { n: 1 });
    site.provide(other, { n: 2 });
    site.provideFactory(lazy, () => ({ n: 3 }));
    expect(plugin.get(ref).n).toBe(1);
    expect(site.withdraw(ref)).toBe(true);
    expect(site.withdraw(ref)).toBe(false);
    // The parent's value shows through again; the other registrations are untouched.
    expect(plugin.get(ref).n).toBe(0);
    expect(plugin.get(other).n).toBe(2);
    expect(plugin.get(lazy).n).toBe(3);
    site.provide(ref, { n: 4 });
    expect(plugin.get(ref).n).toBe(4);
    const alone = ServiceScope.root().child('x');
    alone.provide(ref, { n: 5 });
    alone.withdraw(ref);
    expect(() => alone.get(ref, 'plugin x')).toThrow(expect.objectContaining({ code: 'EDGE_ERR_SERVICE_MISSING' }));
  });
});

describe('kernel', () => {
  it('starts phases in order and stops in reverse, whatever the order of add', async () => {
    const events: string[] = [];
    const { logger } = quietLogger();
    const k = new Kernel({ logger, version: '0.1.0' });
    k.add(recorder(events, 'plugins', 'plugins')).add(recorder(events, 'ctl', 'controllers')).add(recorder(events, 'db', 'store')).add(recorder(events, 'tun', 'tunnel'));
    await k.start();
    expect(k.state).toBe('running');
    await k.stop();
    await k.stop();
    expect(events).toEqual(['start db', 'start tun', 'start ctl', 'start plugins', 'stop plugins', 'stop ctl', 'stop tun', 'stop db']);
    expect(k.state).toBe('stopped');
    expect(k.status().every((c) => c.state === 'stopped')).toBe(true);
  });

  it('fails the start on a failing core component and stops what already started', async () => {
    const events: string[] = [];
    const { logger, lines } = quietLogger();
    const k = new Kernel({ logger, version: '0.1.0' });
    k.add(recorder(events, 'db', 'store'));
    k.add({ id: 'tun', phase: 'tunnel', start: () => Promise.reject(new Error('port 443 in use')) });
    k.add(recorder(events, 'late', 'plugins'));
    await expect(k.start()).rejects.toMatchObject({ code: 'EDGE_ERR_KERNEL_COMPONENT_START', message: expect.stringMatching(/'tun'.*port 443 in use/) });
    expect(events).toEqual(['start db', 'stop db']);
    expect(k.state).toBe('failed');
    expect(k.status().find((c) => c.id === 'tun')?.error?.code).toBe('EDGE_ERR_KERNEL_COMPONENT_START');
    expect(lines.some((l) => l.component === 'tun' && l.level === 50)).toBe(true);
  });

  it('times out a start that never finishes and aborts its signal', async () => {
    const { logger } = quietLogger();
    const k = new Kernel({ logger, version: '0.1.0' });
    let aborted = false;
    k.add({
      id: 'stuck',
      phase: 'store',
      startTimeoutMs: 50,
      start: (ctx) =>
        new Promise<void>(() => {
          ctx.signal.addEventListener('abort', () => (aborted = true));
        }),
    });
    await expect(k.start()).rejects.toMatchObject({ cause: { code: 'EDGE_ERR_TIMEOUT' } });
    expect(aborted).toBe(true);
  });

  it('bounds the stop by the shutdown budget and reports the stuck component', async () => {
    const { logger } = quietLogger();
    const k = new Kernel({ logger, version: '0.1.0', shutdownBudgetMs: 50 });
    k.add({ id: 'hang', phase: 'store', start: (ctx) => ctx.onStop(() => new Promise<void>(() => undefined)) });
    await k.start();
    const t0 = Date.now();
    await expect(k.stop()).rejects.toMatchObject({ code: 'EDGE_ERR_KERNEL_STOP', errors: [expect.objectContaining({ code: 'EDGE_ERR_KERNEL_COMPONENT_STOP' })] });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('refuses to add components after start', async () => {
    const { logger } = quietLogger();
    const k = new Kernel({ logger, version: '0.1.0' });
    await k.start();
    expect(() => k.add(recorder([], 'x', 'store'))).toThrow(expect.objectContaining({ code: 'EDGE_ERR_KERNEL_STATE' }));
    await k.stop();
  });
});
