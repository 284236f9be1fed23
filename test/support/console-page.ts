/**
 * The console's browser tests share this: `edgeadm demo` on a free port with
 * its own data folder, Debian's Chromium trusting the hub's certificate by its
 * pin, the hub's API as the admin token, and pages that fail a test on any
 * page or console error (`withConsole`), screenshot themselves when they do,
 * and are checked by axe-core (`expectAccessible`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { Agent, fetch } from 'undici';
import { expect } from 'vitest';
import { artifactsDir, launchChromium, spkiPin } from './browser.ts';
import { startEdgeadm, type Background } from './edgeadm-cli.ts';
import { tempDir, waitFor } from './hub-fixture.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);

export const VIEWPORTS = { laptop: { width: 1366, height: 800 }, tablet: { width: 820, height: 1180 } } as const;
export type Viewport = keyof typeof VIEWPORTS;

export interface DemoConsole {
  /** `https://127.0.0.1:<port>/` */
  url: string;
  /** The demo site's MQTT broker, `mqtt://127.0.0.1:<port>`. */
  brokerUrl: string;
  /** The hub's admin token. */
  token: string;
  dataDir: string;
  /** Trusts the demo hub's CA, for fetch. */
  dispatcher: Agent;
  browser: Browser;
  demo: Background;
  /** Screenshots go here (test-artifacts/<name>/). */
  shots: string;
  /** Calls the hub's API with `as` (default: the admin token); the body parsed as JSON when there is one. */
  api<T>(method: string, p: string, body?: unknown, as?: string): Promise<{ status: number; body: T }>;
  /** Starts another edgeadm process (stopped by `close`, newest first). */
  start(args: string[], env?: Record<string, string>): Background;
  /**
   * Joins node `node` to the existing site `site` as any edge node does (a
   * bootstrap token, then /api/v1/join) and gives what its agent runs with;
   * `run(extra)` starts `edgeadm site run` for it (again after a kill).
   */
  joinNode(site: string, node: string): Promise<{ siteDir: string; credentialFile: string; run: (extra?: string[]) => Background }>;
  /** Runs `fn` on a fresh, logged-out page of the console (see withConsole). */
  withConsole(viewport: Viewport, fn: (page: Page) => Promise<void>): Promise<void>;
  /** Logs `page` in with `as` (default: the admin token) and waits for the console. */
  logIn(page: Page, as?: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts `edgeadm demo` and Chromium; `name` names the screenshot folder.
 * Call in beforeAll (allow 90 s) and close in afterAll.
 */
export async function startDemoConsole(name: string): Promise<DemoConsole> {
  const shots = artifactsDir(name);
  const children: Background[] = [];
  const start = (args: string[], env: Record<string, string> = {}): Background => {
    const p = startEdgeadm(args, env, { cwd: repo });
    children.push(p);
    return p;
  };
  const dataDir = tempDir(`${name}-demo`);
  const demo = start(['demo', '--port', '0', '--data-dir', dataDir]);
  let url: string;
  let brokerUrl: string;
  let token: string;
  let dispatcher: Agent;
  let browser: Browser;
  try {
    await waitFor('the demo to come up', () => demo.out().includes('Ctrl-C stops the demo.') || demo.child.exitCode !== null, 60_000, 100);
    expect(demo.child.exitCode, demo.err()).toBeNull();
    url = /^console: +(\S+)/m.exec(demo.out())?.[1] ?? '';
    brokerUrl = /site MQTT broker (mqtt:\/\/\S+)/.exec(demo.out())?.[1] ?? '';
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    expect(brokerUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    token = readFileSync(path.join(dataDir, 'hub', 'admin.token'), 'utf8').trim();
    const ca = readFileSync(path.join(dataDir, 'hub', 'pki', 'ca.crt'), 'utf8');
    dispatcher = new Agent({ connect: { ca } });
    browser = await launchChromium({ pins: [await spkiPin(url, ca)] });
  } catch (err) {
    // Nothing is handed back to close: the demo must not outlive the failed start.
    await demo.stop();
    throw err;
  }

  async function api<T>(method: string, p: string, body?: unknown, as = token): Promise<{ status: number; body: T }> {
    const res = await fetch(new URL(p, url), {
      method,
      dispatcher,
      headers: { authorization: `Bearer ${as}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  const problems = new WeakMap<Page, string[]>();

  async function openConsole(viewport: Viewport): Promise<Page> {
    const context = await browser.newContext({ viewport: VIEWPORTS[viewport], acceptDownloads: true });
    const page = await context.newPage();
    const seen: string[] = [];
    page.on('pageerror', (e) => seen.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      // Chromium logs every refused API call ("Failed to load resource: 401"): answers the page expects and handles.
      if (m.text().startsWith('Failed to load resource') && new URL(m.location().url).pathname.startsWith('/api/')) return;
      seen.push(`console error: ${m.text()} (${m.location().url})`);
    });
    problems.set(page, seen);
    await page.goto(url);
    return page;
  }

  async function withConsole(viewport: Viewport, fn: (page: Page) => Promise<void>): Promise<void> {
    const page = await openConsole(viewport);
    try {
      await fn(page);
      expect(problems.get(page) ?? []).toEqual([]);
    } catch (err) {
      const test = (expect.getState().currentTestName ?? 'test').replace(/[^A-Za-z0-9]+/g, '-').slice(-80);
      await page.screenshot({ path: path.join(shots, `FAILED-${test}.png`), fullPage: true }).catch(() => undefined);
      const text = await page
        .locator('body')
        .innerText({ timeout: 2000 })
        .catch(() => '(no text)');
      const message = err instanceof Error ? err.message : String(err);
      const seen = (problems.get(page) ?? []).join('; ') || 'none';
      throw new Error(`${message}\n  page: ${page.url()}\n  showing: ${text.replace(/\s+/g, ' ').slice(0, 1500)}\n  page problems: ${seen}`, { cause: err });
    } finally {
      await page.context().close();
    }
  }

  async function logIn(page: Page, as = token): Promise<void> {
    await page.getByTestId('login-token').fill(as);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('nav-sites').waitFor();
  }

  async function joinNode(site: string, node: string): Promise<{ siteDir: string; credentialFile: string; run: (extra?: string[]) => Background }> {
    const bootstrap = await api<{ token: string }>('POST', '/api/v1/bootstrap-tokens', { site, ttlSeconds: 600 });
    expect(bootstrap.status, JSON.stringify(bootstrap.body)).toBe(201);
    const joined = await api<{ credential: string }>('POST', '/api/v1/join', { site, node }, bootstrap.body.token);
    expect(joined.status, JSON.stringify(joined.body)).toBe(201);
    const siteDir = tempDir(`${name}-${site}`);
    const credentialFile = path.join(siteDir, 'node.credential');
    writeFileSync(credentialFile, joined.body.credential, { mode: 0o600 });
    const caFile = path.join(dataDir, 'hub', 'pki', 'ca.crt');
    const hub = url.replace(/\/$/, '');
    const run = (extra: string[] = []): Background =>
      start(['site', 'run', '--site', site, '--node', node, '--hub', hub, '--ca-file', caFile, '--token-file', credentialFile, '--data-dir', path.join(siteDir, 'agent'), ...extra]);
    return { siteDir, credentialFile, run };
  }

  async function close(): Promise<void> {
    await browser.close().catch(() => undefined);
    await dispatcher.close();
    for (const c of children.splice(0).reverse()) await c.stop();
  }

  return { url, brokerUrl, token, dataDir, dispatcher, browser, demo, shots, api, start, joinNode, withConsole, logIn, close };
}

/** One axe-core finding, as a test failure shows it. */
export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  targets: string[];
}

let axeSource: string | undefined;

/**
 * Runs axe-core (WCAG 2 A and AA rules, and best practices) on what `page`
 * shows now and fails on any serious or critical violation, naming the rule,
 * what it asks and the elements. The script is evaluated through the
 * DevTools protocol, which the page's Content-Security-Policy does not govern:
 * the console's CSP stays as it is served. `label` names the page in the message.
 */
export async function expectAccessible(page: Page, label: string): Promise<void> {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const loaded = await page.evaluate('typeof globalThis.axe === "object"');
  if (!loaded) await page.evaluate(axeSource);
  const findings = await page.evaluate<AxeFinding[]>(`(async () => {
    const r = await globalThis.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }, resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact ?? 'unknown', help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  })()`);
  const serious = findings.filter((f) => f.impact === 'serious' || f.impact === 'critical');
  expect(serious.map((f) => `${label}: ${f.id} (${f.impact}) ${f.help}: ${f.targets.join(', ')}`)).toEqual([]);
}
