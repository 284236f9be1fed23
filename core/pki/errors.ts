/** The certificate authority's coded errors. Each names the file, argument or field it is about. */
import { createError } from '../kernel/index.ts';

/**
 * A certificate or key that cannot be used: unreadable or corrupt PEM, a key
 * that does not match its certificate, a CA certificate that is not a CA, a
 * certificate not signed by the CA, one half of a CA pair missing.
 * `source` is a file path, or an argument name such as `ca.certPem`.
 */
export const ErrInvalid = createError(
  'EDGE_ERR_PKI_INVALID',
  (p: { source: string; problem: string }) => `'${p.source}' ${p.problem}`,
);

/** A CA certificate past its notAfter: nothing it signs would be trusted. */
export const ErrExpired = createError(
  'EDGE_ERR_PKI_EXPIRED',
  (p: { source: string; notAfter: string }) =>
    `'${p.source}' expired at ${p.notAfter}; a new CA is needed, and every certificate must be re-issued from it`,
);

/** A common name, organization, DNS name or IP address that cannot go into a certificate. */
export const ErrInvalidName = createError(
  'EDGE_ERR_PKI_INVALID_NAME',
  (p: { field: string; value: string; problem: string }) => `${p.field} '${p.value}' ${p.problem}`,
  { statusCode: 400 },
);

/** An option out of range or of the wrong type (days, usage, hosts, options object). */
export const ErrOption = createError(
  'EDGE_ERR_PKI_OPTION',
  (p: { option: string; problem: string }) => `option '${p.option}' ${p.problem}`,
  { statusCode: 400 },
);

/** A file or directory of the PKI folder that cannot be read, written or protected. */
export const ErrFile = createError(
  'EDGE_ERR_PKI_FILE',
  (p: { file: string; operation: 'read' | 'write' | 'create directory' | 'chmod'; reason: string }) =>
    `cannot ${p.operation} '${p.file}': ${p.reason}`,
);
