/**
 * Shapes of the hub's resources and readings as the console reads them.
 * Every field the server may leave out is optional here.
 */

/**
 * @typedef {object} Meta
 * @property {string} name
 * @property {Record<string, string>} [labels]
 * @property {Record<string, string>} [annotations]
 * @property {string} [resourceVersion]
 * @property {string} [creationTimestamp]
 */

/**
 * @template S, T
 * @typedef {object} Obj
 * @property {string} apiVersion
 * @property {string} kind
 * @property {Meta} metadata
 * @property {S} spec
 * @property {T} [status]
 */

/**
 * @typedef {object} AgentProblem
 * @property {string} component
 * @property {string} code
 * @property {string} message
 * @property {string} since
 */

/**
 * A Kubernetes-mode node's lite-apiserver as its agent reports it (core/store AgentReport's liteApiserver).
 * @typedef {object} LiteApiserverReport
 * @property {'online' | 'offline' | 'resyncing' | 'failed'} state
 * @property {string} since
 * @property {number} offlineSeconds
 * @property {number} outages
 * @property {number} cacheBytes
 * @property {number} cacheEntries
 * @property {number} hits
 * @property {number} misses
 * @property {string} [lastError]
 */

/**
 * @typedef {Obj<{ displayName?: string, description?: string },
 *   { phase?: 'Pending' | 'Online' | 'Offline', lastSeen?: string, agentVersion?: string, message?: string,
 *     agents?: Record<string, { health?: { state?: 'ok' | 'degraded', problems?: AgentProblem[] }, process?: { rssBytes: number, cpuPercent: number }, liteApiserver?: LiteApiserverReport, reportedAt?: string }> }>} Site
 */

/**
 * @typedef {Obj<{ site?: string, hostname?: string, addresses?: string[] },
 *   { connected?: boolean, lastSeen?: string, joinedAt?: string, message?: string,
 *     health?: { verdict: 'healthy' | 'unhealthy' | 'unknown', pros: number, cons: number, expected: number, since: string, votedAt?: string, reportedBy: string, reportedAt?: string },
 *     tunnel?: { replica: string, since: string },
 *     sshHostKeysTrustedAt?: string, sshHostKeysPending?: { reportedAt: string } }>} EdgeNode
 */

/**
 * @typedef {object} ReportedValue
 * @property {unknown} value
 * @property {number} [origin]
 * @property {string} [quality]
 */

/**
 * @typedef {Obj<{ site?: string, profile?: string, plugin?: string, adminState?: 'LOCKED' | 'UNLOCKED',
 *   desired?: Record<string, unknown>, description?: string, protocols?: Record<string, Record<string, unknown>>,
 *   autoEvents?: DeviceAutoEvent[], driftPolicy?: Record<string, 'reassert' | 'report'> },
 *   { operatingState?: 'UP' | 'DOWN' | 'UNKNOWN', lastSeen?: string, message?: string,
 *   reported?: Record<string, ReportedValue>, drift?: Record<string, DeviceDrift> }>} Device
 */

/**
 * A writable resource whose value departed from its desired value, as the site saw it.
 * @typedef {object} DeviceDrift
 * @property {unknown} desired
 * @property {unknown} observed
 * @property {string} since
 * @property {'reassert' | 'report'} policy
 * @property {number} [reasserts]
 * @property {string} [error]
 * @property {string} [resolvedAt]
 */

/**
 * @typedef {object} ResourceProperties
 * @property {string} valueType
 * @property {string} [readWrite]
 * @property {string} [units]
 * @property {number | string} [minimum]
 * @property {number | string} [maximum]
 */

/**
 * @typedef {object} DeviceResource
 * @property {string} name
 * @property {string} [description]
 * @property {ResourceProperties} properties
 */

/**
 * @typedef {object} DeviceAutoEvent
 * @property {string} sourceName
 * @property {string} interval
 * @property {boolean} [onChange]
 * @property {number} [onChangeThreshold]
 */

/** @typedef {Obj<{ name?: string, manufacturer?: string, model?: string, description?: string, deviceResources?: DeviceResource[],
 *   deviceCommands?: { name: string, readWrite?: string }[] }, unknown>} DeviceProfile */

/**
 * @typedef {object} AddonSiteStatus
 * @property {string} state
 * @property {string} [message]
 * @property {string} [code]
 */

/**
 * @typedef {Obj<{ plugin?: string, version?: string, sites?: string[], siteSelector?: unknown },
 *   { sites?: Record<string, AddonSiteStatus> }>} Addon
 */

/**
 * @typedef {Obj<{ site?: string, source?: string, identifier?: string, suggestedName?: string,
 *   displayName?: string, manufacturer?: string, model?: string,
 *   profile?: { deviceResources?: DeviceResource[] }, warnings?: string[], firstSeen?: string, lastSeen?: string },
 *   { phase?: 'Pending' | 'Approved' | 'Rejected', message?: string }>} PendingDevice
 */

/**
 * @typedef {{ Site: Site, Node: EdgeNode, Device: Device, DeviceProfile: DeviceProfile,
 *   Addon: Addon, PendingDevice: PendingDevice }} KindMap
 */

/** @typedef {keyof KindMap} Kind */

// The API's own wire types (core/hub/api-types.ts): type-only, so nothing is loaded in the browser.
/** @typedef {import('../../hub/api-types.ts').ReadingOut} Reading */
/** @typedef {import('../../hub/api-types.ts').ConsoleSessionOut} Session */
/** @typedef {import('../../hub/api-types.ts').ErrorBody} ErrorBody */
/** @typedef {import('../../hub/api-types.ts').TelemetryPage} TelemetryPage */
/** @typedef {import('../../hub/api-types.ts').LatestReadings} LatestReadings */
/** @typedef {import('../../hub/api-types.ts').CommandAccepted} CommandAccepted */
/** @typedef {import('../../hub/api-types.ts').CommandOut} CommandOut */
/** @typedef {import('../../hub/api-types.ts').CommandCreateBody} CommandCreateBody */
/** @typedef {import('../../hub/api-types.ts').ApiTokenInfo} ApiTokenInfo */
/** @typedef {import('../../hub/api-types.ts').ApiTokenCreated} ApiTokenCreated */
/** @typedef {import('../../hub/api-types.ts').ApiTokenList} ApiTokenList */
/** @typedef {import('../../hub/api-types.ts').ApiTokenCreateBody} ApiTokenCreateBody */
/** @typedef {import('../../hub/api-types.ts').BootstrapTokenInfo} BootstrapTokenInfo */
/** @typedef {import('../../hub/api-types.ts').BootstrapTokenCreated} BootstrapTokenCreated */
/** @typedef {import('../../hub/api-types.ts').BootstrapTokenList} BootstrapTokenList */
/** @typedef {import('../../hub/api-types.ts').HostKeysOut} HostKeysOut */

export {};
