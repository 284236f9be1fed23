/**
 * A lean site agent (`edgeadm site run --lean`, `edgeadm join --lean`): V8
 * favors memory over speed, so it grows the heap less eagerly under a
 * steady stream of short-lived readings. At 10,000 readings/s an agent
 * otherwise lets its heap grow to about twice what it holds live before
 * collecting; the price is about half the top throughput (`npm run bench --
 * footprint` and `telemetry`, docs/footprint.md). Only for a process that is
 * only a site agent: the flag is the whole process's.
 */
import { setFlagsFromString } from 'node:v8';

export function tuneAgentProcess(): void {
  setFlagsFromString('--optimize-for-size');
}
