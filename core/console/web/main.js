import { render } from 'preact';
import { html } from 'htm/preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describeError, loadSession, logout, onUnauthorized } from './api.js';
import { AddonDetail, AddonsView } from './addons.js';
import { DeviceDetail } from './device.js';
import { DevicesView } from './devices.js';
import { EdgeXView } from './edgex.js';
import { TelemetryView } from './explorer.js';
import { HomeView } from './home.js';
import { startLive, stopLive } from './live.js';
import { LoginView } from './login.js';
import { pendingPhase } from './model.js';
import { NodeDetail } from './node.js';
import { NodesView } from './nodes.js';
import { PendingView } from './pending.js';
import { SiteDetail, SitesView } from './sites.js';
import { TokensView } from './tokens.js';
import { list, state, subscribe } from './store.js';

/** @typedef {import('./types.js').Session} Session */

/**
 * Where the console is: `#/<view>[/<name>][?<query>]`, the name URI-decoded
 * (it may hold '/'), the query as URLSearchParams. `#/` is the home page.
 * @typedef {{ view: View, name?: string, query: URLSearchParams }} Route
 */

/** @typedef {'home' | 'sites' | 'nodes' | 'devices' | 'pending' | 'addons' | 'telemetry' | 'edgex' | 'tokens'} View */

/** @type {ReadonlySet<string>} */
const VIEWS = new Set(['home', 'sites', 'nodes', 'devices', 'pending', 'addons', 'telemetry', 'edgex', 'tokens']);

/** @returns {Route} */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
  const parts = path.split('/');
  const first = parts[0] ?? '';
  const view = /** @type {View} */ (VIEWS.has(first) ? first : 'home');
  let name;
  try {
    name = view !== 'home' && parts[1] ? decodeURIComponent(parts.slice(1).join('/')) : undefined;
  } catch {
    name = undefined; // a malformed %-escape: the list instead
  }
  return { view, name, query };
}

function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const onChange = () => setRoute(parseHash());
    addEventListener('hashchange', onChange);
    // Effects run after paint: the hash may have changed since the first render.
    onChange();
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** Re-renders the caller on every store flush (at most a few times a second). */
function useStoreVersion() {
  const [version, setVersion] = useState(state.version);
  useEffect(() => {
    const off = subscribe(() => setVersion(state.version));
    setVersion(state.version);
    return off;
  }, []);
  return version;
}

/** Navigation: [view, label, admins only]. */
const NAV = /** @type {const} */ ([
  ['home', 'Home', false],
  ['sites', 'Sites', false],
  ['nodes', 'Nodes', false],
  ['devices', 'Devices', false],
  ['pending', 'Pending', false],
  ['addons', 'Addons', false],
  ['telemetry', 'Telemetry', false],
  ['edgex', 'EdgeX files', false],
  ['tokens', 'Tokens', true],
]);

/** @param {{ route: Route, session: Session, onLogout: () => void }} props */
function TopBar({ route, session, onLogout }) {
  const pending = list('PendingDevice').filter((p) => pendingPhase(p) === 'Pending').length;
  const isLive = state.watchOpen && state.telemetryOpen;
  return html`<header class="topbar">
    <a class="brand" href="#/">edgeadm</a>
    <nav aria-label="Main">
      ${NAV.filter(([, , adminOnly]) => !adminOnly || session.role === 'admin').map(
        ([key, label]) => html`<a key=${key} href=${`#/${key}`} data-testid=${`nav-${key}`} class=${route.view === key ? 'active' : ''}
          aria-current=${route.view === key ? 'page' : undefined}>${label}${key === 'pending' && pending > 0
            ? html` <span class="count-badge" aria-label=${`${pending} pending`}>${pending}</span>`
            : null}</a>`,
      )}
    </nav>
    <span class="spacer"></span>
    <span class=${`live ${isLive ? 'on' : 'off'}`} data-testid="live-status" title=${isLive ? 'streams connected' : state.synced ? 'reconnecting to the hub' : 'connecting to the hub'}>${isLive ? 'live' : state.synced ? 'reconnecting' : 'connecting'}</span>
    <span class="role" title=${`token ${session.tokenId}`}>${session.role}</span>
    <button type="button" class="small" data-testid="logout" onClick=${onLogout}>Log out</button>
  </header>`;
}

/** @param {{ route: Route, admin: boolean }} props */
function Page({ route, admin }) {
  switch (route.view) {
    case 'sites':
      return route.name ? html`<${SiteDetail} key=${route.name} name=${route.name} admin=${admin} />` : html`<${SitesView} admin=${admin} />`;
    case 'nodes':
      return route.name ? html`<${NodeDetail} key=${route.name} name=${route.name} admin=${admin} />` : html`<${NodesView} />`;
    case 'devices':
      return route.name ? html`<${DeviceDetail} key=${route.name} name=${route.name} admin=${admin} />` : html`<${DevicesView} admin=${admin} />`;
    case 'pending':
      return html`<${PendingView} admin=${admin} />`;
    case 'addons':
      return route.name ? html`<${AddonDetail} key=${route.name} name=${route.name} admin=${admin} />` : html`<${AddonsView} admin=${admin} />`;
    case 'telemetry':
      return html`<${TelemetryView} query=${route.query} />`;
    case 'edgex':
      return html`<${EdgeXView} admin=${admin} />`;
    case 'tokens':
      return html`<${TokensView} admin=${admin} />`;
    default:
      return html`<${HomeView} />`;
  }
}

/** @param {{ session: Session, onLogout: () => void }} props */
function Console({ session, onLogout }) {
  const route = useRoute();
  useStoreVersion();
  const main = useRef(/** @type {HTMLElement | null} */ (null));
  const first = useRef(true);
  const where = `${route.view}/${route.name ?? ''}`;
  // A new page moves the keyboard focus to its content (as a page load would), except on the first.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus({ preventScroll: false });
  }, [where]);
  return html`<div class="shell">
    <a class="skip" href="#content" onClick=${(/** @type {Event} */ e) => {
      e.preventDefault();
      main.current?.focus();
    }}>Skip to content</a>
    <${TopBar} route=${route} session=${session} onLogout=${onLogout} />
    <main class="content" id="content" tabindex="-1" ref=${main}><${Page} route=${route} admin=${session.role === 'admin'} /></main>
  </div>`;
}

function App() {
  const [session, setSession] = useState(/** @type {Session | null | undefined} */ (undefined));
  const [notice, setNotice] = useState('');

  const end = useCallback((/** @type {string} */ why) => {
    stopLive();
    setSession(null);
    setNotice(why);
  }, []);

  useEffect(() => {
    onUnauthorized(() => end('Session ended. Log in again.'));
    loadSession()
      .then((s) => setSession(s))
      .catch((/** @type {unknown} */ err) => {
        setSession(null);
        setNotice(`Cannot reach the hub: ${describeError(err)}`);
      });
  }, [end]);

  useEffect(() => {
    if (session) startLive(() => end('Session ended. Log in again.'));
  }, [session, end]);

  const doLogout = async () => {
    try {
      await logout();
    } catch {
      // The session is dropped locally either way.
    }
    end('Logged out.');
  };

  if (session === undefined) return html`<p class="muted loading">Connecting…</p>`;
  if (session === null)
    return html`<${LoginView}
      notice=${notice}
      onLogin=${(/** @type {Session} */ s) => {
        setNotice('');
        setSession(s);
      }}
    />`;
  return html`<${Console} session=${session} onLogout=${doLogout} />`;
}

const root = document.getElementById('app');
if (root) render(html`<${App} />`, root);
