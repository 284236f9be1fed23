/**
 * The plugin test kit: a real kernel and plugin registry in-process, with the
 * services you choose standing in for the platform's, and the services of a
 * site (`mockSiteServices`, see site.ts) for device plugins. Third-party
 * plugin authors test exactly as edgeadm's own plugins do:
 *
 *   const tk = await startTestKernel({ plugins: [myPlugin], services: [bindService(clockRef, fakeClock)] });
 *   expect(tk.status('my-plugin').state).toBe('running');
 *   await tk.stop();
 */
import { EDGEADM_VERSION, Kernel, ServiceScope, type EdgeError, type LogLevel, type ServiceRef } from '../../kernel/index.ts';
import {
  PluginRegistry,
  type DiscoveryOptions,
  type FailurePolicy,
  type InstanceSpec,
  type InstanceStatus,
  type PluginDefinition,
} from '../../plugins/index.ts';
import { captureLogs, type LogLine, type ServiceBinding } from './bindings.ts';
import { ErrNoInstance } from './errors.ts';

export { bindService, type LogLine, type ServiceBinding } from './bindings.ts';
export { ErrNoDriver, ErrNoInstance, ErrStorageName, ErrWaitTimeout } from './errors.ts';
export {
  mockSiteServices,
  type CommandResult,
  type DeviceRuntimeStatus,
  type DeviceState,
  type DriverView,
  type MockDriverRegistry,
  type MockSite,
  type MockSiteDevices,
  type MockSiteOptions,
  type ReadingMatch,
  type RecordingOnboarding,
  type RecordingSink,
} from './site.ts';

/** A plugin instance to run: the definition, and optionally its site, config and failure policy. */
export interface TestPluginInstance {
  plugin: PluginDefinition;
  site?: string;
  config?: unknown;
  failurePolicy?: FailurePolicy;
  /** The Addon it runs for (PluginContext.addon). */
  addon?: string;
  /** Its site half, the hub on Kubernetes running its workloads as grids (PluginContext.workloadsAsGrid). */
  workloadsAsGrid?: boolean;
}

export interface StartTestKernelOptions {
  /** Plugin definitions (one site-less instance each, no config) or instances. */
  plugins?: readonly (PluginDefinition | TestPluginInstance)[];
  /** Kernel-level services the plugins consume. */
  services?: readonly ServiceBinding[];
  /** Also discover installed plugins from disk, and run these instances of them. */
  discovery?: DiscoveryOptions;
  instances?: readonly InstanceSpec[];
  /** Log level for the captured logs (default `debug`). */
  logLevel?: LogLevel;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Pretend to be this edgeadm version (engine-range tests). */
  version?: string;
}

export interface TestKernel {
  readonly kernel: Kernel;
  readonly registry: PluginRegistry;
  /** Every validation and start problem, as returned by the registry. */
  readonly problems: readonly EdgeError[];
  /** Captured log lines, parsed. */
  readonly logs: readonly LogLine[];
  /** A service as plugins at `site` (or site-less ones) see it. */
  get<T>(ref: ServiceRef<T>, site?: string): T;
  /** Status of one instance (`plugin` or `plugin@site`); throws when unknown. */
  status(instance: string): InstanceStatus;
  statuses(): InstanceStatus[];
  stop(): Promise<void>;
}

function isDefinition(p: PluginDefinition | TestPluginInstance): p is PluginDefinition {
  return !('plugin' in p);
}

export async function startTestKernel(opts: StartTestKernelOptions = {}): Promise<TestKernel> {
  const { logger, logs } = captureLogs(opts.logLevel ?? 'debug');
  const services = ServiceScope.root('test kernel');
  for (const b of opts.services ?? []) services.provide(b.ref, b.value);
  const version = opts.version ?? EDGEADM_VERSION;
  const kernel = new Kernel({ logger, version, services });
  const entries = (opts.plugins ?? []).map((p) => (isDefinition(p) ? { plugin: p } : p));
  const registry = new PluginRegistry({
    kernelVersion: version,
    logger,
    services,
    discovery: opts.discovery ?? false,
    inline: [...new Set(entries.map((e) => e.plugin))],
    ...(opts.startTimeoutMs === undefined ? {} : { startTimeoutMs: opts.startTimeoutMs }),
    ...(opts.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: opts.stopTimeoutMs }),
  });
  const specs: InstanceSpec[] = [
    ...entries.map((e) => ({
      plugin: e.plugin.id,
      site: e.site,
      config: e.config,
      failurePolicy: e.failurePolicy,
      ...(e.addon === undefined ? {} : { addon: e.addon }),
      ...(e.workloadsAsGrid === undefined ? {} : { workloadsAsGrid: e.workloadsAsGrid }),
    })),
    ...(opts.instances ?? []),
  ];
  kernel.add(registry.component(specs));
  await kernel.start();
  return {
    kernel,
    registry,
    get problems() {
      return registry.problems();
    },
    logs,
    get: (ref, site) => registry.service(ref, site),
    status(instance) {
      const s = registry.status().find((x) => x.instance === instance);
      if (!s) throw new ErrNoInstance({ instance, known: registry.status().map((x) => x.instance) });
      return s;
    },
    statuses: () => registry.status(),
    stop: () => kernel.stop(),
  };
}
