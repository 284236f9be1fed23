import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { ConfigError, envNameToPath, loadConfig } from './index.ts';

const Schema = Type.Object(
  {
    log: Type.Object({ level: Type.Union([Type.Literal('info'), Type.Literal('debug')], { default: 'info' }) }, { additionalProperties: false, default: {} }),
    hub: Type.Object(
      {
        listenPort: Type.Integer({ minimum: 1, maximum: 65535, default: 7443 }),
        token: Type.Optional(Type.String()),
        tls: Type.Boolean({ default: true }),
        peers: Type.Array(Type.String(), { default: [] }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

function yamlFile(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-config-'));
  const file = path.join(dir, 'edgeadm.yaml');
  writeFileSync(file, text);
  return file;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).errors.map((e) => `${e.code} ${e.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('maps environment names to camelCase paths', () => {
    expect(envNameToPath('HUB__LISTEN_PORT')).toEqual(['hub', 'listenPort']);
    expect(envNameToPath('LOG__LEVEL')).toEqual(['log', 'level']);
  });

  it('applies defaults, overlays the environment above the file, and freezes', () => {
    const file = yamlFile('hub:\n  listenPort: 8443\n  peers: [a]\n');
    const cfg = loadConfig({ schema: Schema, file, env: { EDGEADM_HUB__TLS: 'false', EDGEADM_HUB__TOKEN: '0123', EDGEADM_HUB__PEERS: '[b, c]', EDGEADM_CONFIG: file, PATH: '/bin' }, reservedEnv: ['CONFIG'] });
    expect(cfg).toEqual({ log: { level: 'info' }, hub: { listenPort: 8443, tls: false, token: '0123', peers: ['b', 'c'] } });
    expect(Object.isFrozen(cfg.hub)).toBe(true);
    expect(Object.isFrozen(cfg.hub.peers)).toBe(true);
  });

  it('names no setting for a variable spelling an inherited property (constructor, __proto__)', () => {
    const found = problems(() => loadConfig({ schema: Schema, env: { EDGEADM_CONSTRUCTOR: '1', EDGEADM_HUB__TO_STRING: 'x' } }));
    expect(found).toEqual([
      expect.stringMatching(/^EDGE_ERR_CONFIG_ENV .*EDGEADM_CONSTRUCTOR \(constructor\): no such setting/),
      expect.stringMatching(/^EDGE_ERR_CONFIG_ENV .*EDGEADM_HUB__TO_STRING \(hub.toString\): no such setting/),
    ]);
  });

  it('reports every problem at once, each with its field path and source', () => {
    const file = yamlFile('hub:\n  listenPort: 99999\n  colour: red\nlog:\n  level: loud\nextra: 1\n');
    const found = problems(() =>
      loadConfig({ schema: Schema, file, env: { EDGEADM_HUB__TLS: 'yes', EDGEADM_NOPE: '1', EDGEADM_HUB__PEERS: '[x' } }),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^EDGE_ERR_CONFIG_ENV .*EDGEADM_HUB__TLS \(hub.tls\): 'yes' is not true or false/),
        expect.stringMatching(/^EDGE_ERR_CONFIG_ENV .*EDGEADM_NOPE \(nope\): no such setting/),
        expect.stringMatching(/^EDGE_ERR_CONFIG_ENV .*EDGEADM_HUB__PEERS/),
        expect.stringMatching(/^EDGE_ERR_CONFIG_FIELD hub.listenPort must be <= 65535 \(from .*edgeadm.yaml\)/),
        expect.stringMatching(/^EDGE_ERR_CONFIG_FIELD hub.colour is not a known field/),
        expect.stringMatching(/^EDGE_ERR_CONFIG_FIELD log.level must be one of 'info', 'debug'/),
        expect.stringMatching(/^EDGE_ERR_CONFIG_FIELD extra is not a known field/),
      ]),
    );
    expect(found).toHaveLength(7);
  });

  it('names the environment variable as the source of a bad value it set', () => {
    const found = problems(() => loadConfig({ schema: Schema, env: { EDGEADM_HUB__LISTEN_PORT: '0' } }));
    expect(found).toEqual([expect.stringMatching(/hub.listenPort must be >= 1 \(from EDGEADM_HUB__LISTEN_PORT\)/)]);
  });

  it('reports a missing file and bad YAML with the file and line', () => {
    expect(problems(() => loadConfig({ schema: Schema, file: '/nonexistent/edgeadm.yaml', env: {} }))).toEqual([
      expect.stringMatching(/^EDGE_ERR_CONFIG_FILE .*\/nonexistent\/edgeadm.yaml.*no such file/),
    ]);
    const bad = yamlFile('hub:\n  listenPort: 1\n   tls: [\n');
    expect(problems(() => loadConfig({ schema: Schema, file: bad, env: {} }))).toEqual([expect.stringMatching(/^EDGE_ERR_CONFIG_PARSE .*line \d+/)]);
    expect(problems(() => loadConfig({ schema: Schema, file: yamlFile('- a\n- b\n'), env: {} }))).toEqual([
      expect.stringMatching(/must be a mapping/),
    ]);
  });

  it('treats an empty file as no settings', () => {
    expect(loadConfig({ schema: Schema, file: yamlFile(''), env: {} }).hub.listenPort).toBe(7443);
  });
});
