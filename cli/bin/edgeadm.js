#!/usr/bin/env node
// edgeadm runs from its build (dist/, see dist.js), rebuilt first when a source changed.
import { pathToFileURL } from 'node:url';
import { ensureDist } from './dist.js';

const { run } = await import(pathToFileURL(await ensureDist()).href);
process.exitCode = await run(process.argv);
