/** The kernel's own config sections (`log`, `kernel`), kept out of index.ts so that importing the index costs nothing unused. */
import Type from 'typebox';
import { LOG_LEVELS } from './log-levels.ts';

/** The kernel's own config section (`log`, `kernel`). */
export const LogConfigSchema = Type.Object(
  {
    level: Type.Union(
      LOG_LEVELS.map((l) => Type.Literal(l)),
      { default: 'info', description: 'Minimum level written to standard error.' },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const KernelConfigSchema = Type.Object(
  {
    startTimeoutMs: Type.Integer({ minimum: 1, default: 30_000, description: 'Start timeout of each core component.' }),
    shutdownBudgetMs: Type.Integer({ minimum: 1, default: 15_000, description: 'Time allowed for the whole stop.' }),
  },
  { additionalProperties: false, default: {} },
);
