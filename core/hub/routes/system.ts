/** Health (public), Prometheus metrics (operators) and the OpenAPI document (public). */
import type { Registry } from 'prom-client';
import { requireAuth } from '../auth.ts';
import type { HubApp } from '../context.ts';
import { errorResponses, HealthSchema } from '../schemas.ts';

export function registerSystemRoutes(app: HubApp, registry: Registry): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['system'],
        summary: 'Liveness probe',
        security: [],
        response: { 200: HealthSchema },
      },
    },
    () => ({ status: 'ok' as const }),
  );

  app.get(
    '/metrics',
    {
      // Operators' view of every site and node: agents have their own metrics endpoint.
      onRequest: requireAuth(['admin', 'viewer']),
      schema: {
        tags: ['system'],
        summary: 'Prometheus metrics (text exposition format)',
        description: 'Admin and viewer tokens (a Prometheus scraper gets a viewer token); agents are refused: the metrics name every site and node.',
        response: {
          200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...errorResponses,
        },
      },
    },
    async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  );

  app.get(
    '/openapi.json',
    {
      schema: {
        tags: ['system'],
        summary: 'The OpenAPI 3 document of this API',
        security: [],
      },
    },
    () => app.swagger(),
  );
}
