/**
 * The spine of the main job, end to end with real parts: a hub (SQLite,
 * HTTP), site agents (SQLite replica and outbox, plugins, devices) and the
 * network between them (a TCP relay the tests cut). The scenarios live in
 * test/support/site-agent-scenarios.ts, shared with the hub on the kube
 * store (site-agent.kube.e2e.test.ts); here every one runs at full size.
 */
import { describeSiteAgentScenarios } from './support/site-agent-scenarios.ts';

describeSiteAgentScenarios('site agent and hub', () => undefined, {
  linkCutUnderLoad: { ratePerSecond: 5_000, seconds: 20, outageSeconds: 10 },
  agentKilled: true,
  restartWhileHubDown: true,
  commandQueuedOffline: true,
  quietIdleSession: true,
  refusedTokens: true,
});
