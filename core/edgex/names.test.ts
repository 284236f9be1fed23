/**
 * The one mapping of EdgeX names to resource names: the examples docs/edgex.md
 * shows (read from the page, so the page cannot drift), its properties over
 * arbitrary names (always a valid resource name, stable, a fixed point on
 * valid names), the cut of long names, and the EdgeX name of a resource.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dns1123SubdomainProblem, type Resource } from '../store/index.ts';
import { EDGEX_NAME_ANNOTATION, edgexNameOf, edgexProfileName, edgexResourceName } from './index.ts';

const DOCS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/edgex.md');

/** The rows of the table that follows `<!-- marker` in the page, as cells without backticks. */
function tableAfter(marker: string): string[][] {
  const lines = readFileSync(DOCS, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith(`<!-- ${marker}`));
  expect(start, `docs/edgex.md has the ${marker} table`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 3)) {
    if (!line.startsWith('|')) break;
    rows.push(line.split('|').slice(1, -1).map((c) => c.trim().replace(/^`|`$/g, '')));
  }
  return rows;
}

describe('edgexResourceName', () => {
  it('maps each example of docs/edgex.md as the page says', () => {
    const rows = tableAfter('name-examples');
    expect(rows.length).toBeGreaterThanOrEqual(10);
    for (const [edgex, resource] of rows) expect(edgexResourceName(edgex!), edgex).toBe(resource === '(refused)' ? undefined : resource);
  });

  it('gives profiles their v3 form first, as the page says', () => {
    const rows = tableAfter('profile-examples');
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const [written, kept, resource] of rows) {
      expect(edgexProfileName(written!), written).toBe(kept);
      expect(edgexResourceName(kept!), kept).toBe(resource);
    }
    // What v3 allows stays as it is.
    expect(edgexProfileName('a:b;c=d~e_f-G')).toBe('a:b;c=d~e_f-G');
  });

  it('always gives a valid resource name or none, the same one every time, and leaves valid names as they are', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400, unit: fc.constantFrom('a', 'Z', '9', '-', '.', '_', ' ', 'é', '#', '温', '\u0301', 'Ｆ') }), (s) => {
        const name = edgexResourceName(s);
        if (name === undefined) {
          expect(/[a-z0-9]/i.test(s.normalize('NFKD'))).toBe(false);
          return;
        }
        expect(dns1123SubdomainProblem(name)).toBeUndefined();
        expect(edgexResourceName(s)).toBe(name);
        expect(edgexResourceName(name)).toBe(name);
      }),
      { numRuns: 2000 },
    );
    const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 5 }), (parts) => {
        const valid = parts.join('.');
        expect(edgexResourceName(valid)).toBe(valid);
      }),
    );
  });

  it('cuts a long name to 253 characters with a hash of the whole EdgeX name, so names that begin alike stay apart', () => {
    const long = `Plant-${'x'.repeat(300)}`;
    const a = edgexResourceName(`${long}-A`)!;
    const b = edgexResourceName(`${long}-B`)!;
    expect(a.length).toBe(253);
    expect(a).not.toBe(b);
    expect(a.slice(0, 244)).toBe(b.slice(0, 244));
    // Stable across runs and releases: the first 8 hex digits of sha256("<name>").
    expect(edgexResourceName('x'.repeat(300))).toBe(`${'x'.repeat(244)}-0d4e2ca9`);
    // A name of exactly 253 characters is not cut.
    expect(edgexResourceName('y'.repeat(253))).toBe('y'.repeat(253));
  });
});

describe('edgexNameOf', () => {
  const r = (kind: 'Device' | 'DeviceProfile', name: string, annotation?: string, spec: Record<string, unknown> = {}): Resource => ({
    apiVersion: 'edgeadm.io/v1alpha1',
    kind,
    metadata: { name, ...(annotation === undefined ? {} : { annotations: { [EDGEX_NAME_ANNOTATION]: annotation } }) },
    spec,
  });

  it('is the name a resource was imported with, else its own; a profile in its v3 form', () => {
    expect(edgexNameOf(r('Device', 'power-meter-1-hall', 'Power Meter #1 (Hall)'))).toBe('Power Meter #1 (Hall)');
    expect(edgexNameOf(r('Device', 'plant-a.boiler-1'))).toBe('plant-a.boiler-1');
    expect(edgexNameOf(r('DeviceProfile', 'sensor-mqtt-profile', 'Sensor-MQTT-Profile'))).toBe('Sensor-MQTT-Profile');
    // Made here: onboarding names profiles `<site>.<device>`, which v3 does not allow.
    expect(edgexNameOf(r('DeviceProfile', 'plant-a.boiler-1'))).toBe('plant-a-boiler-1');
    // A profile applied with EdgeX's body keeps EdgeX's name in spec.name.
    expect(edgexNameOf(r('DeviceProfile', 'coolmaster', undefined, { name: 'Test.Device.Modbus.Profile' }))).toBe('Test-Device-Modbus-Profile');
  });
});
