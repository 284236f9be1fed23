/**
 * The site's own EdgeX (the one `services` runs) as the bridge reaches it,
 * as mode `bridge` reaches an existing one:
 *
 * - Compose (an embedded hub's node): the ports the project publishes on
 *   loopback (core-metadata, core-command, the bus on `busPort`, the
 *   secret store);
 * - Kubernetes (the grid runs the containers; this is the site half): the
 *   cluster IPs of the ServiceGrids' Services (`<addon>-<service>-svc`),
 *   read as the node through its lite-apiserver, so they resolve while the
 *   cloud is away once they resolved.
 *
 * In secure mode the bridge is a service of that EdgeX (service key
 * edgeadm-bridge): its token is read in the secret-store setup's container
 * (Compose) or from the node's folder of tokens (Kubernetes: the site's
 * EdgeX pods all run on one node, whose agent reads it).
 */
import { readFile } from 'node:fs/promises';
import type { ClusterServices } from '../../../../core/sdk/index.ts';
import { resolveBridgeConfig, type ResolvedBridgeConfig } from '../bridge/config.ts';
import { createSecretStoreIdentity, type SecretStoreIdentity } from '../bridge/secret-store.ts';
import { HOST_DATA_DIR, kubeServiceName } from './kube.ts';
import { EDGEX_SERVICES } from './release.ts';
import { BRIDGE_SERVICE_KEY, SECRETS_PATH, TOKEN_FILE } from './secure.ts';
import { SECRETS_VOLUME, type EdgeXServicesConfig } from './services.ts';
import type { SiteServices } from './site.ts';

export interface OwnEdgeX {
  config: ResolvedBridgeConfig;
  /** Secure mode: the bridge's identity in the secret store. */
  identity?: SecretStoreIdentity;
}

const CALLS = { pollInterval: '30s', timeout: '10s', maxRetryInterval: '5m' } as const;
const tokenPath = `${SECRETS_PATH}/${BRIDGE_SERVICE_KEY}/${TOKEN_FILE}`;

/** On the node's container runtime: its Compose project's loopback ports. */
export function composeEdgeX(services: EdgeXServicesConfig, project: SiteServices): OwnEdgeX {
  const config = resolveBridgeConfig({
    metadataUrl: `http://127.0.0.1:${EDGEX_SERVICES['core-metadata'].port}`,
    commandUrl: `http://127.0.0.1:${EDGEX_SERVICES['core-command'].port}`,
    messageBus: { url: `mqtt://127.0.0.1:${services.busPort}` },
    ...CALLS,
  });
  if (!services.secure) return { config };
  const identity = createSecretStoreIdentity({
    url: `http://127.0.0.1:${EDGEX_SERVICES['secret-store'].port}`,
    serviceKey: BRIDGE_SERVICE_KEY,
    readTokenFile: () => project.readFile('security-secretstore-setup', tokenPath),
    timeoutMs: 10_000,
  });
  return { config, identity };
}

/** As grids: the Services' cluster IPs; throws EDGE_ERR_CLUSTER_SERVICE while one does not resolve. */
export async function gridEdgeX(services: EdgeXServicesConfig, addon: string, cluster: ClusterServices, o: { tokenRoot?: string } = {}): Promise<OwnEdgeX> {
  const at = async (service: keyof typeof EDGEX_SERVICES): Promise<string> => {
    const a = await cluster.address(kubeServiceName(addon, service), EDGEX_SERVICES[service].port!);
    return `${a.host}:${a.port}`;
  };
  const [metadata, command, bus] = await Promise.all([at('core-metadata'), at('core-command'), at('mqtt-broker')]);
  const config = resolveBridgeConfig({ metadataUrl: `http://${metadata}`, commandUrl: `http://${command}`, messageBus: { url: `mqtt://${bus}` }, ...CALLS });
  if (!services.secure) return { config };
  const store = await at('secret-store');
  // The node's folder of tokens, where the grid mounts secretstore-setup's (kube.ts).
  const file = `${o.tokenRoot ?? `${HOST_DATA_DIR}/${addon}/${SECRETS_VOLUME}`}/${BRIDGE_SERVICE_KEY}/${TOKEN_FILE}`;
  const identity = createSecretStoreIdentity({
    url: `http://${store}`,
    serviceKey: BRIDGE_SERVICE_KEY,
    readTokenFile: async () => {
      try {
        return await readFile(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'failed';
        throw new Error(`${file} (${code}): the site's EdgeX pods run on another node, or its agent may not read it`, { cause: err });
      }
    },
    timeoutMs: 10_000,
  });
  return { config, identity };
}
