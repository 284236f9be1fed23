/**
 * EdgeX v3's bus layout: event topics (names raw, or escaped as EdgeX's
 * URLEncode escapes them), and the message envelope both ways, with every
 * way an envelope can be wrong refused by a coded error naming the field.
 */
import { describe, expect, it } from 'vitest';
import {
  edgexEventTopic,
  edgexEventTopicFilter,
  edgexTopicNameIs,
  edgexUrlEncode,
  parseEdgeXEventTopic,
  unwrapEdgeXEnvelope,
  wrapEdgeXEnvelope,
  type EdgeXMessageEnvelope,
} from './bus.ts';
import { edgexAddEventRequest, edgexEventOf } from './events.ts';

const parts = { service: 'device-modbus', profile: 'power-meter', device: 'meter-1', source: 'voltage' };

describe('EdgeX event topics', () => {
  it("are device-sdk-go's: <base>/events/device/<service>/<profile>/<device>/<source>", () => {
    expect(edgexEventTopic(parts)).toBe('edgex/events/device/device-modbus/power-meter/meter-1/voltage');
    expect(edgexEventTopic(parts, { baseTopic: 'plant-a/edgex' })).toBe('plant-a/edgex/events/device/device-modbus/power-meter/meter-1/voltage');
    expect(edgexEventTopicFilter()).toBe('edgex/events/device/#');
    expect(parseEdgeXEventTopic('edgex/events/device/device-modbus/power-meter/meter-1/voltage')).toEqual(parts);
  });

  it("escapes names as EdgeX's common.URLEncode does when asked (its own test vectors), and '+' too", () => {
    expect(edgexUrlEncode('^[this]+{is}?test:string*#')).toBe('%5E%5Bthis%5D+%7Bis%7D%3Ftest:string%2A%23');
    expect(edgexUrlEncode('this-is_test.string~')).toBe('this%2Dis%5Ftest%2Estring%7E');
    expect(edgexUrlEncode('Température/1')).toBe('Temp%C3%A9rature%2F1');
    const odd = { service: 'svc', profile: 'Power Meter', device: 'a+b', source: 'Température' };
    const topic = edgexEventTopic(odd, { escapeNames: true });
    expect(topic).toBe('edgex/events/device/svc/Power%20Meter/a%2Bb/Temp%C3%A9rature');
    expect(parseEdgeXEventTopic(topic, { escapeNames: true })).toEqual(odd);
  });

  it('encodes a name MQTT would misread (/, +, #, empty) even without escaping; the others go as they are', () => {
    const topic = edgexEventTopic({ service: 'svc', profile: 'p', device: 'line/2', source: 'a#b' });
    expect(topic).toBe('edgex/events/device/svc/p/line%2F2/a%23b');
    const parsed = parseEdgeXEventTopic(topic);
    expect(parsed.device).toBe('line%2F2');
    expect(edgexTopicNameIs(parsed.device, 'line/2')).toBe(true);
    expect(edgexTopicNameIs('meter-1', 'meter-1')).toBe(true);
    expect(edgexTopicNameIs('%E0%A4%A', 'x')).toBe(false);
    expect(edgexEventTopic({ ...parts, source: 'Temp é' })).toBe('edgex/events/device/device-modbus/power-meter/meter-1/Temp é');
  });

  it('refuses a topic outside the base or without four names, naming it', () => {
    expect(() => parseEdgeXEventTopic('edgex/events/core/core-data/p/d/s')).toThrow(/EdgeX topic 'edgex\/events\/core\/core-data\/p\/d\/s': is not under 'edgex\/events\/device\/'/);
    expect(() => parseEdgeXEventTopic('edgex/events/device/svc/p/d')).toThrow(/has 3 names after 'edgex\/events\/device\/', not 4/);
    expect(() => parseEdgeXEventTopic('edgex/events/device/svc/p/d/s/x')).toThrow(/has 5 names/);
    expect(() => parseEdgeXEventTopic('edgex/events/device/svc//d/s')).toThrow(/has 3 names/);
    expect(() => parseEdgeXEventTopic('edgex/events/device/svc/p/%E0%A4%A/s', { escapeNames: true })).toThrow(/level '%E0%A4%A' is not percent-encoded UTF-8/);
  });
});

describe('EdgeX message envelopes', () => {
  const reading = { device: 'meter-1', profile: 'power-meter', resource: 'voltage', valueType: 'Float32' as const, value: 230.1, origin: 1733300000123456768, quality: 'good' as const };

  it('wrap an AddEventRequest as go-mod-messaging v3 does: base64 JSON payload, apiVersion v3, a correlation id', () => {
    const request = edgexAddEventRequest(edgexEventOf([reading]));
    const text = wrapEdgeXEnvelope(request, { correlationId: 'c0ffee00-0000-4000-8000-000000000000' });
    const env = JSON.parse(text) as EdgeXMessageEnvelope;
    expect(Object.keys(env)).toEqual(['apiVersion', 'receivedTopic', 'correlationID', 'requestID', 'errorCode', 'payload', 'contentType']);
    expect(env).toMatchObject({ apiVersion: 'v3', receivedTopic: '', correlationID: 'c0ffee00-0000-4000-8000-000000000000', requestID: '', errorCode: 0, contentType: 'application/json' });
    expect(JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'))).toEqual(request);
    const { envelope, payload } = unwrapEdgeXEnvelope(Buffer.from(text), 'edgex/events/device/x/y/z/w');
    expect(envelope.receivedTopic).toBe('edgex/events/device/x/y/z/w');
    expect(payload).toEqual(request);
  });

  it('take an envelope whose payload is the event itself (EdgeX 4 without base64)', () => {
    const request = edgexAddEventRequest(edgexEventOf([reading]));
    const text = JSON.stringify({ apiVersion: 'v3', receivedTopic: '', correlationID: '', requestID: '', errorCode: 0, payload: request, contentType: 'application/json' });
    expect(unwrapEdgeXEnvelope(text).payload).toEqual(request);
  });

  it('refuse what is not an envelope of an event, naming the field', () => {
    const ok = { apiVersion: 'v3', receivedTopic: '', correlationID: 'c', requestID: '', errorCode: 0, payload: Buffer.from('{"a":1}').toString('base64'), contentType: 'application/json' };
    const cases: [string, string, string, RegExp][] = [
      ['not JSON', '{"apiVersion":', 'EDGE_ERR_EDGEX_ENVELOPE', /EdgeX message envelope: \(envelope\) is not JSON/],
      ['an array', '[1]', 'EDGE_ERR_EDGEX_ENVELOPE', /\(envelope\) is not a JSON object/],
      ['no contentType', JSON.stringify({ ...ok, contentType: undefined }), 'EDGE_ERR_EDGEX_ENVELOPE', /contentType is missing/],
      ['errorCode text', JSON.stringify({ ...ok, errorCode: '0' }), 'EDGE_ERR_EDGEX_ENVELOPE', /errorCode is string, not a number/],
      ['an error envelope', JSON.stringify({ ...ok, errorCode: 1, contentType: 'text/plain' }), 'EDGE_ERR_EDGEX_ENVELOPE', /errorCode is 1: the payload is an error/],
      ['text/plain', JSON.stringify({ ...ok, contentType: 'text/plain' }), 'EDGE_ERR_EDGEX_CONTENT_TYPE', /contentType 'text\/plain' is not application\/json or application\/cbor/],
      ['no payload', JSON.stringify({ ...ok, payload: undefined }), 'EDGE_ERR_EDGEX_ENVELOPE', /payload is missing/],
      ['payload a number', JSON.stringify({ ...ok, payload: 5 }), 'EDGE_ERR_EDGEX_ENVELOPE', /payload is number, not base64 text/],
      ['payload not base64', JSON.stringify({ ...ok, payload: 'eyJhIjox!' }), 'EDGE_ERR_EDGEX_ENVELOPE', /payload is not base64/],
      ['payload not JSON', JSON.stringify({ ...ok, payload: Buffer.from('{"a":').toString('base64') }), 'EDGE_ERR_EDGEX_PAYLOAD', /EdgeX event payload \(application\/json\) does not decode/],
      ['payload too deep', JSON.stringify({ ...ok, payload: Buffer.from('['.repeat(100) + ']'.repeat(100)).toString('base64') }), 'EDGE_ERR_EDGEX_PAYLOAD', /deeper|nest/],
      ['payload not CBOR', JSON.stringify({ ...ok, contentType: 'application/cbor', payload: Buffer.from([0xa1, 0x61]).toString('base64') }), 'EDGE_ERR_EDGEX_PAYLOAD', /\(application\/cbor\) does not decode: text string of length 1 is longer than the 0 bytes left at byte 2/],
    ];
    for (const [what, text, code, message] of cases) {
      let caught: unknown;
      try {
        unwrapEdgeXEnvelope(text);
      } catch (err) {
        caught = err;
      }
      expect(caught, what).toMatchObject({ code });
      expect((caught as Error).message, what).toMatch(message);
    }
    expect(unwrapEdgeXEnvelope(JSON.stringify({ ...ok, contentType: 'application/json; charset=utf-8' })).payload).toEqual({ a: 1 });
  });
});
