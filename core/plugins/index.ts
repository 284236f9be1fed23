/** core/plugins: discovery, validation, ordering and per-site instances of plugins. */
export * as PluginErrors from './errors.ts';
export { definePlugin, isPluginDefinition, type KubeSpec, type PluginContext, type PluginDefinition, type PluginSpec, type PluginWorkloads, type WorkloadContext } from './definition.ts';
export {
  defaultNodeModules,
  discoverPlugins,
  EDGEADM_ROOT,
  importPluginModule,
  readPluginPackage,
  type DiscoveryOptions,
  type DiscoveryResult,
} from './discovery.ts';
export {
  checkManifest,
  ManifestSchema,
  PLUGIN_ID_PATTERN,
  PLUGIN_ROLES,
  PLUGIN_STAGES,
  type ManifestBlock,
  type PluginManifest,
  type PluginRole,
  type PluginSource,
  type PluginStage,
} from './manifest.ts';
export {
  PluginRegistry,
  type ApplyResult,
  type FailurePolicy,
  type InstanceSpec,
  type InstanceState,
  type InstanceStatusState,
  type InstanceStatus,
  type PluginInfo,
  type PluginState,
  type RegistryOptions,
} from './registry.ts';
export { PluginsConfigSchema } from './config-schema.ts';
