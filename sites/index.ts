/** sites: the site agent (edge runtime). */
export { startSiteAgent, type SiteAgent, type SiteAgentOptions, type SiteAgentStatus } from './agent.ts';
export type { DeviceRuntimeStatus, DeviceState } from './devices.ts';
export { tuneAgentProcess } from './process-tuning.ts';
