/**
 * core/sdk: the only module plugins import. A plugin declares itself with
 * `definePlugin`, names the services it provides and consumes with typed
 * `ServiceRef`s, and (for devices) implements `DeviceDriver`. Tests use
 * `edgeadm/sdk/testkit`.
 */
export { default as Type, type Static, type TSchema } from 'typebox';
export {
  ensurePrivateDir,
  privateTree,
  createError,
  createServiceRef,
  EdgeError,
  isEdgeError,
  toErrorInfo,
  type EdgeErrorClass,
  type ErrorInfo,
  type Logger,
  type ServiceRef,
  type Teardown,
} from '../kernel/index.ts';
export { DEFAULT_MAX_JSON_DEPTH, ErrJsonForbiddenKey, ErrJsonNumberRange, ErrJsonSyntax, ErrJsonTooDeep, parseJson, type ParseJsonOptions } from '../kernel/index.ts';
export { parseWithSchema, type FieldIssue, type ParseResult } from '../kernel/index.ts';
export { seededRandom } from './random.ts';
export { DURATION_KEYWORD, normalizeProtocolBlock, protocolBlockIssues } from './protocol-block.ts';
export { dns1123LabelProblem, dns1123SubdomainProblem, goDurationMs, goDurationProblem, labelKeyProblem, labelValueProblem } from '../kernel/index.ts';
export { definePlugin, type KubeSpec, type PluginContext, type PluginDefinition, type PluginSpec, type PluginWorkloads, type WorkloadContext } from '../plugins/index.ts';
export * from './reading.ts';
export type * from './driver.ts';
export { providesBrokerTopics } from './driver.ts';
export * from './tools.ts';
export {
  driversRef,
  onboardingRef,
  readingFeedRef,
  readingSinkRef,
  siteBrokerRef,
  siteMetricsRef,
  siteStorageRef,
  type DeviceAnnouncement,
  type DriverRegistry,
  type Onboarding,
  type ReadingFeed,
  type ReadingSink,
  type SiteBroker,
  type SiteStorage,
  siteCatalogRef,
  deviceCommandsRef,
  siteLoginsRef,
  siteHubRef,
  type SiteHub,
  type SiteCatalog,
  type SiteCatalogEntry,
  type DeviceCommands,
  type DeviceCommandResult,
  type SiteLogins,
  deviceStatesRef,
  type DeviceStates,
  type DeviceOperatingState,
  clusterServicesRef,
  type ClusterServices,
  type ClusterServiceAddress,
} from './site-services.ts';
export { ErrReadingsNotStored } from './errors.ts';
// EdgeX v3 events, values and message bus layout (edgex/); core/edgex offers the same to the hub and the CLI.
export * from './edgex/events.ts';
export { formatEdgeXValue, formatGoFloat, parseEdgeXValue } from './edgex/values.ts';
export { EDGEX_NAME_ANNOTATION, edgexResourceName } from './edgex/names.ts';
export * from './edgex/bus.ts';
export { ErrEdgeXContentType, ErrEdgeXEncode, ErrEdgeXEnvelope, ErrEdgeXField, ErrEdgeXPayload, ErrEdgeXTopic, ErrEdgeXValue, ErrEdgeXValueType } from './errors.ts';
