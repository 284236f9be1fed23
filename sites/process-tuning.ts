/**
 * How a process that is only a site agent (`edgeadm site run`, `edgeadm
 * join`) sets up V8: it favors memory over speed, so V8 grows its heap less
 * eagerly under a steady stream of short-lived readings. At 10,000
 * readings/s an agent otherwise lets its heap grow to twice what it holds
 * live before collecting (`npm run bench -- footprint`, docs/footprint.md).
 * Not for processes that also run the hub (`edgeadm demo`): the flag is the
 * whole process's.
 */
import { setFlagsFromString } from 'node:v8';

export function tuneAgentProcess(): void {
  setFlagsFromString('--optimize-for-size');
}
