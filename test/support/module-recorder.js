/**
 * `node --import test/support/module-recorder.js ...` with MODULE_RECORDER_LOG
 * set: appends the URL of every ES module the process loads to that file, as
 * it loads it, and on SIGUSR2 (and at exit) the files of every CommonJS
 * module loaded so far (require.cache). Node's own module registry, read
 * from outside: what the lazy-loading tests assert on.
 */
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env.MODULE_RECORDER_LOG;
if (file) {
  register(new URL('./module-recorder-hooks.js', import.meta.url), { data: { file } });
  const cache = createRequire(import.meta.url).cache;
  const dump = () => appendFileSync(file, `${Object.keys(cache).join('\n')}\n# dumped\n`);
  process.on('SIGUSR2', dump);
  process.on('exit', dump);
}
