/**
 * The site broker's logins, from the site's replica: each BrokerCredential
 * of the site is a username with a password hash and topic lists. A login
 * bound to a Device gets the topics the Device's driver says it uses
 * (a driver that is a `BrokerTopicsProvider`, e.g. MQTT's), plus the
 * credential's own extra filters.
 * Every login may also publish announcements (Home Assistant discovery
 * configs and the native announce topic), which only ever become proposals
 * an operator approves.
 */
import { providesBrokerTopics } from '../core/sdk/index.ts';
import type { BrokerCredentialObject } from '../core/store/index.ts';
import type { BrokerLogin } from './broker.ts';
import type { DriverView } from './devices.ts';
import type { LocalState } from './local-state.ts';

/** Topics every login may publish to: onboarding announcements. */
export const ANNOUNCE_PUBLISH = ['homeassistant/+/+/config', 'homeassistant/+/+/+/config', 'edgeadm/announce/+'] as const;

/**
 * Client ids of the site's own clients (its plugins) start with this. They
 * belong to the site's internal login, which may use no others; no
 * BrokerCredential username may start with it (the schema refuses one).
 */
export const SITE_CLIENT_ID_PREFIX = 'edgeadm-';

/**
 * Which MQTT client ids a login may connect with, so that no login can take
 * over another's session (MQTT gives a client id's session to whoever
 * connects with it next):
 *
 *   - the site's internal login: ids starting with `edgeadm-`
 *   - a BrokerCredential login: exactly its username, or `<username>/<suffix>`
 *     with any non-empty suffix (a username holds no '/'), e.g. `m-1`,
 *     `m-1/sensor-a`, `z2m/bridge`
 *   - any login: an empty id with a clean session; the broker then assigns
 *     `aedes_<uuid>`, which no login owns (MQTT-3.1.3-6). An empty id with
 *     clean = false is refused (MQTT-3.1.3-8).
 *
 * Returns why `clientId` is refused to the login, or undefined when it may use it.
 */
export function clientIdProblem(login: { username: string; internal: boolean }, clientId: string, clean: boolean): string | undefined {
  if (clientId === '') return clean ? undefined : 'an empty client id needs a clean session';
  if (login.internal) {
    return clientId.startsWith(SITE_CLIENT_ID_PREFIX) ? undefined : `the site's own clients use client ids starting with '${SITE_CLIENT_ID_PREFIX}'`;
  }
  // Checked apart from the username: a login stored before such usernames were refused still owns no `edgeadm-` id.
  if (clientId.startsWith(SITE_CLIENT_ID_PREFIX)) return `client ids starting with '${SITE_CLIENT_ID_PREFIX}' belong to the site's own clients`;
  if (clientId === login.username || (clientId.startsWith(`${login.username}/`) && clientId.length > login.username.length + 1)) return undefined;
  return `a login may use only the client id '${login.username}' or '${login.username}/<suffix>'`;
}

export interface BrokerLoginsOptions {
  site: string;
  state: LocalState;
  /** The driver and its view of a Device; undefined while devices are not running yet. */
  deviceView: (name: string) => DriverView | undefined;
  /** Whether devices have been reconciled at least once (until then a device login cannot be judged). */
  devicesReady: () => boolean;
}

export class BrokerLogins {
  readonly #o: BrokerLoginsOptions;
  #byUsername = new Map<string, BrokerCredentialObject>();

  constructor(o: BrokerLoginsOptions) {
    this.#o = o;
    this.rebuild();
  }

  /** Re-reads the site's credentials from the replica. */
  rebuild(): void {
    const next = new Map<string, BrokerCredentialObject>();
    for (const c of this.#o.state.list<BrokerCredentialObject>('BrokerCredential')) {
      if (c.spec.site === this.#o.site) next.set(c.spec.username, c);
    }
    this.#byUsername = next;
  }

  lookup(username: string): BrokerLogin | 'unavailable' | undefined {
    const c = this.#byUsername.get(username);
    if (!c) return undefined;
    const publish: string[] = [...ANNOUNCE_PUBLISH, ...(c.spec.publish ?? [])];
    const subscribe: string[] = [...(c.spec.subscribe ?? [])];
    const device = c.spec.device;
    if (device !== undefined) {
      if (!this.#o.devicesReady()) return 'unavailable';
      const view = this.#o.deviceView(device);
      // The Device is gone or not at this site: the login keeps only its explicit topics.
      if (view?.driver && view.device) {
        const topics = providesBrokerTopics(view.driver) ? view.driver.brokerTopics(view.device) : undefined;
        if (topics) {
          publish.push(...topics.publish);
          subscribe.push(...topics.subscribe);
        }
      } else if (view?.missing === 'driver') {
        // Its driver's addon is not running (yet): judged once it is.
        return 'unavailable';
      }
    }
    return {
      passwordHash: c.spec.passwordHash,
      publish,
      subscribe,
      ...(c.spec.disabled ? { disabled: true } : {}),
      ...(device ? { device } : {}),
    };
  }
}
