#!/usr/bin/env node
// edgeadm runs from its build (dist/, see dist.js), rebuilt first when a source changed.
import { pathToFileURL } from 'node:url';
import { ensureDist } from './dist.js';

let main;
try {
  main = await ensureDist();
} catch (err) {
  process.stderr.write(`error: ${err.message}\n`);
  process.exit(1);
}
const { run } = await import(pathToFileURL(main).href);
process.exitCode = await run(process.argv);
