/**
 * A protocol block read against its schema as drivers read blocks: keys in
 * any case, blanks as absent, EdgeX's numeric strings as numbers, enums in
 * any case, durations, booleans; every problem at its field's path; the same
 * with the schema as plain JSON (as the hub's catalog may carry it).
 */
import { describe, expect, it } from 'vitest';
import { DURATION_KEYWORD, normalizeProtocolBlock, protocolBlockIssues, Type } from './index.ts';

const Schema = Type.Object({
  Address: Type.String({ pattern: '\\S' }),
  Port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 502 })),
  Gain: Type.Optional(Type.Number({ minimum: 0 })),
  Parity: Type.Optional(Type.Union([Type.Literal('N'), Type.Literal('E'), Type.Literal('O')])),
  Interval: Type.Optional(Type.Number({ minimum: 10, [DURATION_KEYWORD]: 'ms' })),
  Timeout: Type.Optional(Type.Number({ minimum: 10, [DURATION_KEYWORD]: 'go' })),
  Enabled: Type.Optional(Type.Boolean()),
});

describe('protocol blocks against their schema', () => {
  it("names fields as the schema does, takes EdgeX's strings, drops blanks, keeps fields it does not know", () => {
    expect(
      normalizeProtocolBlock(Schema, { address: '10.0.0.5', PORT: ' 502 ', gain: '0.5', parity: ' e ', interval: '2s', timeout: '1m', enabled: 'true', Extra: 'x', Blank: '' }),
    ).toEqual({ Address: '10.0.0.5', Port: 502, Gain: 0.5, Parity: 'E', Interval: 2000, Timeout: 60_000, Enabled: true, Extra: 'x' });
    expect(normalizeProtocolBlock(Schema, { Interval: '250.4', Timeout: '250' })).toEqual({ Interval: 250, Timeout: '250' });
    expect(normalizeProtocolBlock(Schema, { Port: '502', port: '503' })).toEqual({ Port: 502 });
    expect(normalizeProtocolBlock(Schema, 'not a block')).toBe('not a block');
  });

  it('reports every problem at its path, in the schema spelling', () => {
    const issues = protocolBlockIssues(Schema, { address: '', port: '70000', gain: 'x', parity: 'Z', interval: 'soon', timeout: '5', enabled: 'yes' }, 'spec.protocols.p');
    expect(issues.map((i) => i.path).sort()).toEqual([
      'spec.protocols.p.Address',
      'spec.protocols.p.Enabled',
      'spec.protocols.p.Gain',
      'spec.protocols.p.Interval',
      'spec.protocols.p.Parity',
      'spec.protocols.p.Port',
      'spec.protocols.p.Timeout',
    ]);
    expect(issues.find((i) => i.path.endsWith('Address'))?.message).toBe('is required');
    expect(protocolBlockIssues(Schema, { Address: 'h', Port: '1.5' }, 'x').map((i) => i.path)).toEqual(['x.Port']);
    expect(protocolBlockIssues(Schema, { Address: 'h', Port: '-0' }, 'x').map((i) => i.path)).toEqual(['x.Port']);
    expect(protocolBlockIssues(Schema, { Address: 'h', Port: '502', Parity: 'o' }, 'x')).toEqual([]);
  });

  it('reads a plain JSON copy of the schema the same way', () => {
    const plain = JSON.parse(JSON.stringify(Schema)) as typeof Schema;
    const block = { address: ' ', port: 'abc', interval: '3s', Parity: 'n' };
    expect(protocolBlockIssues(plain, block, 'p')).toEqual(protocolBlockIssues(Schema, block, 'p'));
    expect(protocolBlockIssues(plain, { Address: 'h', port: '80' }, 'p')).toEqual([]);
  });
});

describe('messages of protocol block problems', () => {
  const Forms = Type.Object({
    Endpoint: Type.String({ pattern: '^opc\\.tcp://', description: 'The server endpoint.', examples: ['opc.tcp://h:4840'] }),
    Mode: Type.Optional(Type.Union([Type.Literal('None'), Type.Literal('Sign'), Type.String({ pattern: '#Sign$' })])),
  });

  it('say the form a field takes instead of its pattern, and the choices of a union', () => {
    expect(protocolBlockIssues(Forms, { endpoint: 'http://h', mode: 'Encrypt' }, 'p')).toEqual([
      { path: 'p.Endpoint', message: "is not in the form this field takes such as 'opc.tcp://h:4840': The server endpoint." },
      { path: 'p.Mode', message: "must be one of 'None', 'Sign'" },
    ]);
  });
});
