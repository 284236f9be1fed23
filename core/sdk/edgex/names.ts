/**
 * The one mapping from an EdgeX name (a device's or a profile's) to the
 * `metadata.name` of the resource it becomes. The rule, and the EdgeX name
 * kept on the resource, are described in core/edgex/names.ts, which
 * re-exports this function: it lives here so plugins (the edgex bridge) map
 * names exactly as the hub's import does.
 */
import { createHash } from 'node:crypto';
import { DNS1123_SUBDOMAIN_MAX } from '../../kernel/index.ts';

/** The annotation that keeps a Device's or DeviceProfile's EdgeX name (the one it was imported with). */
export const EDGEX_NAME_ANNOTATION = 'edgex.edgeadm.io/name';

const HASH_DIGITS = 8;
const NOT_ALNUM_RUN = /[^a-z0-9]+/g;
const COMBINING_MARK = /\p{M}/gu;

function part(p: string): string {
  // A run of '-' alone is kept (so valid names map to themselves); any other run becomes one '-'.
  return p.replace(NOT_ALNUM_RUN, (run) => (/^-+$/.test(run) ? run : '-')).replace(/^-+|-+$/g, '');
}

/**
 * The resource name an EdgeX name maps to (see core/edgex/names.ts for the
 * rule), or undefined when it has no letter or digit to map from.
 */
export function edgexResourceName(edgexName: string): string | undefined {
  const folded = edgexName.normalize('NFKD').replace(COMBINING_MARK, '').toLowerCase();
  const name = folded
    .split('.')
    .map(part)
    .filter((p) => p !== '')
    .join('.');
  if (name === '') return undefined;
  if (name.length <= DNS1123_SUBDOMAIN_MAX) return name;
  const hash = createHash('sha256').update(edgexName).digest('hex').slice(0, HASH_DIGITS);
  const head = name.slice(0, DNS1123_SUBDOMAIN_MAX - HASH_DIGITS - 1).replace(/[-.]+$/, '');
  return `${head}-${hash}`;
}
