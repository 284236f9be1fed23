/**
 * The test kit's coded errors: what a test asked for that the kit cannot
 * give (an instance, a driver, readings that never came), each naming it.
 */
import { createError } from '../../kernel/index.ts';

export const ErrNoInstance = createError(
  'EDGE_ERR_TESTKIT_NO_INSTANCE',
  (p: { instance: string; known: string[] }) => `no plugin instance '${p.instance}' (known: ${p.known.length === 0 ? 'none' : p.known.join(', ')})`,
  { statusCode: 404 },
);

export const ErrNoDriver = createError(
  'EDGE_ERR_TESTKIT_NO_DRIVER',
  (p: { protocol: string; site: string; registered: string[] }) =>
    `no driver is registered for protocol '${p.protocol}' at site '${p.site}' (registered: ${p.registered.length === 0 ? 'none' : p.registered.join(', ')}); is the plugin running?`,
  { statusCode: 404 },
);

export const ErrWaitTimeout = createError(
  'EDGE_ERR_TESTKIT_TIMEOUT',
  (p: { what: string; ms: number; seen: string }) => `waited ${p.ms} ms for ${p.what}: ${p.seen}`,
  { statusCode: 504 },
);

/** A site storage folder asked for a name that is not a plugin id. */
export const ErrStorageName = createError(
  'EDGE_ERR_SITE_STORAGE_NAME',
  (p: { name: string }) => `'${p.name}' is not a plugin id: a plugin's folder of the site's storage is named by its plugin id`,
  { statusCode: 400 },
);
