/**
 * Device commands. Enqueueing checks that the device is at the site and
 * that its profile lets the resource be written with this value (a value of
 * its valueType, or a name of its value mappings, which the site turns into
 * the raw value), records the value as the device twin's desired state
 * (spec.desired, so an offline site applies it on reconnect), then queues
 * the command for the sync channel. Agents read and complete their own
 * site's commands.
 *
 * A live read (`POST .../read`) asks the device now: it checks what to read
 * against the profile, refuses at once when the site is not Online (409
 * EDGE_ERR_HUB_SITE_OFFLINE, naming the site), queues a `read` command that
 * lives only as long as the caller waits, and answers with the samples the
 * site read, or 504 when the site did not answer in time. Nothing of the
 * Device changes; the readings also reach the telemetry store, as any other.
 */
import Type from 'typebox';
import { checkSchema } from '../../kernel/index.ts';
import { INTEGER_RANGES, SampleSchema, type Sample, type ValueType } from '../../sdk/index.ts';
import { resourceMappings, resourcesToRead, type ProfileSources, type Resource, type SiteObject } from '../../store/index.ts';
import { authorizeSite, principalOf, requireAuth } from '../auth.ts';
import { DEFAULT_COMMAND_TTL_SECONDS, DEFAULT_READ_TIMEOUT_MS, type Command, type CommandQueue, type CommandResult } from '../commands.ts';
import type { HubApp, HubContext } from '../context.ts';
import { ErrCommandInvalid, ErrCommandNotFound, ErrNotFound, ErrReadFailed, ErrReadTimeout, ErrSiteOffline } from '../errors.ts';
import {
  CommandAcceptedSchema,
  CommandCreateBody,
  CommandIdParams,
  CommandListSchema,
  CommandResultBody,
  CommandSchema,
  DeviceCommandParams,
  DeviceReadBody,
  DeviceReadSchema,
  errorResponses,
  SiteCommandsQuery,
  SiteParams,
} from '../schemas.ts';
const SamplesSchema = Type.Array(SampleSchema);

interface ProfileResource {
  name?: unknown;
  properties?: { valueType?: unknown; readWrite?: unknown; minimum?: unknown; maximum?: unknown };
}

const asNumber = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
};

/** Why `value` cannot be written to a resource of `valueType`, or undefined when it can. */
export function valueProblem(valueType: string, value: unknown, props: ProfileResource['properties'] = {}): string | undefined {
  if (valueType.endsWith('Array')) {
    if (!Array.isArray(value)) return `must be an array for valueType ${valueType}`;
    const base = valueType.slice(0, -'Array'.length);
    for (const [i, v] of value.entries()) {
      const p = valueProblem(base, v);
      if (p !== undefined) return `[${i}] ${p}`;
    }
    return undefined;
  }
  switch (valueType) {
    case 'Bool':
      return typeof value === 'boolean' ? undefined : 'must be true or false for valueType Bool';
    case 'String':
    case 'Binary':
      return typeof value === 'string' ? undefined : `must be a string for valueType ${valueType}`;
    case 'Object':
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? undefined : 'must be an object for valueType Object';
    case 'Float32':
    case 'Float64':
      if (typeof value !== 'number' || !Number.isFinite(value)) return `must be a finite number for valueType ${valueType}`;
      return rangeProblem(value, props);
    case 'Int64':
    case 'Uint64': {
      const ok = (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value));
      if (!ok) return `must be an integer (or a decimal string) for valueType ${valueType}`;
      if (valueType === 'Uint64' && String(value).startsWith('-')) return 'must not be negative for valueType Uint64';
      return typeof value === 'number' ? rangeProblem(value, props) : undefined;
    }
    default: {
      // 8- to 32-bit integers here: the 64-bit ones, which may come as decimal strings, are handled above.
      const range = INTEGER_RANGES[valueType as ValueType];
      if (!range) return undefined;
      if (typeof value !== 'number' || !Number.isInteger(value)) return `must be an integer for valueType ${valueType}`;
      if (value < range[0] || value > range[1]) return `must be within ${range[0]}..${range[1]} for valueType ${valueType}`;
      return rangeProblem(value, props);
    }
  }
}

function rangeProblem(value: number, props: ProfileResource['properties'] = {}): string | undefined {
  const min = asNumber(props.minimum);
  const max = asNumber(props.maximum);
  if (min !== undefined && value < min) return `is below the resource minimum ${min}`;
  if (max !== undefined && value > max) return `is above the resource maximum ${max}`;
  return undefined;
}

const isConflict = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'EDGE_ERR_STORE_CONFLICT';

/** The Device at the site and its profile: 404 when the site has no such device, `invalid(reason)` when its profile is missing. */
async function deviceAndProfile(ctx: HubContext, site: string, device: string, invalid: (reason: string) => Error): Promise<{ current: Resource; profileName: string; profile: Resource }> {
  const current = await ctx.store.get('Device', device);
  const spec = (current?.spec ?? {}) as { site?: unknown; profile?: unknown };
  if (!current || spec.site !== site) throw new ErrNotFound({ kind: 'Device', name: device, site });
  if (typeof spec.profile !== 'string') throw invalid('the device names no profile');
  const profile = await ctx.store.get('DeviceProfile', spec.profile);
  if (!profile) throw invalid(`its profile '${spec.profile}' does not exist`);
  return { current, profileName: spec.profile, profile };
}

/** Waits until the command is succeeded or failed (it), the time is up or the caller went away (undefined). */
function finished(commands: CommandQueue, id: string, timeoutMs: number, gone: (stop: () => void) => void): Promise<Command | undefined> {
  return new Promise((resolve) => {
    const end = (c: Command | undefined): void => {
      off();
      clearTimeout(timer);
      resolve(c);
    };
    const off = commands.onFinish((c) => {
      if (c.id === id) end(c);
    });
    const timer = setTimeout(() => end(undefined), timeoutMs);
    gone(() => end(undefined));
  });
}

export function registerCommandRoutes(app: HubApp, ctx: HubContext): void {
  app.post(
    '/api/v1/sites/:site/devices/:device/commands',
    {
      onRequest: requireAuth(['admin']),
      schema: {
        tags: ['commands'],
        summary: 'Write a value to a device resource',
        description:
          "The resource must be writable (readWrite contains W) in the device's profile and the value must suit its valueType, or be a name of the resource's value mappings (deviceCommands' resourceOperations). The value becomes the device's desired value (spec.desired) and a command is queued for the site; 202 with its id.",
        params: DeviceCommandParams,
        body: CommandCreateBody,
        response: { 202: CommandAcceptedSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { site, device } = request.params;
      const { resource, value } = request.body;
      const ttlSeconds = request.body.ttlSeconds ?? DEFAULT_COMMAND_TTL_SECONDS;
      const invalid = (reason: string) => new ErrCommandInvalid({ site, device, resource, reason });

      const found = await deviceAndProfile(ctx, site, device, invalid);
      const { profile, profileName } = found;
      let current = found.current;
      const resources = (profile.spec as { deviceResources?: unknown } | null)?.deviceResources;
      const res = (Array.isArray(resources) ? (resources as ProfileResource[]) : []).find((r) => r.name === resource);
      if (!res) throw invalid(`profile '${profileName}' has no resource '${resource}'`);
      const rw = res.properties?.readWrite;
      if (typeof rw !== 'string' || !rw.includes('W')) throw invalid(`the resource is read-only (readWrite '${String(rw)}')`);
      const valueType = res.properties?.valueType;
      // A name of the resource's write mappings ("Dry"): the site writes the raw value it stands for.
      const mappings = resourceMappings(profile.spec as ProfileSources, resource, 'W');
      const mapped = typeof value === 'string' && mappings !== undefined && Object.values(mappings).includes(value);
      if (typeof valueType === 'string' && !mapped) {
        const problem = valueProblem(valueType, value, res.properties);
        if (problem !== undefined) throw invalid(`value ${problem}`);
      }

      // The twin's desired side; retried when another writer got in between.
      for (let attempt = 0; ; attempt++) {
        const devSpec = (current.spec ?? {}) as Record<string, unknown>;
        const desired = { ...((devSpec.desired as Record<string, unknown> | undefined) ?? {}), [resource]: value };
        const next: Resource = { ...current, spec: { ...devSpec, desired } };
        const rv = current.metadata.resourceVersion;
        try {
          await ctx.store.apply(next, rv === undefined ? {} : { resourceVersion: rv });
          break;
        } catch (err) {
          if (!isConflict(err) || attempt >= 4) throw err;
          const again = await ctx.store.get('Device', device);
          if (!again || (again.spec as { site?: unknown }).site !== site) throw new ErrNotFound({ kind: 'Device', name: device, site });
          current = again;
        }
      }

      const command = await ctx.commands.enqueue({ site, device, kind: 'write', resource, value, ttlSeconds });
      ctx.metrics.commands.inc();
      request.log.info({ command: command.id, site, device, resource }, 'command enqueued');
      return reply.code(202).send({ id: command.id, state: command.state, expiresAt: command.expiresAt });
    },
  );

  app.post(
    '/api/v1/sites/:site/devices/:device/read',
    {
      onRequest: requireAuth(['admin', 'viewer']),
      schema: {
        tags: ['commands'],
        summary: 'Read a device now',
        description:
          "Asks the site's driver for the current values of the named deviceResources or deviceCommands (every readable resource when none is named) and answers with them: the hub's stored values (`/api/v1/telemetry/latest`) may be older. 409 EDGE_ERR_HUB_SITE_OFFLINE when the site's agent is not connected; 504 when it does not answer within timeoutMs; 502 when the device could not be read at all.",
        params: DeviceCommandParams,
        body: DeviceReadBody,
        response: { 200: DeviceReadSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { site, device } = request.params;
      const sources = request.body.resources ?? [];
      const timeoutMs = request.body.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
      const invalid = (resource: string, reason: string) => new ErrCommandInvalid({ site, device, resource, reason });
      const { profile, profileName } = await deviceAndProfile(ctx, site, device, (reason) => invalid(sources.join(', ') || '(every readable resource)', reason));
      const what = resourcesToRead(profile.spec as ProfileSources, sources);
      if ('problem' in what) throw invalid(what.source, what.problem);
      const phase = (): Promise<string> => ctx.store.get<SiteObject>('Site', site).then((s) => s?.status?.phase ?? 'Offline');
      const action = `read device '${device}'`;
      const before = await phase();
      if (before !== 'Online') throw new ErrSiteOffline({ site, action, phase: before });

      // The command lives as long as the caller waits: a site that answers later finds it expired.
      const command = await ctx.commands.enqueue({ site, device, kind: 'read', resources: sources, ttlSeconds: Math.ceil(timeoutMs / 1000) });
      request.log.info({ command: command.id, site, device, resources: sources }, 'live read sent');
      const done = await finished(ctx.commands, command.id, timeoutMs, (stop) => reply.raw.once('close', stop));
      if (!done) {
        const now = await phase();
        if (now !== 'Online') throw new ErrSiteOffline({ site, action, phase: now });
        throw new ErrReadTimeout({ site, device, command: command.id, state: (await ctx.commands.get(command.id))?.state ?? 'expired', timeoutMs });
      }
      const fail = (reason: string) => new ErrReadFailed({ site, device, command: command.id, reason });
      if (done.state === 'failed') throw fail(`[${done.result?.error?.code ?? 'EDGE_ERR_COMMAND_FAILED'}] ${done.result?.error?.message ?? 'the site reported a failure without details'}`);
      const reported = done.result?.reported;
      const issues = checkSchema(SamplesSchema, reported);
      if (issues.length > 0) throw fail(`the site's answer is not a list of samples: ${issues.slice(0, 3).map((i) => `${i.path || '(root)'} ${i.message}`).join('; ')}`);
      const readings = (reported as Sample[]).map((s) => ({ site, device, profile: profileName, ...s }));
      return { command: command.id, site, device, readings };
    },
  );

  const mustGet = async (id: string): Promise<Command> => {
    const c = await ctx.commands.get(id);
    if (!c) throw new ErrCommandNotFound({ id });
    return c;
  };

  app.get(
    '/api/v1/commands/:id',
    {
      onRequest: requireAuth(['admin', 'viewer', 'agent']),
      schema: {
        tags: ['commands'],
        summary: 'Get a command and its result',
        params: CommandIdParams,
        response: { 200: CommandSchema, ...errorResponses },
      },
    },
    async (request) => {
      const c = await mustGet(request.params.id);
      authorizeSite(principalOf(request), c.site, 'read commands');
      return c;
    },
  );

  app.get(
    '/api/v1/sites/:site/commands',
    {
      onRequest: requireAuth(['admin', 'viewer', 'agent'], { siteParam: 'site' }),
      schema: {
        tags: ['commands'],
        summary: "List a site's commands, oldest first",
        params: SiteParams,
        querystring: SiteCommandsQuery,
        response: { 200: CommandListSchema, ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      return {
        items: await ctx.commands.list({
          site: request.params.site,
          ...(q.state === undefined ? {} : { state: q.state }),
          ...(q.device === undefined ? {} : { device: q.device }),
          ...(q.limit === undefined ? {} : { limit: q.limit }),
        }),
      };
    },
  );

  app.post(
    '/api/v1/commands/:id/result',
    {
      onRequest: requireAuth(['admin', 'agent']),
      schema: {
        tags: ['commands'],
        summary: 'Complete a command with its result',
        description: 'By the agent of the command\'s site: `{ reported? }` marks it succeeded, `{ error: { code, message } }` failed. 409 when it is already finished or expired.',
        params: CommandIdParams,
        body: CommandResultBody,
        response: { 200: CommandSchema, ...errorResponses },
      },
    },
    async (request) => {
      const c = await mustGet(request.params.id);
      authorizeSite(principalOf(request), c.site, 'complete commands');
      const result: CommandResult = {};
      if (request.body.reported !== undefined) result.reported = request.body.reported;
      if (request.body.error !== undefined) result.error = request.body.error;
      const done = await ctx.commands.complete(c.id, result);
      request.log.info({ command: c.id, state: done.state }, 'command completed');
      return done;
    },
  );
}
