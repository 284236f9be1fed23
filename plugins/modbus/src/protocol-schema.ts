/**
 * The Modbus protocol blocks as JSON schemas (`definePlugin({ protocols })`):
 * the console's forms and the hub's check of Device writes. The bounds,
 * defaults and parities here are the ones protocol.ts reads blocks with.
 * Light on purpose: the hub loads it without the Modbus library.
 */
import { Type, type TSchema } from '../../../core/sdk/index.ts';

export const MODBUS_PROTOCOLS = ['modbus-tcp', 'modbus-rtu', 'modbus-rtu-over-tcp'] as const;
export type ModbusProtocol = (typeof MODBUS_PROTOCOLS)[number];

/** The integer fields: default, and bounds. */
export const MODBUS_INTEGER_FIELDS = {
  Port: { default: 502, minimum: 1, maximum: 65535 },
  UnitID: { default: 1, minimum: 0, maximum: 255 },
  /** Seconds, as EdgeX gives it. */
  Timeout: { default: 5, minimum: 1, maximum: 600 },
  BaudRate: { default: 19200, minimum: 300, maximum: 4_000_000 },
  DataBits: { default: 8, minimum: 7, maximum: 8 },
  StopBits: { default: 1, minimum: 1, maximum: 2 },
} as const;
export type ModbusIntegerField = keyof typeof MODBUS_INTEGER_FIELDS;

/** The parities a block may name (any letter case): EdgeX's letters and their words. */
export const MODBUS_PARITIES = ['N', 'E', 'O', 'NONE', 'EVEN', 'ODD'] as const;
export type ModbusParityName = (typeof MODBUS_PARITIES)[number];
export const DEFAULT_PARITY: ModbusParityName = 'N';

const integer = (name: ModbusIntegerField, description: string): TSchema => Type.Optional(Type.Integer({ ...MODBUS_INTEGER_FIELDS[name], description }));

const common = {
  UnitID: integer('UnitID', 'The Modbus unit (slave) id.'),
  Timeout: integer('Timeout', 'How long to wait for an answer, in whole seconds.'),
};

const tcp = (what: string): TSchema =>
  Type.Object(
    {
      Address: Type.String({ pattern: '\\S', description: `Host name or IP address of the ${what}.`, examples: ['10.0.0.5'] }),
      Port: integer('Port', 'TCP port.'),
      ...common,
    },
    { description: 'Keys match in any letter case; numbers may be strings ("502"), as EdgeX writes them. Fields not listed are ignored.' },
  );

/** The JSON schema of each Modbus protocol block. */
export const MODBUS_PROTOCOL_SCHEMAS: Readonly<Record<ModbusProtocol, TSchema>> = {
  'modbus-tcp': tcp('Modbus TCP device'),
  'modbus-rtu-over-tcp': tcp('serial gateway (RTU framing over TCP)'),
  'modbus-rtu': Type.Object(
    {
      Address: Type.String({ pattern: '\\S', description: 'The serial port.', examples: ['/dev/ttyUSB0'] }),
      BaudRate: integer('BaudRate', 'Serial line speed.'),
      DataBits: integer('DataBits', 'Data bits per character.'),
      StopBits: integer('StopBits', 'Stop bits per character.'),
      Parity: Type.Optional(
        Type.Union(
          MODBUS_PARITIES.map((p) => Type.Literal(p)),
          { default: DEFAULT_PARITY, description: 'N (none), E (even) or O (odd); the words NONE, EVEN and ODD too, in any letter case.' },
        ),
      ),
      ...common,
    },
    { description: 'Keys match in any letter case; numbers may be strings ("19200"), as EdgeX writes them. Fields not listed are ignored.' },
  ),
};
