/**
 * Token administration (admins only). The secret of a new token appears in
 * the create response and nowhere else; lists never carry secrets. An agent
 * token is bound to a site that must exist.
 */
import Type from 'typebox';
import { requireAuth } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { ErrTokenInvalid, ErrTokenNotFound } from '../errors.ts';
import { errorResponses, TokenCreateBody, TokenCreatedSchema, TokenIdParams, TokenListSchema } from '../schemas.ts';

export function registerTokenRoutes(app: HubApp, ctx: HubContext): void {
  const admins = requireAuth(['admin']);

  app.post(
    '/api/v1/tokens',
    {
      onRequest: admins,
      schema: {
        tags: ['tokens'],
        summary: 'Create a bearer token',
        description: 'The response is the only place the token is shown. Agents need `site` (an existing Site); admins and viewers must not have one.',
        body: TokenCreateBody,
        response: { 201: TokenCreatedSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const b = request.body;
      if (b.role === 'agent' && b.site !== undefined && !(await ctx.store.get('Site', b.site))) {
        throw new ErrTokenInvalid({ field: 'site', reason: `names Site '${b.site}', which does not exist` });
      }
      const created = await ctx.tokens.create({
        role: b.role,
        ...(b.site === undefined ? {} : { site: b.site }),
        ...(b.description === undefined ? {} : { description: b.description }),
        ...(b.ttlSeconds === undefined ? {} : { ttlSeconds: b.ttlSeconds }),
      });
      request.log.info({ tokenId: created.id, role: created.role, site: created.site }, 'token created');
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      onRequest: admins,
      schema: {
        tags: ['tokens'],
        summary: 'List tokens (never their secrets)',
        response: { 200: TokenListSchema, ...errorResponses },
      },
    },
    async () => ({ items: await ctx.tokens.list() }),
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      onRequest: admins,
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token',
        description: 'Takes effect at once, for every later request.',
        params: TokenIdParams,
        response: { 204: Type.Null({ description: 'Revoked.' }), ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!(await ctx.tokens.revoke(request.params.id))) throw new ErrTokenNotFound({ id: request.params.id });
      request.log.info({ tokenId: request.params.id }, 'token revoked');
      return reply.code(204).send(null);
    },
  );
}
