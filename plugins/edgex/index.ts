/**
 * The edgex plugin. Stage `planned` (see package.json): it is declared so that
 * discovery, `edgeadm plugin list` and site configs know it, but its driver
 * is not written yet, so the registry refuses to start it with
 * EDGE_ERR_PLUGIN_NOT_AVAILABLE rather than pretend. What works with EdgeX
 * without it, and what it is meant to become: README.md.
 */
import { definePlugin } from '../../core/sdk/index.ts';

export default definePlugin({
  id: 'edgex',
  version: '0.1.0',
  engine: '^0.1.0',
  description: 'EdgeX Foundry services per site: core, app, device, ui and support',
  register() {
    throw new Error("plugin 'edgex' is planned: its driver is not implemented yet");
  },
});
