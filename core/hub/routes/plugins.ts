/**
 * `GET /api/v1/plugins` (operators): the plugins installed where the hub
 * runs, sorted by id, each with its Addon config schema and the Device
 * protocol blocks its driver reads (JSON schemas), for forms that build
 * themselves from them (../plugin-catalog.ts). A hub started without a
 * plugin source answers an empty list.
 */
import Type from 'typebox';
import { requireAuth } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { errorResponses } from '../schemas.ts';

const JsonSchemaObject = Type.Record(Type.String(), Type.Unknown(), { description: 'A JSON schema.' });

export const PluginCatalogEntrySchema = Type.Object({
  id: Type.String(),
  version: Type.String(),
  description: Type.Optional(Type.String()),
  role: Type.Optional(Type.String({ description: 'device-driver, integration, ... (the package.json `edgeadm.role`).' })),
  configSchema: Type.Optional(JsonSchemaObject),
  protocols: Type.Optional(
    Type.Record(Type.String(), JsonSchemaObject, { description: 'The Device protocol blocks (`spec.protocols.<name>`) its driver reads, each with the JSON schema of its fields.' }),
  ),
});

export const PluginCatalogSchema = Type.Object({ items: Type.Array(PluginCatalogEntrySchema) });

export function registerPluginRoutes(app: HubApp, ctx: HubContext): void {
  app.get(
    '/api/v1/plugins',
    {
      onRequest: requireAuth(['admin', 'viewer']),
      schema: {
        tags: ['plugins'],
        summary: 'The plugins installed where the hub runs, with their config and protocol schemas',
        description:
          'Sorted by id. `configSchema` is the JSON schema of an Addon\'s config; `protocols` maps each Device protocol block the plugin\'s driver reads to the JSON schema of its fields (names as EdgeX writes them). A hub started without a plugin source answers no items; a source that fails answers 503 EDGE_ERR_HUB_PLUGIN_CATALOG.',
        response: { 200: PluginCatalogSchema, ...errorResponses },
      },
    },
    async () => ({ items: [...(await ctx.plugins.items())] }),
  );
}
