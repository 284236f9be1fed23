/**
 * `edgeadm device import` and `edgeadm device export`: EdgeX files in and
 * out of a site.
 *
 * - `import -f FILE|DIR... --site S [--dry-run]` sends EdgeX device profiles
 *   and device lists (a folder: its .yaml, .yml and .json files, as an EdgeX
 *   device service reads its ProfilesDir and DevicesDir) to the hub, which
 *   reads them (core/edgex) and writes the site's Devices and their
 *   DeviceProfiles, or nothing at all: any problem comes back with every
 *   problem, each naming its file and field (exit 1).
 * - `export --site S --format edgex [--dir DIR] [--encoding yaml|json]`
 *   writes the site's Devices and their profiles as EdgeX v3 files under
 *   DIR (`profiles/<name>.yaml`, `devices/devices.yaml`) and names on
 *   standard error what EdgeX has no field for.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { EdgeXExportResult, EdgeXFileBody, EdgeXImportBody, EdgeXImportedRef, EdgeXImportResult } from '../core/hub/index.ts';
import { hubFetch, hubTarget, withHubOptions } from './client.ts';
import { contextOf } from './context.ts';
import { examples } from './commands.ts';
import { ErrUsage } from './errors.ts';
import { emit, renderTable } from './output.ts';
import { checkSite, query, usage, type HubOpts, type Problem } from './resources.ts';

/** The files of a folder an import takes, as EdgeX device services take them. */
const EDGEX_FILE = /\.(ya?ml|json)$/i;

/** The files named by -f, a folder standing for its EdgeX files (not its subfolders), each problem noted. */
function readFiles(paths: readonly string[], problems: Problem[]): EdgeXFileBody[] {
  const out: EdgeXFileBody[] = [];
  const readOne = (file: string): void => {
    try {
      out.push({ name: file, content: readFileSync(file, 'utf8') });
    } catch (err) {
      problems.push({ argument: '-f', reason: `cannot read '${file}': ${(err as Error).message}` });
    }
  };
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      problems.push({ argument: '-f', reason: `cannot read '${p}': ${(err as Error).message}` });
      continue;
    }
    if (!isDir) {
      readOne(p);
      continue;
    }
    const names = readdirSync(p, { withFileTypes: true }).filter((e) => e.isFile() && EDGEX_FILE.test(e.name)).map((e) => e.name).sort();
    if (names.length === 0) problems.push({ argument: '-f', reason: `folder '${p}' has no .yaml, .yml or .json file` });
    for (const n of names) readOne(path.join(p, n));
  }
  return out;
}

interface Row extends EdgeXImportedRef {
  action: string;
}

function registerImport(group: Command): void {
  const cmd = withHubOptions(
    group
      .command('import')
      .description('Import EdgeX device profiles and device lists (v2/v3, YAML or JSON) as Devices at a site and the DeviceProfiles they use')
      .requiredOption('-f, --file <file...>', 'EdgeX files, or folders of them (their .yaml, .yml and .json files)')
      .requiredOption('--site <site>', 'the site the devices are at')
      .option('--dry-run', 'check everything and say what would change; write nothing'),
  ).action(async (o: HubOpts & { file: string[]; site: string; dryRun?: boolean }, c: Command) => {
    const ctx = contextOf(c);
    const problems: Problem[] = [];
    checkSite(o.site, '--site', problems);
    const files = readFiles(o.file, problems);
    usage(problems);
    const body: EdgeXImportBody = { files, ...(o.dryRun ? { dryRun: true } : {}) };
    const r = await hubFetch<EdgeXImportResult>(hubTarget(o), 'POST', `/api/v1/sites/${encodeURIComponent(o.site)}/edgex/import`, body);
    const verb = (done: string, would: string): string => (r.dryRun ? would : done);
    const rows: Row[] = [
      ...r.created.map((x) => ({ ...x, action: verb('created', 'would create') })),
      ...r.updated.map((x) => ({ ...x, action: verb('updated', 'would update') })),
      ...r.unchanged.map((x) => ({ ...x, action: 'unchanged' })),
    ];
    emit(ctx.options.output, r, () => {
      const table = renderTable(rows, [
        { header: 'action', value: (x) => x.action },
        { header: 'kind', value: (x) => x.kind },
        { header: 'name', value: (x) => x.name },
        { header: 'edgex name', value: (x) => x.edgexName },
        { header: 'file', value: (x) => (x.path === '' ? x.file : `${x.file} ${x.path}`) },
      ]);
      const counts = `${r.created.length} created, ${r.updated.length} updated, ${r.unchanged.length} unchanged`;
      return `${table}${r.dryRun ? `dry run at site '${o.site}': ${counts} if applied; nothing written\n` : `site '${o.site}': ${counts}\n`}`;
    });
  });
  examples(cmd, [
    'edgeadm device import -f res/profiles -f res/devices --site plant-a',
    'edgeadm device import -f modbus.test.device.profile.yml modbus.test.devices.yaml --site plant-a --dry-run',
    'edgeadm device import -f devices.request.json --site plant-a -o json',
  ]);
}

/** Writes the export's files under `dir`; a name that would leave it is refused. */
function writeFiles(dir: string, files: readonly EdgeXFileBody[]): string[] {
  const root = path.resolve(dir);
  const written: string[] = [];
  for (const f of files) {
    const target = path.resolve(root, f.name);
    if (!target.startsWith(`${root}${path.sep}`)) throw new ErrUsage({ argument: '--dir', reason: `the hub named a file '${f.name}' outside the folder; nothing more written` });
    try {
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, f.content);
    } catch (err) {
      throw new ErrUsage({ argument: '--dir', reason: `cannot write '${target}': ${(err as Error).message}` });
    }
    written.push(path.join(dir, f.name));
  }
  return written;
}

function registerExport(group: Command): void {
  const cmd = withHubOptions(
    group
      .command('export')
      .description("Write a site's Devices and the DeviceProfiles they use as EdgeX v3 files (profiles/<name>.yaml, devices/devices.yaml)")
      .requiredOption('--site <site>', 'the site whose devices are exported')
      .addOption(new Option('--format <format>', 'the files to write').choices(['edgex']).makeOptionMandatory())
      .option('--dir <dir>', 'the folder to write them in (default: edgex-<site>)')
      .addOption(new Option('--encoding <encoding>', 'YAML or JSON files').choices(['yaml', 'json']).default('yaml')),
  ).action(async (o: HubOpts & { site: string; format: 'edgex'; dir?: string; encoding: 'yaml' | 'json' }, c: Command) => {
    const ctx = contextOf(c);
    const problems: Problem[] = [];
    checkSite(o.site, '--site', problems);
    usage(problems);
    const r = await hubFetch<EdgeXExportResult>(hubTarget(o), 'GET', `/api/v1/sites/${encodeURIComponent(o.site)}/edgex/export${query({ encoding: o.encoding })}`);
    const dir = o.dir ?? `edgex-${o.site}`;
    const written = writeFiles(dir, r.files);
    for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
    emit(ctx.options.output, { site: o.site, dir, files: written, notes: r.notes }, () =>
      written.length === 0 ? `site '${o.site}' has no devices: nothing written\n` : `${written.map((w) => `${w}\n`).join('')}${written.length} EdgeX file${written.length === 1 ? '' : 's'} written for site '${o.site}'\n`,
    );
  });
  examples(cmd, ['edgeadm device export --site plant-a --format edgex', 'edgeadm device export --site plant-a --format edgex --dir res --encoding json']);
}

/** Adds `import` and `export` to the `device` group. */
export function registerDeviceImport(group: Command): void {
  registerImport(group);
  registerExport(group);
}
