// Test plugin: appends readings at a fixed rate through the site's reading sink,
// round-robin over N devices, each reading's value its per-device counter.
import { definePlugin, nowOrigin, readingSinkRef, Type } from '../../../../core/sdk/index.ts';

export default definePlugin({
  id: 'load-gen',
  version: '1.0.0',
  engine: '^0.1.0',
  configSchema: Type.Object({
    devices: Type.Integer({ minimum: 1, default: 10 }),
    ratePerSecond: Type.Integer({ minimum: 1, default: 1000 }),
    tickMs: Type.Integer({ minimum: 1, default: 10 }),
    /** At most this many readings per tick (one append call). */
    maxBatch: Type.Integer({ minimum: 1, default: 5000 }),
    /** Stop after this many readings in total (0 = never). */
    total: Type.Integer({ minimum: 0, default: 0 }),
    /** Device names are `<prefix><n>` (Device names are unique across sites). */
    prefix: Type.String({ minLength: 1, maxLength: 40, default: 'load-' }),
  }),
  consumes: [readingSinkRef],
  register(ctx) {
    const sink = ctx.get(readingSinkRef);
    const { devices, ratePerSecond, tickMs, total, maxBatch, prefix } = ctx.config;
    const counters = new Array<number>(devices).fill(0);
    let emitted = 0;
    let next = 0;
    const started = performance.now();
    const timer = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * ratePerSecond);
      let n = due - emitted;
      if (total > 0) n = Math.min(n, total - emitted);
      n = Math.min(n, maxBatch);
      if (n <= 0) return;
      const origin = nowOrigin();
      const batch = [];
      for (let i = 0; i < n; i++) {
        const d = next;
        next = (next + 1) % devices;
        counters[d] = (counters[d] ?? 0) + 1;
        batch.push({ device: `${prefix}${d}`, profile: 'load', resource: 'counter', value: counters[d], valueType: 'Uint32' as const, origin: origin + i, quality: 'good' as const });
      }
      sink.append(batch);
      emitted += n;
    }, tickMs);
    ctx.onStop(() => clearInterval(timer));
  },
});
