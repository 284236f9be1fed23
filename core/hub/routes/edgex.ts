/**
 * EdgeX files at a site: the HTTP surface of core/edgex's import and export.
 *
 * - `POST /api/v1/sites/:site/edgex/import` (admins): EdgeX device profiles
 *   and device lists (`{ files: [{ name, content }], dryRun? }`) become the
 *   site's Devices and the DeviceProfiles they use. Every problem of every
 *   file comes back at once (400 EDGE_ERR_EDGEX_FILES, `details.problems`,
 *   each with its file and field) and then nothing is written. Otherwise
 *   profiles are written before the devices that use them, and the answer
 *   says what was created, updated and left unchanged; with `dryRun` it says
 *   so and writes nothing. A write that fails part way undoes the writes
 *   before it. What the platform alone holds on a resource that exists
 *   (labels, other annotations, a Device's plugin, desired values, drift
 *   policy) is kept (core/edgex `mergeImported`). A Device's protocol block
 *   is checked against the schema an installed plugin declares for its
 *   protocol (../plugin-catalog.ts): each problem is one of the file's, at
 *   the block's field (`deviceList[0].protocols.modbus-tcp.Port`).
 * - `GET /api/v1/sites/:site/edgex/export` (operators): the site's Devices
 *   and the DeviceProfiles they use, as EdgeX v3 files (`?encoding=yaml|json`),
 *   with notes naming what EdgeX has no field for.
 */
import { isDeepStrictEqual } from 'node:util';
import Type, { type Static } from 'typebox';
import { EDGEX_EXPORT_ENCODINGS, edgexNameOf, ErrEdgeXFiles, exportEdgeX, mergeImported, originKey, parseEdgeXFiles, type EdgeXProblem } from '../../edgex/index.ts';
import { literalUnion } from '../../kernel/index.ts';
import { prepareResource, type Kind, type Resource } from '../../store/index.ts';
import { requireAuth } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { ErrNotFound } from '../errors.ts';
import { errorResponses, SiteParams } from '../schemas.ts';

const EdgeXFileSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 1024, description: 'The file name problems are reported under (a path as the client knows it).' }),
    content: Type.String({ description: 'The YAML or JSON text.' }),
  },
  { additionalProperties: false },
);

export const EdgeXImportBody = Type.Object(
  {
    files: Type.Array(EdgeXFileSchema, { minItems: 1, maxItems: 1000 }),
    dryRun: Type.Optional(Type.Boolean({ description: 'Check everything and say what would change; write nothing.' })),
  },
  { additionalProperties: false },
);

const ImportedRefSchema = Type.Object({
  kind: Type.String({ description: 'DeviceProfile or Device.' }),
  name: Type.String({ description: 'The resource name.' }),
  edgexName: Type.String({ description: 'The EdgeX name it was imported from.' }),
  file: Type.String(),
  path: Type.String({ description: "The object's path in the file ('' for the whole file)." }),
});

export const EdgeXProblemSchema = Type.Object({ file: Type.String(), field: Type.String(), message: Type.String() });

export const EdgeXImportResultSchema = Type.Object({
  dryRun: Type.Boolean(),
  files: Type.Array(
    Type.Object({
      name: Type.String(),
      kind: Type.Optional(Type.String({ description: 'profile, deviceList, devices, addDeviceRequests or addDeviceProfileRequests.' })),
      version: Type.Optional(Type.String({ description: 'v2 or v3.' })),
    }),
  ),
  created: Type.Array(ImportedRefSchema),
  updated: Type.Array(ImportedRefSchema),
  unchanged: Type.Array(ImportedRefSchema),
  /** Always empty in a 200: any problem is a 400 with every problem. */
  problems: Type.Array(EdgeXProblemSchema),
});

export const EdgeXExportQuery = Type.Object({ encoding: Type.Optional(literalUnion(EDGEX_EXPORT_ENCODINGS, { description: 'yaml (default) or json.' })) });

export const EdgeXExportSchema = Type.Object({
  files: Type.Array(EdgeXFileSchema, { description: '`profiles/<name>.<ext>` per profile, `devices/devices.<ext>`.' }),
  notes: Type.Array(Type.String(), { description: 'What was not written, and why.' }),
});

type Action = 'created' | 'updated' | 'unchanged';

const sameObject = (a: Resource, b: Resource): boolean =>
  isDeepStrictEqual(a.spec, b.spec) && isDeepStrictEqual(a.metadata.labels ?? {}, b.metadata.labels ?? {}) && isDeepStrictEqual(a.metadata.annotations ?? {}, b.metadata.annotations ?? {});

export function registerEdgeXRoutes(app: HubApp, ctx: HubContext): void {
  const admins = requireAuth(['admin']);
  const operators = requireAuth(['admin', 'viewer']);
  const log = ctx.logger.child({ component: 'edgex' });

  async function requireSite(site: string): Promise<void> {
    if (!(await ctx.store.get('Site', site))) throw new ErrNotFound({ kind: 'Site', name: site });
  }

  app.post(
    '/api/v1/sites/:site/edgex/import',
    {
      onRequest: admins,
      schema: {
        tags: ['edgex'],
        summary: "Import EdgeX device profiles and device lists as the site's Devices and their DeviceProfiles",
        description:
          'Files: EdgeX v2/v3 device profiles (YAML or JSON), `deviceList:` YAML, JSON device arrays, AddDeviceRequest and AddDeviceProfileRequest arrays. Any problem: 400 EDGE_ERR_EDGEX_FILES with every problem in `details.problems` (file, field, message), and nothing written. `dryRun`: say what would change, write nothing.',
        params: SiteParams,
        body: EdgeXImportBody,
        response: { 200: EdgeXImportResultSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { site } = request.params;
      const dryRun = request.body.dryRun === true;
      await requireSite(site);
      const [profiles, devices] = await Promise.all([ctx.store.list('DeviceProfile'), ctx.store.list('Device')]);
      const parsed = parseEdgeXFiles(request.body.files, { site, existing: { profiles: profiles.items, devices: devices.items } });
      if (parsed.problems.length > 0) throw new ErrEdgeXFiles({ problems: parsed.problems });

      const held = new Map<string, Resource>([...profiles.items, ...devices.items].map((r) => [originKey(r.kind, r.metadata.name), r]));
      const problems: EdgeXProblem[] = [];
      const plan: { action: Action; next: Resource; current: Resource | undefined; ref: Static<typeof ImportedRefSchema> }[] = [];
      for (const imported of [...parsed.profiles, ...parsed.devices] as Resource[]) {
        const key = originKey(imported.kind, imported.metadata.name);
        const origin = parsed.origins[key] ?? { file: '', path: '' };
        const current = held.get(key);
        const merged = prepareResource(mergeImported(imported, current));
        if (!merged.ok) {
          // Only what the hub kept of the existing resource can make this fail.
          problems.push({ file: origin.file, field: origin.path, message: `with what the hub keeps of ${imported.kind} '${imported.metadata.name}': ${merged.issues.map((i) => `${i.path} ${i.message}`).join('; ')}` });
          continue;
        }
        const next = merged.value;
        // Protocol blocks against the schemas of the plugins installed here (../plugin-catalog.ts), at their place in the file.
        for (const issue of next.kind === 'Device' ? await ctx.plugins.deviceIssues(next.spec) : []) {
          const field = issue.path.replace(/^spec\./, '');
          problems.push({ file: origin.file, field: origin.path === '' ? field : `${origin.path}.${field}`, message: issue.message });
        }
        const action: Action = !current ? 'created' : sameObject(current, next) ? 'unchanged' : 'updated';
        plan.push({ action, next, current, ref: { kind: next.kind, name: next.metadata.name, edgexName: edgexNameOf(next), file: origin.file, path: origin.path } });
      }
      if (problems.length > 0) throw new ErrEdgeXFiles({ problems });

      if (!dryRun) await applyAll(ctx, plan.filter((p) => p.action !== 'unchanged'), log);
      const of = (a: Action): Static<typeof ImportedRefSchema>[] => plan.filter((p) => p.action === a).map((p) => p.ref);
      const result = { dryRun, files: parsed.files, created: of('created'), updated: of('updated'), unchanged: of('unchanged'), problems: [] };
      log.info({ site, dryRun, created: result.created.length, updated: result.updated.length, unchanged: result.unchanged.length, files: parsed.files.length }, 'edgex files imported');
      return result;
    },
  );

  app.get(
    '/api/v1/sites/:site/edgex/export',
    {
      onRequest: operators,
      schema: {
        tags: ['edgex'],
        summary: "The site's Devices and the DeviceProfiles they use, as EdgeX v3 files",
        description: 'One file per profile (`profiles/<name>.yaml`) and a device list (`devices/devices.yaml`, `deviceList:`); `encoding=json` writes JSON. `notes` name what EdgeX has no field for (a Device\'s plugin, desired values, drift policy; labels).',
        params: SiteParams,
        querystring: EdgeXExportQuery,
        response: { 200: EdgeXExportSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { site } = request.params;
      await requireSite(site);
      const devices = (await ctx.store.list('Device', { site })).items;
      const profileNames = [...new Set(devices.map((d) => String((d.spec as { profile?: unknown }).profile)))];
      const profiles = (await Promise.all(profileNames.map((n) => ctx.store.get('DeviceProfile', n)))).filter((p): p is Resource => p !== undefined);
      return exportEdgeX([...profiles, ...devices], { encoding: request.query.encoding ?? 'yaml' });
    },
  );
}

/** Writes each object in order; when one fails, undoes the writes before it (back to what was there) and rethrows. */
async function applyAll(ctx: HubContext, plan: readonly { next: Resource; current: Resource | undefined }[], log: HubContext['logger']): Promise<void> {
  const done: { kind: Kind; name: string; current: Resource | undefined }[] = [];
  try {
    for (const { next, current } of plan) {
      await ctx.store.apply(next);
      done.push({ kind: next.kind, name: next.metadata.name, current });
    }
  } catch (err) {
    for (const d of done.reverse()) {
      try {
        if (d.current) await ctx.store.apply({ ...d.current, metadata: { ...d.current.metadata, resourceVersion: undefined } });
        else await ctx.store.delete(d.kind, d.name);
      } catch (undoErr) {
        log.error({ err: undoErr, kind: d.kind, name: d.name }, 'edgex import: undoing a write failed');
      }
    }
    throw err;
  }
}
