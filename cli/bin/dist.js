/**
 * The built edgeadm: `dist/`, made from the TypeScript sources with esbuild.
 *
 * edgeadm runs from this build, never from a TypeScript loader: a loader costs
 * ~270 ms and ~35 MiB per process, and Node's per-module cost of the many-file
 * packages (typebox alone: 683 files, 200 ms, 19 MiB) is paid once by bundling
 * them. The build is one bundle split into chunks: each dynamic import stays a
 * chunk of its own, loaded only when reached, so a command or a plugin
 * instance pays only for what it runs.
 *
 * - Entries: the CLI (`dist/main.js`), the SDK and its testkit (what
 *   `edgeadm/sdk` resolves to, so a third party's plugin shares the running
 *   kernel's modules), and each built-in plugin's entry and tools.
 * - Packages with native parts or files of their own (SQLite, node-opcua,
 *   serial ports, ssh2, the Kubernetes client...) stay in node_modules.
 * - `import.meta.url` in a source means that source's own location: the build
 *   keeps it so (assets such as the console's files are read from the sources).
 * - `import.meta.edgeadmBundle` is `true` in the build, undefined in sources.
 *
 * `dist/contents.json` lists what each output file holds (sources and
 * packages, and their bytes in it). `dist/manifest.json` lists every source the build read with its size, mtime
 * and SHA-256. `edgeadm` checks it at each start (a stat per source; a hash
 * only when a stat differs) and rebuilds when a source changed, under a lock,
 * so the CLI never runs stale code. `npm ci` builds it (the `prepare` script);
 * `npm run build` rebuilds it from scratch.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = path.join(ROOT, 'dist');
const MANIFEST = path.join(DIST, 'manifest.json');
const LOCK = path.join(ROOT, '.dist.lock');
const FORMAT = 1;

/** Packages loaded from node_modules at run time, not bundled: native modules, files read beside their code, or only ever used by one heavy path. */
export const EXTERNAL = [
  'better-sqlite3',
  'node-opcua',
  'node-opcua-*',
  '@kubernetes/client-node',
  'serialport',
  '@serialport/*',
  'ssh2',
  'cpu-features',
  'pg-native',
  'bufferutil',
  'utf-8-validate',
  'aedes',
  'aedes-*',
  '@fastify/swagger',
  '@fastify/swagger-ui',
  'protobufjs',
  'esbuild',
  'tsx',
  'playwright-core',
];

/** `import('pkg')` of a package (not a relative path, not a type: `typeof import(...)`). */
const DYNAMIC_PACKAGE_IMPORT = /(?<!typeof\s+)\bimport\((['"])([^'"./][^'"]*)\1\)/g;

/** Whether a package specifier stays in node_modules (EXTERNAL, `*` as a suffix wildcard). */
function isExternal(spec) {
  const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
  return spec.startsWith('node:') || EXTERNAL.some((e) => (e.endsWith('*') ? name.startsWith(e.slice(0, -1)) : name === e));
}

/** Turns a CommonJS chunk's `{ default: module.exports }` into a namespace with its named exports; any other module as it is. */
const NAMESPACE_HELPER = `function __edgeadmNamespace(m: any): any {
  const d = m.default;
  const keys = Object.keys(m);
  if (keys.length !== 1 || keys[0] !== 'default' || d === null || (typeof d !== 'object' && typeof d !== 'function')) return m;
  return Object.assign(Object.create(null), d, { default: d });
}`;

/** A source's record: size, mtime (ms) and SHA-256 of its contents. */
function record(file) {
  const st = statSync(file);
  return [st.size, Math.trunc(st.mtimeMs), createHash('sha256').update(readFileSync(file)).digest('hex')];
}

/** The built-in plugins' entries and tools, from their package.json files: [source (relative), output name]. */
function pluginEntries() {
  const dir = path.join(ROOT, 'plugins');
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const pkgFile = path.join(dir, name, 'package.json');
    if (!existsSync(pkgFile)) continue;
    let block;
    try {
      block = JSON.parse(readFileSync(pkgFile, 'utf8')).edgeadm;
    } catch {
      continue; // discovery reports a broken manifest, naming it
    }
    for (const [field, suffix] of [['entry', ''], ['tools', '-tools']]) {
      const rel = block?.[field];
      if (typeof rel !== 'string' || !rel.endsWith('.ts')) continue;
      const src = path.relative(ROOT, path.resolve(dir, name, rel));
      if (existsSync(path.join(ROOT, src))) out.push([src, `plugin-${name}${suffix}`]);
    }
  }
  return out;
}

function readManifest() {
  try {
    const m = JSON.parse(readFileSync(MANIFEST, 'utf8'));
    return m && m.format === FORMAT ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Whether dist/ is the build of the sources as they are: `{ fresh: true }` or `{ fresh: false, reason }`. */
export function distStatus() {
  const m = readManifest();
  if (!m) return { fresh: false, reason: 'no build' };
  if (m.node !== process.versions.modules) return { fresh: false, reason: `built for another Node ABI (${m.node})` };
  for (const [rel, [size, mtime, hash]] of Object.entries(m.inputs)) {
    const file = path.join(ROOT, rel);
    let st;
    try {
      st = statSync(file);
    } catch {
      return { fresh: false, reason: `${rel} is gone` };
    }
    if (st.size === size && Math.trunc(st.mtimeMs) === mtime) continue;
    if (st.size !== size || createHash('sha256').update(readFileSync(file)).digest('hex') !== hash) return { fresh: false, reason: `${rel} changed` };
  }
  const plugins = pluginEntries().map(([src]) => src);
  if (plugins.join('\n') !== m.plugins.join('\n')) return { fresh: false, reason: 'the built-in plugins changed' };
  return { fresh: true };
}

function writeAtomic(file, data) {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/**
 * Builds dist/ from the sources. Each file is written whole (a rename), the
 * manifest last; chunks of an earlier build are kept a day for processes
 * still running from it, or removed at once with `clean`.
 */
export async function buildDist({ clean = false } = {}) {
  const esbuild = await import('esbuild');
  const plugins = pluginEntries();
  const entries = [['cli/main.ts', 'main'], ['core/sdk/index.ts', 'sdk'], ['core/sdk/testkit/index.ts', 'sdk-testkit'], ...plugins];
  const sourceOf = (file) => {
    const rel = path.relative(ROOT, file);
    return rel.startsWith('..') || rel.split(path.sep).includes('node_modules') ? undefined : rel;
  };
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: entries.map(([src, out]) => ({ in: src, out })),
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    chunkNames: '[name]-[hash]',
    // Whitespace and syntax minified (names kept, for stack traces and `.name`): the source text each process
    // holds in its heap and parses at start is about half. `node --enable-source-maps` maps traces back.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    write: false,
    logLevel: 'silent',
    external: EXTERNAL,
    define: { 'import.meta.edgeadmBundle': 'true' },
    // Packages written as CommonJS call require(): give each chunk one.
    banner: { js: "import { createRequire as __edgeadmRequire } from 'node:module'; const require = __edgeadmRequire(import.meta.url);" },
    plugins: [
      {
        name: 'edgeadm-sources',
        setup(b) {
          b.onLoad({ filter: /\.ts$/ }, (args) => {
            const rel = sourceOf(args.path);
            if (!rel) return undefined;
            const text = readFileSync(args.path, 'utf8');
            let contents = text;
            // Every output file sits in dist/, one level below the root: a source's own URL is ../<its path>.
            if (contents.includes('import.meta.url')) {
              contents = contents.replaceAll('import.meta.url', `new URL(${JSON.stringify(`../${rel.split(path.sep).join('/')}`)}, import.meta.url).href`);
            }
            // A bundled CommonJS package imported dynamically comes back from its chunk as `{ default: module.exports }`
            // only (esbuild, splitting): give it its named exports, as Node's own import() does.
            contents = contents.replace(DYNAMIC_PACKAGE_IMPORT, (all, quote, spec) => (isExternal(spec) ? all : `import(${quote}${spec}${quote}).then(__edgeadmNamespace)`));
            if (contents === text) return undefined;
            if (contents.includes('__edgeadmNamespace)')) contents += `\n${NAMESPACE_HELPER}\n`;
            return { contents, loader: 'ts' };
          });
        },
      },
    ],
  });
  const inputs = {};
  for (const file of [...Object.keys(result.metafile.inputs), 'package.json', 'package-lock.json', 'cli/bin/dist.js']) {
    const rel = sourceOf(path.resolve(ROOT, file));
    if (rel && !(rel in inputs)) inputs[rel] = record(path.join(ROOT, rel));
  }
  // A plugin's package.json says where its entry is.
  for (const name of readdirSync(path.join(ROOT, 'plugins'))) {
    const rel = path.join('plugins', name, 'package.json');
    if (existsSync(path.join(ROOT, rel))) inputs[rel] ??= record(path.join(ROOT, rel));
  }
  if (clean) rmSync(DIST, { recursive: true, force: true });
  const written = new Set();
  for (const f of result.outputFiles) {
    writeAtomic(f.path, f.contents);
    written.add(path.basename(f.path));
  }
  const dayAgo = Date.now() - 86_400_000;
  for (const name of readdirSync(DIST)) {
    const file = path.join(DIST, name);
    if (!written.has(name) && !['manifest.json', 'contents.json'].includes(name) && statSync(file).mtimeMs < dayAgo) rmSync(file, { force: true });
  }
  // What each output file holds (sources and packages, with their bytes in it), for footprint reports and the lazy-loading tests.
  const contents = {};
  for (const [out, o] of Object.entries(result.metafile.outputs)) {
    if (out.endsWith('.js')) contents[path.basename(out)] = Object.fromEntries(Object.entries(o.inputs).map(([input, i]) => [input, i.bytesInOutput]).sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  writeAtomic(path.join(DIST, 'contents.json'), `${JSON.stringify(contents)}\n`);
  const manifest = {
    format: FORMAT,
    node: process.versions.modules,
    plugins: plugins.map(([src]) => src),
    entries: Object.fromEntries(entries.map(([src, out]) => [src, `${out}.js`])),
    inputs,
  };
  writeAtomic(MANIFEST, `${JSON.stringify(manifest, null, 1)}\n`);
  return manifest;
}

/** Whether the process that took a lock is gone (killed mid-build). */
function holderGone() {
  try {
    const pid = Number(readFileSync(path.join(LOCK, 'pid'), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return Date.now() - statSync(LOCK).mtimeMs > 5_000;
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return err.code === 'ESRCH';
  }
}

/**
 * Takes the build lock (a directory holding its taker's pid), waiting for
 * another process's build; a lock whose taker is gone, or older than two
 * minutes, is taken over.
 */
async function withLock(fn) {
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      try {
        if (holderGone() || Date.now() - statSync(LOCK).mtimeMs > 120_000) rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Makes dist/ the build of the sources as they are (building when a source changed); resolves to `dist/main.js`. */
export async function ensureDist() {
  if (!distStatus().fresh) {
    try {
      await withLock(async () => {
        const status = distStatus();
        if (status.fresh) return;
        process.stderr.write(`edgeadm: building dist/ (${status.reason})\n`);
        await buildDist();
      });
    } catch (err) {
      throw new Error(`dist/ is out of date and cannot be built here (${err.message}): run \`npm run build\` in ${ROOT} as a user who may write it`, { cause: err });
    }
  }
  return path.join(DIST, 'main.js');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  await withLock(() => buildDist({ clean: true }));
  process.stderr.write(`edgeadm: built dist/ in ${Math.round(performance.now() - t0)} ms\n`);
}
