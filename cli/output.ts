/** Command output: tables for people (kubectl style), JSON and YAML for scripts. */
import { stringify as toYaml } from 'yaml';
import type { OutputFormat } from './commands.ts';

export { OUTPUT_FORMATS, type OutputFormat } from './commands.ts';

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | undefined;
}

/** Plain aligned columns with upper-case headers and no borders. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => String(c.value(r) ?? '')));
  const headers = columns.map((c) => c.header.toUpperCase());
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]): string => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}

/** `key: value` lines for one object (describe style); nested values as indented YAML. */
export function renderDetails(entries: readonly [string, unknown][]): string {
  const width = Math.max(...entries.map(([k]) => k.length)) + 1;
  let out = '';
  const line = (k: string, text: string): string => `${`${k}:`.padEnd(width)} ${text}\n`;
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    if (v === null || v === '' || (Array.isArray(v) && v.length === 0)) out += line(k, '<none>');
    else if (typeof v === 'object') out += `${k}:\n${toYaml(v).trimEnd().replace(/^/gm, '  ')}\n`;
    else out += line(k, typeof v === 'string' ? v : JSON.stringify(v));
  }
  return out;
}

/** Writes data as JSON or YAML, or calls `table` for the human form. */
export function emit(format: OutputFormat, data: unknown, table: () => string, out: NodeJS.WritableStream = process.stdout): void {
  if (format === 'json') out.write(`${JSON.stringify(data, null, 2)}\n`);
  else if (format === 'yaml') out.write(toYaml(data));
  else out.write(table());
}
