/** The `plugins` section of the config (kept out of index.ts so that importing the index costs nothing unused). */
import Type from 'typebox';
import { DNS1123_LABEL_MAX, DNS1123_LABEL_PATTERN } from '../kernel/index.ts';
import { PLUGIN_ID_PATTERN } from './manifest.ts';

/** The `plugins` config section. */
export const PluginsConfigSchema = Type.Object(
  {
    searchPaths: Type.Array(Type.String(), { default: [], description: 'Folders whose sub-folders are plugin packages.' }),
    nodeModules: Type.Optional(
      Type.Array(Type.String(), { description: 'node_modules folders to scan; default: the working directory\'s and edgeadm\'s.' }),
    ),
    startTimeoutMs: Type.Integer({ minimum: 1, default: 10_000, description: 'Start timeout of each plugin instance.' }),
    stopTimeoutMs: Type.Integer({ minimum: 1, default: 5_000, description: 'Stop timeout of each plugin instance.' }),
    instances: Type.Array(
      Type.Object(
        {
          plugin: Type.String({ pattern: PLUGIN_ID_PATTERN }),
          site: Type.Optional(Type.String({ maxLength: DNS1123_LABEL_MAX, pattern: DNS1123_LABEL_PATTERN, description: 'A Site name (DNS-1123 label).' })),
          config: Type.Optional(Type.Unknown()),
          failurePolicy: Type.Optional(Type.Union([Type.Literal('isolate'), Type.Literal('abort')])),
        },
        { additionalProperties: false },
      ),
      { default: [], description: 'Plugin instances to run, each optionally for one site.' },
    ),
  },
  { additionalProperties: false, default: {} },
);
