/** `hub run`'s kube store option, as `init` shares it: a file, or the pod's ServiceAccount; and its telemetry store option. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exportTopic, exportUrl } from '../core/telemetry/index.ts';
import { exportOption, kubeStoreOption, redactedUrl, telemetryOption } from './hub.ts';

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
    expect(() => telemetryOption('not a url', undefined)).toThrow(/--telemetry: is neither 'sqlite' nor a postgres:\/\/ URL/);
    expect(() => telemetryOption('postgres://hub:s3cret@db:5432', undefined)).toThrow(/--telemetry: names no database/);
    expect(() => telemetryOption('postgres://hub:s3cret@db:5432', undefined)).not.toThrow(/s3cret/);
    expect(() => telemetryOption('postgres://db/x', '0')).toThrow(/--telemetry-retention: '0' is not a whole number of days/);
    expect(() => telemetryOption(undefined, '30')).toThrow(/--telemetry-retention: needs a postgres telemetry store/);
    expect(redactedUrl('postgres://hub:s3cret@db:5432/edgeadm')).toBe('postgres://hub:***@db:5432/edgeadm');
  });
});

describe('the export option', () => {
  const base = { exportTopic: 'edgeadm/{site}/{device}/{resource}', exportFormat: 'json' as const };
  const checks = { exportUrl, exportTopic };
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
});
