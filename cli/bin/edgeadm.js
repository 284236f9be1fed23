#!/usr/bin/env node
// edgeadm runs its TypeScript sources directly: register the loader, then hand over.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../main.ts');
process.exitCode = await run(process.argv);
