/**
 * The http-json plugin: registers the `http-json` device driver at its site.
 * A small, complete device plugin kept as the example of
 * docs/writing-a-device-plugin.md; see README.md for what it does.
 */
import { definePlugin, driversRef, Type } from 'edgeadm/sdk';
import { createHttpJsonDriver, DEFAULT_OPTIONS } from './src/driver.ts';

export { createHttpJsonDriver } from './src/driver.ts';

export const ConfigSchema = Type.Object(
  {
    /** Request timeout of devices whose protocol block names none. */
    timeoutMs: Type.Integer({ minimum: 10, maximum: 60_000, default: DEFAULT_OPTIONS.timeoutMs }),
    /** Largest answer read from a device; a larger one reads as `bad`. */
    maxResponseBytes: Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024, default: DEFAULT_OPTIONS.maxResponseBytes }),
  },
  { additionalProperties: false, default: {} },
);

export default definePlugin({
  id: 'example.http-json',
  version: '1.0.0',
  engine: '^0.1.0',
  description: 'HTTP devices that answer a GET with JSON: a JSON pointer per resource, writes by PUT',
  configSchema: ConfigSchema,
  consumes: [driversRef],
  register(ctx) {
    const driver = createHttpJsonDriver(ctx.config);
    const unregister = ctx.get(driversRef).register(driver);
    ctx.onStop(async () => {
      unregister();
      await driver.close();
    });
    ctx.logger.info({ timeoutMs: ctx.config.timeoutMs }, 'http-json driver registered');
  },
});
