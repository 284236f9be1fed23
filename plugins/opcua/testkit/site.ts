/**
 * Helpers for running the opcua plugin in a demo or test site from outside
 * the plugin: route node-opcua's own log lines into a pino logger, and trust
 * a server certificate in a site agent's data directory as
 * `edgeadm opcua trust` does (`<dataDir>/plugins/opcua/pki`).
 */
import path from 'node:path';
import { openTrustStore, type CertInfo } from '../src/security.ts';

export { routeOpcuaLogs } from '../src/logs.ts';

/** Trusts the server certificate in `certFile` (PEM or DER) for the site agent whose data directory is `siteDataDir`; returns its thumbprint. */
export async function trustServerCertificate(siteDataDir: string, certFile: string): Promise<CertInfo> {
  return openTrustStore(path.join(siteDataDir, 'plugins', 'opcua', 'pki')).trust(certFile);
}
