/**
 * The opcua plugin: registers the OPC UA device driver (protocol `opcua`,
 * src/driver.ts) at its site, with the client PKI in the plugin's folder of
 * the site agent's data directory (`<data>/plugins/opcua/pki`). What it
 * does, the Device and profile fields, examples and limits: README.md.
 */
import { definePlugin, driversRef, siteStorageRef } from '../../core/sdk/index.ts';
import { createOpcuaDriver } from './src/driver.ts';
import { OPCUA_PROTOCOL_SCHEMA } from './src/protocol-schema.ts';

export { createOpcuaDriver, type OpcuaDriverOptions, type OpcuaSubscription } from './src/driver.ts';

export default definePlugin({
  id: 'opcua',
  version: '0.2.0',
  engine: '^0.1.0',
  description: 'OPC UA devices: subscriptions, reads, writes, method calls, security and address-space discovery',
  consumes: [driversRef, siteStorageRef],
  protocols: { opcua: OPCUA_PROTOCOL_SCHEMA },
  register(ctx) {
    const driver = createOpcuaDriver({ logger: ctx.logger, dir: ctx.get(siteStorageRef).dir('opcua'), ...(ctx.site ? { site: ctx.site } : {}) });
    const unregister = ctx.get(driversRef).register(driver);
    ctx.onStop(async () => {
      unregister();
      await driver.close();
    });
  },
});
