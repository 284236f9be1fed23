/**
 * vitest's global setup: dist/ (the build `edgeadm` runs from, cli/bin/dist.js)
 * made fresh once before any test, so the many CLI processes the tests start
 * never find it stale and build it at the same time.
 */
import { ensureDist } from '../../cli/bin/dist.js';

export default async function setup(): Promise<void> {
  await ensureDist();
}
