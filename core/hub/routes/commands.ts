/**
 * Device commands. Enqueueing checks that the device is at the site and
 * that its profile lets the resource be written with this value, records the
 * value as the device twin's desired state (spec.desired, so an offline site
 * applies it on reconnect), then queues the command for the sync channel.
 * Agents read and complete their own site's commands.
 */
import { INTEGER_RANGES, type ValueType } from '../../sdk/index.ts';
import type { Resource } from '../../store/index.ts';
import { authorizeSite, principalOf, requireAuth } from '../auth.ts';
import { DEFAULT_COMMAND_TTL_SECONDS, type Command, type CommandResult } from '../commands.ts';
import type { HubApp, HubContext } from '../context.ts';
import { ErrCommandInvalid, ErrCommandNotFound, ErrNotFound } from '../errors.ts';
import {
  CommandAcceptedSchema,
  CommandCreateBody,
  CommandIdParams,
  CommandListSchema,
  CommandResultBody,
  CommandSchema,
  DeviceCommandParams,
  errorResponses,
  SiteCommandsQuery,
  SiteParams,
} from '../schemas.ts';

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

export function registerCommandRoutes(app: HubApp, ctx: HubContext): void {
  app.post(
    '/api/v1/sites/:site/devices/:device/commands',
    {
      onRequest: requireAuth(['admin']),
      schema: {
        tags: ['commands'],
        summary: 'Write a value to a device resource',
        description:
          "The resource must be writable (readWrite contains W) in the device's profile and the value must suit its valueType. The value becomes the device's desired value (spec.desired) and a command is queued for the site; 202 with its id.",
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

      let current = await ctx.store.get('Device', device);
      const spec = (current?.spec ?? {}) as { site?: unknown; profile?: unknown };
      if (!current || spec.site !== site) throw new ErrNotFound({ kind: 'Device', name: device, site });
      if (typeof spec.profile !== 'string') throw invalid('the device names no profile');
      const profile = await ctx.store.get('DeviceProfile', spec.profile);
      if (!profile) throw invalid(`its profile '${spec.profile}' does not exist`);
      const resources = (profile.spec as { deviceResources?: unknown } | null)?.deviceResources;
      const res = (Array.isArray(resources) ? (resources as ProfileResource[]) : []).find((r) => r.name === resource);
      if (!res) throw invalid(`profile '${spec.profile}' has no resource '${resource}'`);
      const rw = res.properties?.readWrite;
      if (typeof rw !== 'string' || !rw.includes('W')) throw invalid(`the resource is read-only (readWrite '${String(rw)}')`);
      const valueType = res.properties?.valueType;
      if (typeof valueType === 'string') {
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

      const command = ctx.commands.enqueue({ site, device, resource, value, ttlSeconds });
      ctx.metrics.commands.inc();
      request.log.info({ command: command.id, site, device, resource }, 'command enqueued');
      return reply.code(202).send({ id: command.id, state: command.state, expiresAt: command.expiresAt });
    },
  );

  const mustGet = (id: string): Command => {
    const c = ctx.commands.get(id);
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
    (request) => {
      const c = mustGet(request.params.id);
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
    (request) => {
      const q = request.query;
      return {
        items: ctx.commands.list({
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
    (request) => {
      const c = mustGet(request.params.id);
      authorizeSite(principalOf(request), c.site, 'complete commands');
      const result: CommandResult = {};
      if (request.body.reported !== undefined) result.reported = request.body.reported;
      if (request.body.error !== undefined) result.error = request.body.error;
      const done = ctx.commands.complete(c.id, result);
      request.log.info({ command: c.id, state: done.state }, 'command completed');
      return done;
    },
  );
}
