/** `edgeadm site run`: the site agent in the foreground. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { dns1123LabelProblem } from '../core/store/index.ts';
import { hubTarget } from './client.ts';
import { contextOf, parseListenHost, parsePort } from './context.ts';
import { ErrUsage } from './errors.ts';
import { waitForSignal } from './signals.ts';
import { examples, LEAN_HELP, summary } from './commands.ts';

/** Site and node names: DNS-1123 labels, the store's rule. */
const isLabel = (name: string): boolean => dns1123LabelProblem(name) === undefined;

export function registerSite(program: Command): Command {
  const group = program.command('site').description(summary('site'));
  examples(group, ['edgeadm site run --site plant-a --hub https://hub.example:7443 --token-file /etc/edgeadm/site.token']);
  const run = group
    .command('run')
    .description('Run the site agent in the foreground until Ctrl-C: replica, plugins, devices, outbox, uplink')
    .requiredOption('--site <name>', 'the site this agent serves')
    .addOption(new Option('--hub <url>', 'hub URL').env('EDGEADM_HUB'))
    .addOption(new Option('--token <token>', "the site's agent token (prefer --token-file or EDGEADM_TOKEN)").env('EDGEADM_TOKEN'))
    .option('--token-file <file>', "read the site's agent token from this file")
    .option('--data-dir <dir>', 'where the agent keeps its replica and outbox', '.data/site')
    .option('--broker-port <port>', 'site MQTT broker port (0 = any free port)', '1883')
    .option('--broker-host <address>', 'address the site MQTT broker listens on: 0.0.0.0 for devices on the network (every client must log in)', '127.0.0.1')
    .option('--no-broker', 'run without a site MQTT broker')
    .option('--metrics-port <port>', "serve the agent's Prometheus metrics on 127.0.0.1:<port>/metrics")
    .option('--lean', LEAN_HELP)
    .addOption(new Option('--uplink <kind>', 'how readings go upstream: to the hub (rest, mqtt) or to an external broker (bridge)').choices(['rest', 'mqtt', 'bridge']).default('rest'))
    .option('--uplink-mqtt-url <url>', 'the hub MQTT ingest URL, for --uplink mqtt; the external broker, for --uplink bridge')
    .option('--bridge-username <name>', 'user name at the external broker, for --uplink bridge')
    .addOption(new Option('--bridge-password-file <file>', 'file holding the password at the external broker, for --uplink bridge'))
    .option('--bridge-topic <template>', 'topic template, for --uplink bridge (default edgeadm/{site}/{device}/{resource})')
    .option('--plugin-path <dir...>', 'extra folders of plugin packages')
    .option('--node <name>', "reach the hub only through this node's tunnel (the token is then the node credential from `edgeadm join`)")
    .option('--allow <host:port...>', 'with --node: what the cloud may open on this node (default 127.0.0.1:22 and 127.0.0.1:10250)')
    .addOption(new Option('--ca-file <file>', "the hub's CA certificate (PEM)").env('EDGEADM_CA_FILE'))
    .action(
      async (
        opts: {
          site: string;
          hub?: string;
          token?: string;
          tokenFile?: string;
          caFile?: string;
          node?: string;
          allow?: string[];
          dataDir: string;
          brokerPort: string;
          brokerHost: string;
          broker: boolean;
          metricsPort?: string;
          lean?: boolean;
          uplink: 'rest' | 'mqtt' | 'bridge';
          uplinkMqttUrl?: string;
          bridgeUsername?: string;
          bridgePasswordFile?: string;
          bridgeTopic?: string;
          pluginPath?: string[];
        },
        cmd: Command,
      ) => {
        const ctx = contextOf(cmd);
        if (!isLabel(opts.site)) throw new ErrUsage({ argument: '--site', reason: `'${opts.site}' is not a site name (lowercase letters, digits and '-', at most 63)` });
        const target = hubTarget(opts);
        if (opts.node !== undefined && !isLabel(opts.node)) throw new ErrUsage({ argument: '--node', reason: `'${opts.node}' is not a node name` });
        if (opts.caFile && !opts.node) throw new ErrUsage({ argument: '--ca-file', reason: "the hub's own CA is used through the tunnel: add --node (direct connections trust the system's CAs)" });
        if (opts.allow && !opts.node) throw new ErrUsage({ argument: '--allow', reason: 'only with --node' });
        if (opts.uplink === 'bridge' && !opts.uplinkMqttUrl) throw new ErrUsage({ argument: '--uplink-mqtt-url', reason: 'required with --uplink bridge: the external broker, e.g. mqtt://broker:1883' });
        let bridgePassword: string | undefined;
        if (opts.bridgePasswordFile) {
          try {
            bridgePassword = readFileSync(opts.bridgePasswordFile, 'utf8').trim();
          } catch (err) {
            throw new ErrUsage({ argument: '--bridge-password-file', reason: `cannot read '${opts.bridgePasswordFile}': ${(err as Error).message}` });
          }
        }
        if (opts.uplink === 'mqtt' && !opts.uplinkMqttUrl && !opts.node) throw new ErrUsage({ argument: '--uplink-mqtt-url', reason: 'required with --uplink mqtt (unless --node: then the hub ingest is reached through the tunnel)' });
        const { startSiteAgent, tuneAgentProcess } = await import('../sites/index.ts');
        if (opts.lean) tuneAgentProcess();
        const tunnelUrl = `${target.url.replace(/^http/, 'ws')}/api/v1/tunnel`;
        const agent = await startSiteAgent({
          site: opts.site,
          ...(opts.node
            ? { tunnel: { url: tunnelUrl, node: opts.node, ...(target.ca ? { ca: target.ca } : {}), ...(opts.allow ? { allow: opts.allow } : {}) } }
            : { hubUrl: target.url }),
          token: target.token,
          dataDir: opts.dataDir,
          logger: ctx.logger,
          broker: opts.broker ? { host: parseListenHost(opts.brokerHost, '--broker-host'), port: parsePort(opts.brokerPort, '--broker-port') } : false,
          ...(opts.metricsPort === undefined ? {} : { metrics: { port: parsePort(opts.metricsPort, '--metrics-port') } }),
          uplink:
            opts.uplink === 'bridge'
              ? {
                  kind: 'bridge',
                  url: opts.uplinkMqttUrl!,
                  ...(opts.bridgeUsername ? { username: opts.bridgeUsername } : {}),
                  ...(bridgePassword ? { password: bridgePassword } : {}),
                  ...(opts.bridgeTopic ? { topic: opts.bridgeTopic } : {}),
                }
              : opts.uplink === 'mqtt'
                ? { kind: 'mqtt', ...(opts.uplinkMqttUrl ? { url: opts.uplinkMqttUrl } : {}) }
                : { kind: 'rest' },
          plugins: { searchPaths: opts.pluginPath ?? [] },
          devices: ctx.config.devices,
        });
        const s = agent.status();
        ctx.out.write(`site agent '${opts.site}' running (hub ${target.url}${opts.node ? ` through the tunnel of node '${opts.node}'` : ''}${s.brokerUrl ? `, broker ${s.brokerUrl}` : ''})\n`);
        const sig = await waitForSignal();
        ctx.logger.info({ signal: sig }, 'stopping');
        await agent.stop();
      },
    );
  examples(run, [
    'edgeadm site run --site plant-a --hub http://127.0.0.1:7443 --token-file plant-a.token   # a hub started with --no-tls',
    'EDGEADM_TOKEN=... edgeadm site run --site plant-a --hub http://hub:7443 --data-dir /var/lib/edgeadm/site --broker-port 1883',
    'edgeadm site run --site plant-a --node gw-1 --hub https://hub:7443 --ca-file hub-ca.crt --token-file node.credential   # through the tunnel',
  ]);
  return group;
}
