/**
 * Distributed health at the hub: the cluster's health key, and each site's
 * key derived from it for the site's agents (core/hub/health-keys.ts).
 *
 * - `GET /api/v1/health/key` (operators): the key's id and age, never the key;
 *   404 EDGE_ERR_HEALTH_NO_KEY before one is made.
 * - `POST /api/v1/health/key` (admins): makes the first key; 409 when there is one.
 * - `POST /api/v1/health/key/rotate` (admins): a new key; the previous one still verifies until the next rotation.
 * - `GET /api/v1/sites/:site/health/key` (the site's agents only): the site's
 *   derived keys. No operator needs them, and another site's agent is refused.
 *
 * The votes themselves come over each agent's sync session (core/hub/sync.ts).
 */
import Type from 'typebox';
import { HealthErrors, keyId } from '../../health/index.ts';
import { requireAuth } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { describeKey, siteKeyring, type HealthKeyStore } from '../health-keys.ts';
import { errorResponses, SiteParams } from '../schemas.ts';

const KeyInfo = Type.Object({
  kid: Type.String(),
  createdAt: Type.String(),
  previous: Type.Optional(Type.Object({ kid: Type.String(), createdAt: Type.String() })),
});
const SiteKey = Type.Object({ kid: Type.String(), key: Type.String({ description: 'base64url' }) });
const SiteKeys = Type.Object({ current: SiteKey, previous: Type.Optional(SiteKey) });

export function registerHealthRoutes(app: HubApp, ctx: HubContext & { healthKeys: HealthKeyStore }): void {
  const keys = ctx.healthKeys;
  const noKey = (site: string): never => {
    throw new HealthErrors.ErrNoKey({ site, reason: 'the cluster has none yet' });
  };

  app.get(
    '/api/v1/health/key',
    {
      onRequest: requireAuth(['admin', 'viewer']),
      schema: { tags: ['health'], summary: "The cluster's health key: its id and age (never the key)", response: { 200: KeyInfo, ...errorResponses } },
    },
    async () => {
      const k = await keys.read();
      return k ? describeKey(k) : noKey('*');
    },
  );

  app.post(
    '/api/v1/health/key',
    {
      onRequest: requireAuth(['admin']),
      schema: { tags: ['health'], summary: "Makes the cluster's health key (409 when there is one)", response: { 201: KeyInfo, ...errorResponses } },
    },
    async (request, reply) => {
      const k = await keys.create();
      ctx.logger.info({ kid: keyId(k.current.key), tokenId: request.principal?.tokenId }, 'health key created');
      return reply.code(201).send(describeKey(k));
    },
  );

  app.post(
    '/api/v1/health/key/rotate',
    {
      onRequest: requireAuth(['admin']),
      schema: {
        tags: ['health'],
        summary: "Replaces the cluster's health key; the previous one still verifies until the next rotation",
        response: { 200: KeyInfo, ...errorResponses },
      },
    },
    async (request) => {
      const k = await keys.rotate();
      ctx.logger.info({ kid: keyId(k.current.key), tokenId: request.principal?.tokenId }, 'health key rotated');
      return describeKey(k);
    },
  );

  app.get(
    '/api/v1/sites/:site/health/key',
    {
      // The site's agents alone: an operator never needs a site's gossip key.
      onRequest: requireAuth(['agent'], { siteParam: 'site' }),
      schema: {
        tags: ['health'],
        summary: "The site's health gossip keys, derived from the cluster's (the site's agents only)",
        params: SiteParams,
        response: { 200: SiteKeys, ...errorResponses },
      },
    },
    async (request) => {
      const site = request.params.site;
      const k = await keys.read();
      if (!k) return noKey(site);
      const ring = siteKeyring(k, site);
      return {
        current: { kid: ring.current.kid, key: ring.current.key.toString('base64url') },
        ...(ring.previous ? { previous: { kid: ring.previous.kid, key: ring.previous.key.toString('base64url') } } : {}),
      };
    },
  );
}
