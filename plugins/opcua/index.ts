/**
 * The opcua plugin. Stage `planned` (see package.json): it is declared so that
 * discovery, `edgeadm plugin list` and site configs know it, but its driver
 * is not written yet, so the registry refuses to start it with
 * EDGE_ERR_PLUGIN_NOT_AVAILABLE rather than pretend.
 */
import { definePlugin } from '../../core/sdk/index.ts';

export default definePlugin({
  id: 'opcua',
  version: '0.1.0',
  engine: '^0.1.0',
  description: 'OPC UA devices: subscriptions, reads, writes, method calls, security and address-space discovery',
  register() {
    throw new Error("plugin 'opcua' is planned: its driver is not implemented yet");
  },
});
