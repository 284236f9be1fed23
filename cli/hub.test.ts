/** `hub run`'s kube store option, as `init` shares it: a file, or the pod's ServiceAccount; and its telemetry store option. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exportGroup, exportTopic, exportUrl } from '../core/telemetry/index.ts';
import { exportOption, kubeStoreOption, redactedUrl, stateOption, telemetryOption } from './hub.ts';

const saved = process.env.KUBERNETES_SERVICE_HOST;
afterEach(() => {
  if (saved === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
  else process.env.KUBERNETES_SERVICE_HOST = saved;
});

describe('the kube store option', () => {
  it('takes an existing kubeconfig file, resolved, with a namespace name', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-hub-opt-'));
    const file = path.join(dir, 'kubeconfig');
    writeFileSync(file, 'apiVersion: v1\nkind: Config\n');
    expect(kubeStoreOption({ kubeconfig: file, namespace: 'edge-system', installCrds: true })).toEqual({ kind: 'kube', kubeConfig: file, namespace: 'edge-system', installCrds: true });
    expect(kubeStoreOption({ namespace: 'edgeadm' })).toBeUndefined();
    expect(() => kubeStoreOption({ namespace: 'edgeadm', installCrds: true })).toThrow(/--install-crds: needs --kubeconfig/);
    expect(() => kubeStoreOption({ kubeconfig: path.join(dir, 'none'), namespace: 'edgeadm' })).toThrow(/--kubeconfig: no file at/);
    expect(() => kubeStoreOption({ kubeconfig: file, namespace: 'Edge_System' })).toThrow(/--namespace: 'Edge_System'/);
  });

  it("takes 'in-cluster' inside a pod only", () => {
    delete process.env.KUBERNETES_SERVICE_HOST;
    expect(() => kubeStoreOption({ kubeconfig: 'in-cluster', namespace: 'edgeadm' })).toThrow(/--kubeconfig: 'in-cluster' needs a pod \(KUBERNETES_SERVICE_HOST is not set\)/);
    process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
    expect(kubeStoreOption({ kubeconfig: 'in-cluster', namespace: 'edgeadm' })).toEqual({ kind: 'kube', kubeConfig: 'in-cluster', namespace: 'edgeadm', installCrds: false });
  });
});

describe('the telemetry store option', () => {
  it('is sqlite by default, or a postgres:// URL with a database and a retention in days', () => {
    expect(telemetryOption(undefined, undefined)).toEqual({ kind: 'sqlite' });
    expect(telemetryOption('sqlite', undefined)).toEqual({ kind: 'sqlite' });
    expect(telemetryOption('postgres://hub:s3cret@db:5432/edgeadm', '90')).toEqual({ kind: 'postgres', url: 'postgres://hub:s3cret@db:5432/edgeadm', retentionDays: 90 });
    expect(telemetryOption('postgresql://db/edgeadm', undefined)).toEqual({ kind: 'postgres', url: 'postgresql://db/edgeadm' });
  });

  it('names the argument of a bad value, and never echoes a password', () => {
    expect(() => telemetryOption('mysql://db/x', undefined)).toThrow(/--telemetry: must be 'sqlite' or a postgres:\/\/ URL, not mysql:/);
    expect(() => telemetryOption('not a url', undefined)).toThrow(/--telemetry: is not 'sqlite' or a postgres:\/\/ URL/);
    expect(() => telemetryOption('postgres://hub:s3cret@db:5432', undefined)).toThrow(/--telemetry: names no database/);
    expect(() => telemetryOption('postgres://hub:s3cret@db:5432', undefined)).not.toThrow(/s3cret/);
    expect(() => telemetryOption('postgres://db/x', '0')).toThrow(/--telemetry-retention: '0' is not a whole number of days/);
    expect(() => telemetryOption(undefined, '30')).toThrow(/--telemetry-retention: needs a postgres telemetry store/);
    expect(redactedUrl('postgres://hub:s3cret@db:5432/edgeadm')).toBe('postgres://hub:***@db:5432/edgeadm');
  });
});

describe('the state option', () => {
  it("is the store's own by default, or a postgres:// URL naming a database; a bad one is named, its password never echoed", () => {
    expect(stateOption(undefined)).toBeUndefined();
    expect(stateOption('postgres://hub:s3cret@db:5432/edgeadm')).toEqual({ kind: 'postgres', url: 'postgres://hub:s3cret@db:5432/edgeadm' });
    expect(() => stateOption('sqlite')).toThrow(/--state: is not a postgres:\/\/ URL/);
    expect(() => stateOption('mysql://db/x')).toThrow(/--state: must be a postgres:\/\/ URL, not mysql:/);
    expect(() => stateOption('postgres://hub:s3cret@db:5432')).toThrow(/--state: names no database/);
    expect(() => stateOption('postgres://hub:s3cret@db:5432')).not.toThrow(/s3cret/);
  });
});

describe('the export option', () => {
  const base = { exportTopic: 'edgeadm/{site}/{device}/{resource}', exportFormat: 'json' as const };
  const checks = { exportUrl, exportTopic, exportGroup };
  it('takes the login out of the URL, and reads the CA', () => {
    expect(exportOption(undefined, base, checks)).toBeUndefined();
    expect(exportOption('mqtts://exp:p%40ss@broker.example.com:8883', base, checks)).toEqual({
      url: 'mqtts://broker.example.com:8883',
      username: 'exp',
      password: 'p@ss',
      topic: base.exportTopic,
      format: 'json',
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'export-ca-'));
    writeFileSync(path.join(dir, 'ca.pem'), 'PEM');
    expect(exportOption('mqtt://b:1883', { ...base, exportCa: path.join(dir, 'ca.pem') }, checks)?.ca).toBe('PEM');
  });

  it('names the flag of a bad value', () => {
    expect(() => exportOption('not a url', base, checks)).toThrow(/--export: is not a URL/);
    expect(() => exportOption('http://b', base, checks)).toThrow(/--export: must be mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\//);
    expect(() => exportOption('mqtt://b', { ...base, exportTopic: 'a/#' }, checks)).toThrow(/--export-topic: 'a\/#' must be a topic without wildcards/);
    expect(() => exportOption('mqtt://b', { ...base, exportCa: '/no/such/ca.pem' }, checks)).toThrow(/--export-ca: \/no\/such\/ca.pem cannot be read \(ENOENT\)/);
    expect(() => exportOption(undefined, { ...base, exportCa: '/x' }, checks)).toThrow(/--export-ca: needs --export/);
  });

  it('takes sparkplug with a group (edgeadm by default) and no topic; the topic default is for json and edgex', () => {
    expect(exportOption('mqtt://hub:s3cret@b:1883', { exportFormat: 'sparkplug' }, checks)).toEqual({ url: 'mqtt://b:1883', username: 'hub', password: 's3cret', format: 'sparkplug', group: 'edgeadm' });
    expect(exportOption('mqtt://b:1883', { exportFormat: 'sparkplug', exportGroup: 'Plant Floor' }, checks)).toEqual({ url: 'mqtt://b:1883', format: 'sparkplug', group: 'Plant Floor' });
    expect(exportOption('mqtt://b:1883', { exportFormat: 'edgex' }, checks)).toEqual({ url: 'mqtt://b:1883', format: 'edgex', topic: 'edgeadm/{site}/{device}/{resource}' });
  });

  it('names the flag that does not go with sparkplug, or a group it refuses', () => {
    expect(() => exportOption('mqtt://b', { exportFormat: 'sparkplug', exportTopic: 'a/{site}' }, checks)).toThrow(/--export-topic: does not apply to --export-format sparkplug/);
    expect(() => exportOption('mqtt://b', { exportFormat: 'json', exportGroup: 'fleet' }, checks)).toThrow(/--export-group: needs --export-format sparkplug/);
    expect(() => exportOption(undefined, { exportFormat: 'sparkplug', exportGroup: 'fleet' }, checks)).toThrow(/--export-group: needs --export/);
    // core/telemetry's group check refuses with EDGE_ERR_EXPORT_OPTION; its reason becomes the flag's.
    expect(() => exportOption('mqtt://b', { exportFormat: 'sparkplug', exportGroup: 'a/b' }, checks)).toThrow(/--export-group: 'a\/b'/);
    expect(() => exportOption('mqtt://b', { exportFormat: 'sparkplug', exportGroup: '' }, checks)).toThrow(/--export-group/);
  });
});
