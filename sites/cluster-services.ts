/**
 * clusterServicesRef at a site agent: a Service's cluster IP and port, read
 * as the node through its lite-apiserver (LiteApiserver.nodeGet: the
 * upstream while it answers, its cache while it does not).
 */
import { isEdgeError, type ClusterServiceAddress, type ClusterServices } from '../core/sdk/index.ts';
import { ErrClusterService } from './errors.ts';

/** The node's own GETs of the cluster's API (the lite-apiserver's nodeGet); undefined when it runs none. */
export type NodeGet = (pathAndQuery: string) => Promise<{ status: number; body: unknown }>;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const seg = encodeURIComponent;

export function clusterServices(nodeGet: () => NodeGet | undefined): ClusterServices {
  return {
    get available() {
      return nodeGet() !== undefined;
    },
    async address(name, port, namespace): Promise<ClusterServiceAddress> {
      const service = namespace === undefined ? name : `${namespace}/${name}`;
      const fail = (reason: string): never => {
        throw new ErrClusterService({ service, reason });
      };
      const get = nodeGet();
      if (get === undefined) return fail('this node runs no lite-apiserver (join it with --kubeconfig to make it a Kubernetes-mode node)');
      const path = namespace === undefined ? `/api/v1/services?fieldSelector=${seg(`metadata.name=${name}`)}` : `/api/v1/namespaces/${seg(namespace)}/services/${seg(name)}`;
      let answer: { status: number; body: unknown };
      try {
        answer = await get(path);
      } catch (err) {
        return fail(isEdgeError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err));
      }
      if (answer.status === 404) return fail('there is no such Service');
      if (answer.status !== 200) return fail(`the API server answered ${answer.status}`);
      const items = namespace === undefined ? (isObj(answer.body) && Array.isArray(answer.body.items) ? answer.body.items.filter(isObj) : []) : isObj(answer.body) ? [answer.body] : [];
      if (items.length === 0) return fail('there is no such Service');
      if (items.length > 1) {
        const spaces = items.map((i) => (isObj(i.metadata) ? String(i.metadata.namespace) : '?')).sort();
        return fail(`one is in each of the namespaces ${spaces.join(', ')}: name its namespace`);
      }
      const spec = isObj(items[0]!.spec) ? items[0]!.spec : {};
      const ip = spec.clusterIP;
      if (typeof ip !== 'string' || ip === '' || ip === 'None') return fail('it has no cluster IP (headless or ExternalName)');
      const ports = Array.isArray(spec.ports) ? spec.ports.filter(isObj) : [];
      if (!ports.some((p) => p.port === port)) return fail(`it has no port ${port} (${ports.map((p) => String(p.port)).join(', ') || 'none'})`);
      return { host: ip, port };
    },
  };
}
