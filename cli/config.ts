/** The edgeadm config file: one schema composed of each capability's section. */
import Type, { type Static } from 'typebox';
import { KernelConfigSchema, loadConfig, LogConfigSchema } from '../core/kernel/index.ts';
import { PluginsConfigSchema } from '../core/plugins/index.ts';
import { DevicesConfigSchema } from '../sites/device-health.ts';

export const EdgeadmConfigSchema = Type.Object(
  {
    log: LogConfigSchema,
    kernel: KernelConfigSchema,
    plugins: PluginsConfigSchema,
    /** How a site agent judges its devices (`edgeadm site run`, `edgeadm join`). */
    devices: DevicesConfigSchema,
  },
  { additionalProperties: false },
);
export type EdgeadmConfig = Static<typeof EdgeadmConfigSchema>;

/** The variables `hub run` takes database and broker URLs from, after EDGEADM_ (a password in arguments shows in the process list). */
export const HUB_RUN_ENV = { telemetry: 'TELEMETRY', state: 'STATE', export: 'EXPORT' } as const;

/** Variables under EDGEADM_ that are not config fields. */
export const RESERVED_ENV = ['CONFIG', 'OUTPUT', 'TOKEN', 'HUB', 'CA_FILE', 'USER_CONFIG', ...Object.values(HUB_RUN_ENV)] as const;

export function readConfig(file: string | undefined, overrides: Record<string, unknown> = {}): Readonly<EdgeadmConfig> {
  return loadConfig({
    schema: EdgeadmConfigSchema,
    // An empty --config or EDGEADM_CONFIG means no file.
    file: file || process.env.EDGEADM_CONFIG || undefined,
    reservedEnv: RESERVED_ENV,
    overrides,
  });
}
