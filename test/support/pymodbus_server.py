"""A pymodbus 3.0 server for tests: an independent Modbus peer.

Usage:
  /usr/bin/python3 pymodbus_server.py --port P --framer socket|rtu --units 1,2
  /usr/bin/python3 pymodbus_server.py --serial /dev/pts/N --baud 9600 --units 1,2

Every unit holds blocks of SIZE values at address 0 (zero_mode=True, so
address 0 is the first value). The values are a pure function of unit and
address, mirrored in test/support/pymodbus.ts:
  coil(u, a)            = (a + u) % 3 == 0
  discrete input(u, a)  = (a + u) % 2 == 0
  input register(u, a)  = u * 1000 + 500 + a
  holding register(u,a) = u * 1000 + a
Unit ids not listed are ignored (no reply), so a request to them times out.
Reading past SIZE answers ILLEGAL_DATA_ADDRESS. Prints "ready" once listening.
"""
import argparse
import asyncio
import logging
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

SIZE = 100


def unit_context(unit):
    return ModbusSlaveContext(
        co=ModbusSequentialDataBlock(0, [(a + unit) % 3 == 0 for a in range(SIZE)]),
        di=ModbusSequentialDataBlock(0, [(a + unit) % 2 == 0 for a in range(SIZE)]),
        ir=ModbusSequentialDataBlock(0, [unit * 1000 + 500 + a for a in range(SIZE)]),
        hr=ModbusSequentialDataBlock(0, [unit * 1000 + a for a in range(SIZE)]),
        zero_mode=True,
    )


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--serial")
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--framer", choices=["socket", "rtu"], default="socket")
    parser.add_argument("--units", default="1")
    args = parser.parse_args()
    units = [int(u) for u in args.units.split(",") if u]
    context = ModbusServerContext(slaves={u: unit_context(u) for u in units}, single=False)
    logging.basicConfig(level=logging.CRITICAL)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    if args.serial:
        server = ModbusSerialServer(
            context,
            framer=ModbusRtuFramer,
            port=args.serial,
            baudrate=args.baud,
            ignore_missing_slaves=True,
        )
        await server.start()
        if server.transport is None:
            print("serial open failed", flush=True)
            sys.exit(2)
        print("ready", flush=True)
        await server.serve_forever()
        return

    framer = ModbusRtuFramer if args.framer == "rtu" else ModbusSocketFramer
    server = ModbusTcpServer(
        context,
        framer=framer,
        address=("127.0.0.1", args.port),
        allow_reuse_address=True,
        ignore_missing_slaves=True,
    )
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    print("ready", flush=True)
    await task


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
