import { describe, expect, it } from 'vitest';
import Type from 'typebox';

type Segs = (string | number)[];
/** form.js's pure helpers (a browser module with JSDoc types, which this project's TypeScript does not read). */
interface FormHelpers {
  fieldsOf: (schema: unknown) => { key: string; kind: string; required: boolean; label: string }[];
  kindOf: (schema: unknown) => string;
  enumOptions: (schema: unknown) => unknown[] | undefined;
  constraintText: (schema: unknown) => string;
  getAt: (value: unknown, segs: Segs) => unknown;
  setAt: (value: unknown, segs: Segs, next: unknown) => unknown;
  parseScalar: (text: string, schema: unknown) => unknown;
  errorFor: (errors: Map<string, string>, path: string, segs: Segs) => string | undefined;
  unplacedErrors: (schema: unknown, value: unknown, errors: Map<string, string>, path: string) => [string, string][];
  fieldId: (idPrefix: string, segs: Segs) => string;
}
const FORM: string = './form.js';
const { constraintText, enumOptions, errorFor, fieldId, fieldsOf, getAt, kindOf, parseScalar, setAt, unplacedErrors } = (await import(FORM)) as FormHelpers;

const Config = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'Broker host' }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 1883 })),
    ratio: Type.Optional(Type.Number()),
    tls: Type.Optional(Type.Boolean({ default: false })),
    mode: Type.Optional(Type.Union([Type.Literal('rtu'), Type.Literal('tcp')])),
    level: Type.Optional(Type.String({ enum: ['a', 'b'] })),
    fixed: Type.Optional(Type.Literal('x')),
    topics: Type.Optional(Type.Array(Type.String())),
    devices: Type.Optional(Type.Array(Type.Object({ name: Type.String() }))),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    extra: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    onboarding: Type.Optional(Type.Object({ enabled: Type.Boolean({ default: true }) }, { title: 'Onboarding' })),
    timeout: Type.Optional(Type.Union([Type.Number(), Type.String()])),
    maybe: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  },
  { additionalProperties: false },
);

describe('fieldsOf / kindOf', () => {
  it('yields one field per property, in order, with how each is edited and whether it is required', () => {
    const fields = fieldsOf(Config);
    expect(fields.map((f) => [f.key, f.kind, f.required])).toEqual([
      ['host', 'text', true],
      ['port', 'integer', false],
      ['ratio', 'number', false],
      ['tls', 'boolean', false],
      ['mode', 'enum', false],
      ['level', 'enum', false],
      ['fixed', 'const', false],
      ['topics', 'list', false],
      ['devices', 'json', false],
      ['labels', 'record', false],
      ['extra', 'json', false],
      ['onboarding', 'object', false],
      ['timeout', 'text', false],
      ['maybe', 'integer', false],
    ]);
    expect(fields.find((f) => f.key === 'onboarding')?.label).toBe('Onboarding');
    expect(fields.find((f) => f.key === 'host')?.label).toBe('host');
    // Required with a default: the default fills it in.
    expect(fieldsOf(Type.Object({ on: Type.Boolean({ default: true }) })).map((f) => f.required)).toEqual([false]);
  });

  it('reads the choices of enums and unions of literals', () => {
    expect(enumOptions(Type.Union([Type.Literal('rtu'), Type.Literal(2)]))).toEqual(['rtu', 2]);
    expect(enumOptions(Type.String({ enum: ['a'] }))).toEqual(['a']);
    expect(enumOptions(Type.String())).toBeUndefined();
    expect(kindOf(Type.Object({}))).toBe('json');
    expect(kindOf(Type.Record(Type.String(), Type.Object({ a: Type.Integer() })))).toBe('record');
  });

  it('says the rules in words', () => {
    expect(constraintText(Type.Integer({ minimum: 1, maximum: 65535, default: 1883 }))).toBe('1–65535; default 1883');
    expect(constraintText(Type.String({ minLength: 1, pattern: '^a' }))).toBe('at least 1 character; matching ^a');
    expect(constraintText(Type.String())).toBe('');
  });
});

describe('getAt / setAt', () => {
  it('reads nested keys and indexes', () => {
    const v = { a: { b: [1, { c: 'x' }] } };
    expect(getAt(v, ['a', 'b', 1, 'c'])).toBe('x');
    expect(getAt(v, ['a', 'z', 0])).toBeUndefined();
    expect(getAt(undefined, ['a'])).toBeUndefined();
  });

  it('writes a copy, making objects as needed and leaving the original alone', () => {
    const v = { a: { port: '502' } };
    const out = setAt(v, ['a', 'host'], 'h');
    expect(out).toEqual({ a: { port: '502', host: 'h' } });
    expect(v).toEqual({ a: { port: '502' } });
    expect(setAt(undefined, ['x', 'y'], 1)).toEqual({ x: { y: 1 } });
    expect(setAt({ l: ['a', 'b'] }, ['l', 1], 'c')).toEqual({ l: ['a', 'c'] });
  });

  it('leaves unset keys out, removing objects left empty', () => {
    expect(setAt({ a: { b: 1 }, c: 2 }, ['a', 'b'], undefined)).toEqual({ c: 2 });
    expect(setAt({ a: { b: 1 } }, ['a', 'b'], undefined)).toBeUndefined();
    expect(setAt({ a: 1 }, ['a'], {})).toEqual({ a: {} });
  });
});

describe('parseScalar', () => {
  it('writes numbers for number fields, text for text, unset for empty', () => {
    expect(parseScalar('502', Type.Integer())).toBe(502);
    expect(parseScalar('1.5', Type.Union([Type.Number(), Type.String()]))).toBe(1.5);
    expect(parseScalar('0x1g', Type.Integer())).toBe('0x1g');
    expect(parseScalar('502', Type.String())).toBe('502');
    expect(parseScalar('', Type.Integer())).toBeUndefined();
  });
});

describe('errors', () => {
  it('finds the message of a field under the form path, dotted or bracketed', () => {
    const errors = new Map([
      ['spec.config.port', 'must be <= 65535'],
      ['spec.config.topics[1]', 'must not be empty'],
      ['spec.config.labels.a.b', 'dotted key'],
    ]);
    expect(errorFor(errors, 'spec.config', ['port'])).toBe('must be <= 65535');
    expect(errorFor(errors, 'spec.config', ['topics', 1])).toBe('must not be empty');
    expect(errorFor(errors, 'spec.config', ['host'])).toBeUndefined();
    expect(errorFor(new Map([['port', 'x']]), '', ['port'])).toBe('x');
  });

  it('lists the problems under the path that no field shows', () => {
    const errors = new Map([
      ['spec.config.port', 'too big'],
      ['spec.config', 'must have required property host'],
      ['spec.config.nope', 'unknown key'],
      ['spec.version', 'not the form'],
      ['spec.config.labels.k', 'bad label'],
    ]);
    expect(unplacedErrors(Config, { labels: { k: 'v' } }, errors, 'spec.config')).toEqual([
      ['', 'must have required property host'],
      ['nope', 'unknown key'],
    ]);
  });

  it('makes safe ids', () => {
    expect(fieldId('dev', ['protocols', 'modbus-tcp', 'Unit ID'])).toBe('dev-protocols-modbus-tcp-Unit_ID');
  });
});
