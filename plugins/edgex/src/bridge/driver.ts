/**
 * The `edgex` driver in bridge mode: the same devices as on the bus
 * (devices.ts: the table, the protocol block, events into the sink), whose
 * reads and writes go to the existing EdgeX's core-command instead of being
 * refused:
 *
 * - read: `GET .../device/name/{deviceName}/{resource}?ds-pushevent=false&ds-returnevent=true`;
 *   the EventResponse's readings become samples with their valueTypes as
 *   they are (the SDK's edgexToReadings); a reading whose valueType is not
 *   the profile's, a missing reading, or a failed call is a `bad` sample
 *   whose quality detail is the coded error.
 * - write: `PUT .../device/name/{deviceName}/{resource}` with
 *   `{ resource: value }`, the value as EdgeX's text (formatEdgeXValue).
 *
 * A call core-command does not answer marks core-command down in the
 * bridge's health; any answer marks it up.
 */
import {
  edgexToReadings,
  formatEdgeXValue,
  formatQualityDetail,
  nowOrigin,
  toErrorInfo,
  type DeviceDriver,
  type Sample,
  type WriteResult,
} from '../../../../core/sdk/index.ts';
import { createEdgeXDriver, type EdgeXDeviceTable } from '../devices.ts';
import { ErrEdgeXBridgeAnswer, ErrEdgeXBusTypeMismatch } from '../errors.ts';
import { isUnreachable, type EdgeXRestClient } from './client.ts';
import type { BridgeHealth } from './status.ts';

export function createBridgeDriver(table: EdgeXDeviceTable, client: EdgeXRestClient, health: BridgeHealth): DeviceDriver {
  const base = createEdgeXDriver(table);

  /** Notes what a call to core-command says about its health. */
  function observe(err: unknown, fields: Record<string, unknown>): void {
    if (err === undefined) health.ok('core-command');
    else if (isUnreachable(err)) health.fail('core-command', err, fields);
    else health.ok('core-command');
  }

  return {
    ...base,
    async connect(device) {
      const conn = await base.connect(device);
      const edgexName = (device.protocol as { deviceName?: string }).deviceName ?? device.name;
      const entry = table.byEdgeXName(edgexName)!;
      const bad = (resource: string, err: unknown): Sample => ({
        resource,
        value: null,
        valueType: entry.resources.get(resource)?.valueType ?? 'String',
        origin: nowOrigin(),
        quality: 'bad',
        qualityDetail: formatQualityDetail(toErrorInfo(err).code, toErrorInfo(err).message),
      });
      return {
        ...conn,
        async read(resources, signal) {
          const out: Sample[] = [];
          for (const resource of resources) {
            try {
              const event = await client.read(edgexName, resource, signal);
              observe(undefined, {});
              const decoded = edgexToReadings(event);
              const r = decoded.readings.find((x) => x.resource === resource);
              if (!r) throw new ErrEdgeXBridgeAnswer({ service: 'core-command', url: `${edgexName}/${resource}`, reason: `the event has no reading of '${resource}'` });
              const expected = entry.resources.get(resource)?.valueType;
              if (expected !== undefined && expected !== r.valueType) throw new ErrEdgeXBusTypeMismatch({ device: device.name, resource, valueType: r.valueType, expected });
              const { device: _d, profile: _p, ...sample } = r;
              out.push(sample);
            } catch (err) {
              if (signal?.aborted) throw err;
              observe(err, { device: device.name, command: resource });
              out.push(bad(resource, err));
            }
          }
          return out;
        },
        async write(requests, signal) {
          const out: WriteResult[] = [];
          for (const w of requests) {
            try {
              const valueType = entry.resources.get(w.resource)?.valueType ?? 'String';
              await client.write(edgexName, w.resource, { [w.resource]: formatEdgeXValue(valueType, w.value) }, signal);
              observe(undefined, {});
              out.push({ resource: w.resource, ok: true });
            } catch (err) {
              if (signal?.aborted) throw err;
              observe(err, { device: device.name, command: w.resource });
              const { code, message } = toErrorInfo(err);
              out.push({ resource: w.resource, ok: false, error: { code, message } });
            }
          }
          return out;
        },
      };
    },
  };
}
