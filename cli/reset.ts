/**
 * `edgeadm reset`: undo `edgeadm join` on an edge node. Removes what join
 * made — node.json, node.credential, hub-ca.crt and the systemd unit of
 * `join --install` (stopped and disabled first) — and, with `--purge`, the
 * whole data directory: the site's replica, the outbox (telemetry not yet
 * sent), the broker's sessions. When a hub and its admin credentials are at
 * hand (--hub/--token, or the current context when it is the node's hub), the
 * Node is deleted there too, which revokes its credential; best effort,
 * reported either way. Asks before it removes anything, unless --yes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { EdgeError } from '../core/kernel/index.ts';
import { hubFetch, hubTarget, withHubOptions, type HubTarget } from './client.ts';
import { contextOf } from './context.ts';
import { ErrResetAborted, ErrUsage } from './errors.ts';
import { DEFAULT_NODE_DATA_DIR, DEFAULT_UNIT_DIR, NODE_UNIT_NAME, type NodeIdentity } from './join.ts';
import { steps } from './progress.ts';
import { examples, summary } from './commands.ts';

/** The files `join` writes into a node's data directory. */
export const JOIN_FILES = ['node.json', 'node.credential', 'hub-ca.crt'] as const;

interface ResetOptions {
  dataDir: string;
  purge?: boolean;
  yes?: boolean;
  hub?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
  context?: string;
}

function readIdentity(file: string): NodeIdentity | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<NodeIdentity>;
    return typeof v.node === 'string' && typeof v.site === 'string' && typeof v.hub === 'string' ? (v as NodeIdentity) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The hub to delete the Node at: the one given with --hub, or the context's
 * when it is the node's own hub. Undefined, with the reason, when there is none.
 */
function hubFor(identity: NodeIdentity, o: ResetOptions): { target?: HubTarget; reason?: string } {
  try {
    const target = hubTarget(o);
    if (!o.hub && new URL(target.url).origin !== identity.hub) return { reason: `the current context is another hub (${target.url}); give --hub ${identity.hub} with an admin token` };
    // The node's own copy of the hub's CA serves when no other is given.
    if (!target.ca && identity.caFile && new URL(target.url).origin === identity.hub && existsSync(identity.caFile)) return { target: { ...target, ca: readFileSync(identity.caFile, 'utf8') } };
    return { target };
  } catch (err) {
    if (!o.hub && ErrUsage.is(err) && (err.params as { argument?: string }).argument === '--hub') {
      return { reason: `no hub credentials (give --hub ${identity.hub} with an admin token, or use a context for it)` };
    }
    return { reason: err instanceof Error ? err.message : String(err) };
  }
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

function systemctlAvailable(): boolean {
  return spawnSync('systemctl', ['--version'], { stdio: 'ignore' }).status === 0;
}

export function registerReset(program: Command): void {
  const cmd = withHubOptions(
    program
      .command('reset')
      .description(summary('reset'))
      .option('--data-dir <dir>', "the node's data directory (as given to join)", DEFAULT_NODE_DATA_DIR)
      .option('--purge', "also remove the data directory: the site's replica and the outbox with any telemetry not yet sent")
      .option('-y, --yes', 'do not ask for confirmation'),
  ).action(async (o: ResetOptions, command: Command) => {
    const ctx = contextOf(command);
    if (o.dataDir === '') throw new ErrUsage({ argument: '--data-dir', reason: 'must not be empty' });
    const dataDir = path.resolve(o.dataDir);
    if (o.purge && (dataDir === path.parse(dataDir).root || ['/var', '/var/lib', '/etc', '/usr', '/home'].includes(dataDir))) {
      throw new ErrUsage({ argument: '--data-dir', reason: `refusing to purge '${dataDir}'` });
    }
    const identity = readIdentity(path.join(dataDir, 'node.json'));
    const files = JOIN_FILES.map((f) => path.join(dataDir, f)).filter((f) => existsSync(f));
    const unitFile = identity?.unitFile && existsSync(identity.unitFile) ? identity.unitFile : undefined;
    const purge = Boolean(o.purge) && existsSync(dataDir);
    if (files.length === 0 && !unitFile && !purge) {
      ctx.out.write(`nothing to reset: ${dataDir} holds no joined node\n`);
      return;
    }
    if (!o.yes) {
      if (!process.stdin.isTTY) throw new ErrUsage({ argument: '--yes', reason: 'reset removes this node\'s credential and asks first; on a non-interactive run add --yes' });
      const what = [...(unitFile ? [unitFile] : []), ...(purge ? [`${dataDir} (everything in it)`] : files)];
      const who = identity ? `node '${identity.node}' of site '${identity.site}' at ${identity.hub}` : `the node in ${dataDir}`;
      if (!(await confirm(`Reset ${who}? This removes:\n  ${what.join('\n  ')}\n`))) throw new ErrResetAborted({});
    }

    const progress = steps();
    const report: string[] = [];
    if (unitFile) {
      await progress.step(`Stop and disable ${NODE_UNIT_NAME}`, (s) => {
        if (path.dirname(unitFile) !== DEFAULT_UNIT_DIR || !systemctlAvailable()) {
          s.skip(`not managed by systemd here`);
          return;
        }
        const r = spawnSync('systemctl', ['disable', '--now', NODE_UNIT_NAME], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
        if (r.status !== 0) {
          throw new EdgeError('EDGE_ERR_RESET_SYSTEMD', `\`systemctl disable --now ${NODE_UNIT_NAME}\` failed: ${r.stderr.trim() || `exit ${r.status ?? r.signal}`}; stop the service, then run reset again`, {}, 500);
        }
      });
    }
    if (identity) {
      await progress.step(`Delete Node '${identity.node}' at the hub`, async (s) => {
        const { target, reason } = hubFor(identity, o);
        if (!target) {
          s.skip(`skipped: ${reason}`);
          report.push(`the hub may still list node '${identity.node}': delete it there (DELETE /api/v1/nodes/${identity.node}) to revoke its credential`);
          return;
        }
        try {
          await hubFetch(target, 'DELETE', `/api/v1/nodes/${encodeURIComponent(identity.node)}`);
          s.note('deleted; its credential is revoked');
        } catch (err) {
          if (err instanceof EdgeError && err.statusCode === 404) {
            s.note('not there');
            return;
          }
          const msg = err instanceof EdgeError ? `[${err.code}] ${err.message}` : String(err);
          s.skip(`failed: ${msg}`);
          report.push(`the hub still lists node '${identity.node}': delete it there (DELETE /api/v1/nodes/${identity.node}) to revoke its credential`);
        }
      });
    }
    if (unitFile) {
      await progress.step(`Remove ${unitFile}`, () => {
        rmSync(unitFile, { force: true });
        if (path.dirname(unitFile) === DEFAULT_UNIT_DIR && systemctlAvailable()) spawnSync('systemctl', ['daemon-reload'], { stdio: 'ignore' });
      });
    }
    if (files.length > 0) {
      await progress.step('Remove the node credential, identity and hub CA', (s) => {
        for (const f of files) rmSync(f, { force: true });
        s.note(files.map((f) => path.basename(f)).join(', '));
      });
    }
    if (purge) {
      await progress.step(`Remove ${dataDir}`, () => {
        rmSync(dataDir, { recursive: true, force: true });
      });
    }
    ctx.out.write(
      `${identity ? `node '${identity.node}' of site '${identity.site}'` : dataDir} reset` +
        (purge ? `; ${dataDir} removed` : `; the agent's data stays in ${dataDir} (--purge removes it)`) +
        '\n' +
        report.map((r) => `note: ${r}\n`).join(''),
    );
  });
  examples(cmd, ['edgeadm reset', 'edgeadm reset --data-dir /srv/edgeadm/node --yes', 'edgeadm reset --purge --yes --hub https://hub:7443 --token-file admin.token']);
}
