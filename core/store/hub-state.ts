/**
 * What the hub keeps in a cluster besides the store's kinds (kube mode): the
 * Command CRD of its queued device commands, and the names of the Secrets it
 * owns. Kept here, beside the store's CRDs, so `edgeadm manifests` prints
 * them without loading the hub.
 */
import Type from 'typebox';
import { crdFromSchema } from './crds.ts';

export const COMMAND_GROUP = 'edgeadm.io';
export const COMMAND_VERSION = 'v1alpha1';
export const COMMAND_PLURAL = 'commands';
/** The Secret holding the first admin token in clear, for the operator to read once (as Argo CD's argocd-initial-admin-secret). */
export const INITIAL_ADMIN_SECRET = 'edgeadm-initial-admin-token';
/** The Secret holding the credential hub replicas present to each other. */
export const PEER_SECRET = 'edgeadm-hub-peer';
/** What a queued command does, and the states it goes through (the hub's command queue, both drivers). */
export const COMMAND_KINDS = ['write', 'read'] as const;
export const COMMAND_STATES = ['pending', 'delivered', 'succeeded', 'failed', 'expired'] as const;

const CommandSpecSchema = Type.Object(
  {
    site: Type.String({ minLength: 1, description: 'The site the command goes to.' }),
    device: Type.String({ minLength: 1 }),
    kind: Type.Union(COMMAND_KINDS.map((k) => Type.Literal(k))),
    resource: Type.Optional(Type.String({ description: 'The resource a write writes.' })),
    value: Type.Optional(Type.Unknown({ description: 'The value a write writes.' })),
    resources: Type.Optional(Type.Array(Type.String(), { description: 'What a read reads (none: every readable resource).' })),
    createdAt: Type.String({ description: 'RFC 3339, ms.' }),
    expiresAt: Type.String({ description: 'RFC 3339, ms.' }),
    sequence: Type.Integer({ minimum: 0, description: "The enqueueing replica's order: microseconds since the epoch, strictly increasing per replica." }),
  },
  { additionalProperties: false },
);

const CommandStatusSchema = Type.Object(
  {
    state: Type.Union(COMMAND_STATES.map((s) => Type.Literal(s))),
    result: Type.Optional(
      Type.Object(
        {
          reported: Type.Optional(Type.Unknown()),
          error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The Command CRD: hub state in kube mode (installed with the store's CRDs, listed by `edgeadm manifests crds`). */
export function commandCrd(): Record<string, unknown> {
  return crdFromSchema({
    group: COMMAND_GROUP,
    version: COMMAND_VERSION,
    kind: 'Command',
    plural: COMMAND_PLURAL,
    shortNames: ['edgecmd'],
    scope: 'Namespaced',
    specSchema: CommandSpecSchema,
    statusSchema: CommandStatusSchema,
    printerColumns: [
      { name: 'Site', type: 'string', jsonPath: '.spec.site' },
      { name: 'Device', type: 'string', jsonPath: '.spec.device' },
      { name: 'Kind', type: 'string', jsonPath: '.spec.kind' },
      { name: 'State', type: 'string', jsonPath: '.status.state' },
    ],
    categories: ['edgeadm'],
  });
}

