/** The driver's own coded errors (profile, codec and bus errors live beside their code). */
import { createError, type DriverIssue } from '../../../core/sdk/index.ts';

export const ErrReadOnly = createError(
  'EDGE_ERR_MODBUS_READ_ONLY',
  (p: { resource: string; table: string }) => `resource '${p.resource}' is read-only (${p.table}, or readWrite R)`,
  { statusCode: 400 },
);

export const ErrDeviceInvalid = createError(
  'EDGE_ERR_MODBUS_DEVICE_INVALID',
  (p: { device: string; issues: readonly DriverIssue[] }) =>
    `device '${p.device}' cannot be used: ${p.issues.map((i) => `${i.path}: ${i.message}`).join('; ') || 'its protocol block is incomplete'}`,
  { statusCode: 400 },
);

export const ErrDiscovery = createError(
  'EDGE_ERR_MODBUS_DISCOVERY_REQUEST',
  (p: { field: string; reason: string }) => `modbus discovery: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);
