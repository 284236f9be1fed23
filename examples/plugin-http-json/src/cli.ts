/**
 * What the http-json plugin adds to `edgeadm` (its manifest's `"tools"`):
 * `edgeadm device discover --plugin example.http-json <url>` runs the
 * driver's `discover` from the operator's machine. The CLI imports this
 * module at every start, so the driver is imported only when a discovery
 * runs.
 */
import { definePluginTools } from 'edgeadm/sdk';

export default definePluginTools({
  id: 'example.http-json',
  discovery: {
    options: [{ flags: '--max-resources <n>', key: 'maxResources', value: 'integer', description: 'at most this many resources in the profile, 1 to 1000 (default 100)' }],
    examples: ['edgeadm device discover --plugin example.http-json http://10.0.0.7/status --site plant-a'],
    async driver() {
      const { createHttpJsonDriver, DEFAULT_OPTIONS } = await import('./driver.ts');
      return createHttpJsonDriver(DEFAULT_OPTIONS);
    },
  },
});
