/**
 * EdgeX files for tests: core/edgex's fixtures (profiles and device lists
 * written in EdgeX's formats, and a folder of broken ones) and any folder of
 * such files, read as an import takes them (`{ name, content }`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { EdgeXFile } from '../../core/edgex/index.ts';

/** core/edgex/fixtures/files: the sound fixtures; its `broken` folder holds files full of mistakes. */
export const EDGEX_FIXTURES = path.resolve(import.meta.dirname, '../../core/edgex/fixtures/files');

/**
 * The files of `folder` in name order, each named by `name(path)` (default:
 * its name in the folder); `recursive` takes its subfolders' files too.
 */
export function edgexFilesIn(folder: string, opts: { recursive?: boolean; name?: (file: string) => string } = {}): EdgeXFile[] {
  const name = opts.name ?? ((file: string) => path.relative(folder, file));
  return readdirSync(folder, { withFileTypes: true, recursive: opts.recursive === true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort()
    .map((file) => ({ name: name(file), content: readFileSync(file, 'utf8') }));
}

/** The sound fixtures, and the broken ones. */
export const edgexFixtures = (): EdgeXFile[] => edgexFilesIn(EDGEX_FIXTURES);
export const brokenEdgeXFixtures = (): EdgeXFile[] => edgexFilesIn(path.join(EDGEX_FIXTURES, 'broken'));
