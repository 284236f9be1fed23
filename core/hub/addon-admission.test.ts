/**
 * The admission rule for Addon writes: which overlap a new or changed Addon
 * adds, against Sites with labels, explicit site lists and selectors.
 * And the admission over a real SQLite store, written to concurrently.
 * (Over HTTP: app.addon-conflict.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteStore, StoreErrors, type AddonObject, type AddonSpec } from '../store/index.ts';
import { addedAddonConflict, createAddonAdmission, type SiteLabels } from './addon-admission.ts';

const addon = (name: string, spec: AddonSpec, created = '2026-01-01T00:00:00.000Z'): AddonObject => ({
  apiVersion: 'edgeadm.io/v1alpha1',
  kind: 'Addon',
  metadata: { name, creationTimestamp: created },
  spec,
});

const sites: SiteLabels[] = [
  { name: 'plant-a', labels: { region: 'north', line: '1' } },
  { name: 'plant-b', labels: { region: 'south' } },
];

describe('addedAddonConflict', () => {
  it('names the other Addon, the plugin and the site, for lists and selectors alike', () => {
    const held = addon('meters', { plugin: 'modbus', sites: ['plant-a'] });
    expect(addedAddonConflict(addon('north', { plugin: 'modbus', siteSelector: { region: 'north' } }), undefined, [held], sites)).toEqual({
      addon: 'north',
      plugin: 'modbus',
      site: 'plant-a',
      heldBy: 'meters',
    });
    const bySelector = addon('lines', { plugin: 'modbus', siteSelector: { line: '1' } });
    expect(addedAddonConflict(addon('listed', { plugin: 'modbus', sites: ['plant-a'] }), undefined, [bySelector], sites)).toMatchObject({ site: 'plant-a', heldBy: 'lines' });
    // `{}` selects every site.
    expect(addedAddonConflict(addon('all', { plugin: 'modbus', siteSelector: {} }), undefined, [held], sites)).toMatchObject({ site: 'plant-a', heldBy: 'meters' });
  });

  it('lets other plugins, disjoint sites and selectors that match no site through', () => {
    const held = addon('meters', { plugin: 'modbus', sites: ['plant-a'] });
    expect(addedAddonConflict(addon('mqtt', { plugin: 'mqtt', sites: ['plant-a'] }), undefined, [held], sites)).toBeUndefined();
    expect(addedAddonConflict(addon('south', { plugin: 'modbus', sites: ['plant-b'] }), undefined, [held], sites)).toBeUndefined();
    expect(addedAddonConflict(addon('east', { plugin: 'modbus', siteSelector: { region: 'east' } }), undefined, [held], sites)).toBeUndefined();
    expect(addedAddonConflict(addon('none', { plugin: 'modbus' }), undefined, [held], sites)).toBeUndefined();
  });

  it('is never in conflict with itself: an update of the same Addon passes', () => {
    const stored = addon('meters', { plugin: 'modbus', sites: ['plant-a'] });
    const changed = addon('meters', { plugin: 'modbus', sites: ['plant-a', 'plant-b'], config: { pollMs: 500 } });
    expect(addedAddonConflict(changed, stored, [stored], sites)).toBeUndefined();
  });

  it('counts a listed site that does not exist yet, with no labels', () => {
    const held = addon('future', { plugin: 'modbus', sites: ['plant-z'] });
    expect(addedAddonConflict(addon('also', { plugin: 'modbus', sites: ['plant-z'] }), undefined, [held], sites)).toEqual({ addon: 'also', plugin: 'modbus', site: 'plant-z', heldBy: 'future' });
    const everywhere = addon('everywhere', { plugin: 'modbus', siteSelector: {} });
    expect(addedAddonConflict(addon('also', { plugin: 'modbus', sites: ['plant-z'] }), undefined, [everywhere], sites)).toMatchObject({ site: 'plant-z', heldBy: 'everywhere' });
    const labelled = addon('labelled', { plugin: 'modbus', siteSelector: { region: 'north' } });
    expect(addedAddonConflict(addon('also', { plugin: 'modbus', sites: ['plant-z'] }), undefined, [labelled], sites)).toBeUndefined();
  });

  it('refuses only the overlaps an update adds; one found later does not block changing the Addon', () => {
    const older = addon('older', { plugin: 'modbus', siteSelector: { line: '1' } }, '2026-01-01T00:00:00.000Z');
    const stored = addon('newer', { plugin: 'modbus', siteSelector: { region: 'north' } }, '2026-01-02T00:00:00.000Z');
    // plant-a was relabelled into both selectors: the overlap was found later.
    const reconfigured = addon('newer', { plugin: 'modbus', siteSelector: { region: 'north' }, config: { pollMs: 100 } });
    expect(addedAddonConflict(reconfigured, stored, [older, stored], sites)).toBeUndefined();
    expect(addedAddonConflict(addon('older', { plugin: 'modbus', siteSelector: { line: '1' }, config: {} }), older, [older, stored], sites)).toBeUndefined();
    // Adding plant-b is a new overlap when another Addon has it.
    const south = addon('south', { plugin: 'modbus', sites: ['plant-b'] });
    const widened = addon('newer', { plugin: 'modbus', siteSelector: { region: 'north' }, sites: ['plant-b'] });
    expect(addedAddonConflict(widened, stored, [older, stored, south], sites)).toEqual({ addon: 'newer', plugin: 'modbus', site: 'plant-b', heldBy: 'south' });
    // A changed plugin makes every overlap new.
    const mqttStored = addon('newer', { plugin: 'mqtt', siteSelector: { region: 'north' } });
    expect(addedAddonConflict(reconfigured, mqttStored, [older], sites)).toMatchObject({ site: 'plant-a', heldBy: 'older' });
  });

  it('names the first site by name and, there, the oldest other Addon', () => {
    const young = addon('a-young', { plugin: 'modbus', siteSelector: {} }, '2026-03-01T00:00:00.000Z');
    const old = addon('z-old', { plugin: 'modbus', siteSelector: {} }, '2026-01-01T00:00:00.000Z');
    expect(addedAddonConflict(addon('new', { plugin: 'modbus', sites: ['plant-b', 'plant-a'] }), undefined, [young, old], sites)).toEqual({
      addon: 'new',
      plugin: 'modbus',
      site: 'plant-a',
      heldBy: 'z-old',
    });
  });
});

describe('createAddonAdmission over a SQLite store', () => {
  it('lets exactly one of several Addons written at once take a site; the others are refused naming it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-admission-'));
    const store = openSqliteStore({ file: path.join(dir, 'resources.db') });
    try {
      await store.apply({ apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: 'plant-a' }, spec: {} });
      const admission = createAddonAdmission(store);
      const names = ['race-1', 'race-2', 'race-3', 'race-4'];
      const results = await Promise.allSettled(
        names.map((n) => {
          const obj = { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon' as const, metadata: { name: n }, spec: { plugin: 'opcua', sites: ['plant-a'] } };
          return admission.admit(obj, () => store.create(obj));
        }),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      const winner = (won[0] as PromiseFulfilledResult<AddonObject>).value.metadata.name;
      for (const r of results.filter((x): x is PromiseRejectedResult => x.status === 'rejected')) {
        expect(StoreErrors.ErrAddonConflict.is(r.reason)).toBe(true);
        expect((r.reason as { params: unknown }).params).toMatchObject({ plugin: 'opcua', site: 'plant-a', heldBy: winner });
      }
      expect((await store.list('Addon')).items.map((a) => a.metadata.name)).toEqual([winner]);
      // Other kinds are written as they come; a body the store refuses gets the store's own error.
      const bad = { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon' as const, metadata: { name: 'bad' }, spec: { sites: ['plant-a'] } };
      await expect(admission.admit(bad, () => store.create(bad))).rejects.toMatchObject({ code: 'EDGE_ERR_STORE_INVALID' });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
