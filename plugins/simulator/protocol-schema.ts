/**
 * The simulator's protocol block as a JSON schema (`definePlugin({ protocols })`):
 * the console's forms, the hub's check of Device writes, and how the driver
 * reads the block (driver.ts reads it through this schema).
 */
import { Type, type TSchema } from '../../core/sdk/index.ts';

export const SIMULATOR_PROTOCOL = 'simulator';

export const SIMULATOR_PROTOCOL_SCHEMA: TSchema = Type.Object(
  {
    seed: Type.Optional(Type.Number({ default: 1, description: 'Makes `random` repeatable: devices with the same seed draw the same values.' })),
  },
  { description: 'Keys match in any letter case; the seed may be a string ("7"), as EdgeX writes it.' },
);
