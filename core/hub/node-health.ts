/**
 * The peers' votes, recorded at the hub. A site's agents report the verdicts
 * of the vote on the nodes their nodes check (core/health); the hub writes
 * each onto that Node's `status.health`, and in Kubernetes mode onto the
 * Kubernetes Node as annotations (SuperEdge's `nodeunhealth`, and
 * `health.edgeadm.io/verdict` that the admission webhook reads).
 *
 * Who may say what: an agent speaks for its own site only (the sync session
 * is authorized for it), so a verdict about another site's node, or about a
 * node that does not exist, is ignored and logged. A verdict older than the
 * one recorded (by its newest vote) does not replace it. A node's own agent
 * never reports on itself (a vote on oneself counts for nothing).
 */
import { toErrorInfo, type Logger } from '../kernel/index.ts';
import { NODE_UNHEALTH_ANNOTATION, NODE_UNHEALTH_VALUE, VERDICT_ANNOTATION, VOTED_AT_ANNOTATION } from '../health/index.ts';
import { kubeFailure, openKubeClient, StoreErrors, type HealthVerdict, type KubeClient, type NodeObject, type NodeStatus, type ResourceStore } from '../store/index.ts';

export type NodeAnnotator = (node: string, verdict: HealthVerdict) => Promise<void>;

export interface NodeHealthRecorderOptions {
  store: ResourceStore;
  logger: Logger;
  /** Kubernetes mode: writes the verdict onto the Kubernetes Node. */
  annotate?: NodeAnnotator;
}

const same = (a: NonNullable<NodeStatus['health']> | undefined, v: HealthVerdict): boolean =>
  a !== undefined && a.verdict === v.verdict && a.pros === v.pros && a.cons === v.cons && a.expected === v.expected;

export class NodeHealthRecorder {
  readonly #o: NodeHealthRecorderOptions;

  constructor(o: NodeHealthRecorderOptions) {
    this.#o = o;
  }

  /** Records what one agent of `site` reported; returns the nodes recorded and those ignored. */
  async record(site: string, producer: string, verdicts: readonly HealthVerdict[]): Promise<{ recorded: string[]; ignored: string[] }> {
    const recorded: string[] = [];
    const ignored: string[] = [];
    for (const v of verdicts) {
      const r = await this.#one(site, producer, v).catch((err: unknown) => {
        this.#o.logger.warn({ site, node: v.node, error: toErrorInfo(err) }, 'health verdict not recorded');
        return 'failed' as const;
      });
      if (r === 'recorded') recorded.push(v.node);
      else if (r === 'ignored') ignored.push(v.node);
    }
    return { recorded, ignored };
  }

  async #one(site: string, producer: string, v: HealthVerdict): Promise<'recorded' | 'unchanged' | 'ignored'> {
    if (producer === `node:${v.node}`) return 'ignored';
    for (let attempt = 0; attempt < 5; attempt++) {
      const node = await this.#o.store.get<NodeObject>('Node', v.node);
      if (!node || node.spec.site !== site) {
        this.#o.logger.warn({ site, producer, node: v.node }, "a site's agent reported on a node that is not the site's: ignored");
        return 'ignored';
      }
      const cur = node.status?.health;
      if (same(cur, v)) return 'unchanged';
      // An older vote (a report delayed or resent) does not replace a newer one.
      if (cur?.votedAt !== undefined && v.votedAt !== undefined && Date.parse(v.votedAt) < Date.parse(cur.votedAt)) return 'unchanged';
      const { node: _node, ...rest } = v;
      const health: NonNullable<NodeStatus['health']> = { ...rest, reportedBy: producer, reportedAt: new Date().toISOString() };
      try {
        await this.#o.store.updateStatus('Node', v.node, { ...(node.status ?? {}), health }, { resourceVersion: node.metadata.resourceVersion! });
      } catch (err) {
        if (StoreErrors.ErrConflict.is(err)) continue;
        throw err;
      }
      if (cur?.verdict !== v.verdict) {
        this.#o.logger.info({ site, node: v.node, verdict: v.verdict, pros: v.pros, cons: v.cons, expected: v.expected, reportedBy: producer }, 'node health verdict');
        if (this.#o.annotate && v.verdict !== 'unknown') await this.#o.annotate(v.node, v);
      }
      return 'recorded';
    }
    return 'unchanged';
  }
}

/**
 * Kubernetes mode: the verdict as annotations on the Kubernetes Node of the
 * same name (merge patch). A node that is not a Kubernetes node (a site's
 * agent on a plain machine) is skipped.
 */
export async function kubeNodeAnnotator(kubeConfig: Parameters<typeof openKubeClient>[0], logger: Logger): Promise<{ annotate: NodeAnnotator; close(): Promise<void> }> {
  const client: KubeClient = await openKubeClient(kubeConfig);
  return {
    async annotate(name, v) {
      const annotations: Record<string, string | null> = {
        [VERDICT_ANNOTATION]: v.verdict,
        [VOTED_AT_ANNOTATION]: v.votedAt ?? new Date().toISOString(),
        [NODE_UNHEALTH_ANNOTATION]: v.verdict === 'unhealthy' ? NODE_UNHEALTH_VALUE : null,
      };
      try {
        await client.core.patchNode({ name, body: { metadata: { annotations } } }, client.k8s.setHeaderOptions('Content-Type', client.k8s.PatchStrategy.MergePatch));
      } catch (err) {
        if (kubeFailure(err).status === 404) {
          logger.debug({ node: name }, 'no Kubernetes node of that name: its verdict stays at the hub');
          return;
        }
        throw err;
      }
    },
    close: () => client.close(),
  };
}
