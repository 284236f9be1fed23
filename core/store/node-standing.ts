/**
 * How a node and a site stand, from the hub's view (is the node's tunnel
 * up, does its site's agent hold a session) and the peers' vote
 * (`status.health`, core/health). One rule for the CLI (`edgeadm node
 * list`, `edgeadm status`) and the hub; the console's copy in
 * core/console/web/model.js names this file.
 *
 * The point is to tell two things apart that look alike from the cloud:
 * a site cut off whose nodes are fine ("site disconnected, nodes healthy")
 * and a node that is down ("node down"). The last vote stands while a site
 * is cut off: its peers cannot report a change the cloud cannot hear.
 */
import type { NodeStatus } from './schemas.ts';

export type NodeStanding =
  /** Its tunnel is up, and its peers do not vote it down. */
  | 'connected'
  /** Its tunnel is up, but its peers cannot reach it (a split inside the site). */
  | 'connected, peers vote unhealthy'
  /** Its tunnel is down; its peers vote it healthy (the cloud link is what failed). */
  | 'disconnected, peers vote healthy'
  /** Its tunnel is down and its peers vote it unhealthy. */
  | 'down'
  /** Its tunnel is down and no vote says more. */
  | 'disconnected';

interface NodeLike {
  metadata: { name: string };
  spec: { site: string };
  status?: Pick<NodeStatus, 'connected' | 'health'>;
}

export function nodeStanding(n: NodeLike): NodeStanding {
  const verdict = n.status?.health?.verdict;
  if (n.status?.connected === true) return verdict === 'unhealthy' ? 'connected, peers vote unhealthy' : 'connected';
  return verdict === 'healthy' ? 'disconnected, peers vote healthy' : verdict === 'unhealthy' ? 'down' : 'disconnected';
}

/** The site in a phrase: whether it is cut off, and which of its nodes are down. */
export function siteStanding(site: { metadata: { name: string }; status?: { phase?: string } }, nodes: readonly NodeLike[]): string {
  const mine = nodes.filter((n) => n.spec.site === site.metadata.name);
  const down = mine.filter((n) => n.status?.health?.verdict === 'unhealthy').map((n) => n.metadata.name);
  const voted = mine.filter((n) => n.status?.health !== undefined);
  const phase = site.status?.phase ?? 'Pending';
  if (phase === 'Online') return down.length > 0 ? `online, node down: ${down.join(', ')}` : 'online';
  if (phase !== 'Offline') return 'never connected';
  if (down.length > 0) return `site disconnected, node down: ${down.join(', ')}`;
  if (voted.length > 0 && voted.length === mine.length && voted.every((n) => n.status?.health?.verdict === 'healthy')) return 'site disconnected, nodes healthy';
  return 'site disconnected';
}
