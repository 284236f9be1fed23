/** EdgeX formats' coded errors: each names the file, field or topic it is about. */
import { createError } from '../kernel/index.ts';

// ---------------------------------------------------------------------------
// Device profile and device list files (names.ts, files.ts, export.ts)

/** One problem of an EdgeX file: the file, the field's path in it (`deviceResources[3].properties.valueType`; '' for the whole file) and what is wrong. */
export interface EdgeXProblem {
  file: string;
  field: string;
  message: string;
}

/** A problem as one line: `modbus.yaml: deviceResources[3].properties.valueType: must be ...`. */
export function describeEdgeXProblem(p: EdgeXProblem): string {
  return p.field === '' ? `${p.file}: ${p.message}` : `${p.file}: ${p.field}: ${p.message}`;
}

/** EdgeX files that cannot be imported: every problem of every file, each naming its file and field. Nothing was applied. */
export const ErrEdgeXFiles = createError(
  'EDGE_ERR_EDGEX_FILES',
  (p: { problems: EdgeXProblem[] }) =>
    `EdgeX files refused, nothing applied (${p.problems.length} problem${p.problems.length === 1 ? '' : 's'}):\n${p.problems.map((x) => `  ${describeEdgeXProblem(x)}`).join('\n')}`,
  { statusCode: 400 },
);

/** The site an import puts devices at is not a site name. */
export const ErrEdgeXSite = createError(
  'EDGE_ERR_EDGEX_SITE',
  (p: { site: string; reason: string }) => `EdgeX import: site '${p.site}' ${p.reason}`,
  { statusCode: 400 },
);

/** Two resources of an export would have the same EdgeX name, so one file would hold two of them. */
export const ErrEdgeXExportClash = createError(
  'EDGE_ERR_EDGEX_EXPORT_CLASH',
  (p: { kind: string; edgexName: string; names: string[] }) =>
    `EdgeX export: ${p.kind}s ${p.names.map((n) => `'${n}'`).join(' and ')} would both be EdgeX '${p.edgexName}'; rename one (or set its edgex.edgeadm.io/name annotation)`,
  { statusCode: 409 },
);
