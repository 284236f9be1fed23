/** The SDK's coded errors: what the site services answer plugins with. */
import { createError } from '../kernel/index.ts';

/**
 * Readings the site could not store (its disk is full or failing). Nothing of
 * the batch was kept; the site is degraded until its storage works again.
 */
export const ErrReadingsNotStored = createError(
  'EDGE_ERR_READINGS_NOT_STORED',
  (p: { count: number; device?: string; reason: string }) =>
    `${p.count} reading${p.count === 1 ? '' : 's'}${p.device === undefined ? '' : ` of device '${p.device}'`} not stored: ${p.reason}`,
  { statusCode: 507 },
);
