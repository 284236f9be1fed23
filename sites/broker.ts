/** The site-local MQTT broker (aedes) that devices and plugins use. */
import { createServer, type AddressInfo, type Server } from 'node:net';

export interface SiteBrokerHandle {
  url: string;
  close(): Promise<void>;
}

export async function startSiteBroker(opts: { host: string; port: number }): Promise<SiteBrokerHandle> {
  // Loaded on use: a site without a broker does not carry it.
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtt://${opts.host}:${port}`,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
