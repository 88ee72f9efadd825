#!/usr/bin/env bash
# Starts the real, independent industrial peers portproof's tests probe, on loopback only:
#
#   127.0.0.1:15020  pymodbus (PyPI, pinned below) Modbus TCP server. Unit 1 is a device with
#                    Read Device Identification (vendor "portproof-pymodbus", product code
#                    "PPM-1", revision "3.16") and holding registers 0-9 holding 1000..1009 and
#                    input registers 0-9 holding 2000..2009; any other unit is answered with
#                    pymodbus's own exception for a missing device.
#
# Idempotent: the venv is made and pymodbus installed once (a second run only checks the
# version); a server already listening with the current script is kept, one started from an
# older script is restarted. The server runs detached (setsid, pidfile) and this script
# returns once it accepts connections. Nothing listens beyond loopback.
set -euo pipefail

STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/industrial
VENV=${PORTPROOF_VENV:-/opt/portproof-venv}
MODBUS_PORT=${PORTPROOF_MODBUS_PORT:-15020}
PYMODBUS_VERSION=3.16.1
mkdir -p "$STATE"

SCRIPT=industrial.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv_with "$VENV" pymodbus "$PYMODBUS_VERSION"

# ------------------------------------------------------------------------------- the server
SERVER="$STATE/modbus_server.py"
cat > "$SERVER.new" <<'PY'
"""A pymodbus TCP server on loopback for portproof's tests (written by industrial.sh)."""
import asyncio
import logging
import sys

from pymodbus import ModbusDeviceIdentification
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusTcpServer

port = int(sys.argv[1])
logging.basicConfig(level=logging.WARNING)

# pymodbus's sequential blocks are addressed from 1: protocol address 0 is the block's index 1.
device = ModbusDeviceContext(
    hr=ModbusSequentialDataBlock(1, [1000 + i for i in range(10)]),
    ir=ModbusSequentialDataBlock(1, [2000 + i for i in range(10)]),
)
identity = ModbusDeviceIdentification(
    info_name={
        "VendorName": "portproof-pymodbus",
        "ProductCode": "PPM-1",
        "MajorMinorRevision": "3.16",
        "ProductName": "portproof pymodbus testbed",
    }
)


async def main():
    server = ModbusTcpServer(ModbusServerContext(devices={1: device}), identity=identity, address=("127.0.0.1", port))
    await server.serve_forever()


asyncio.run(main())
PY

PIDFILE="$STATE/modbus.pid"
running() { [ -n "$(our_pid "$PIDFILE" "$SERVER")" ]; }
if running && cmp -s "$SERVER" "$SERVER.new" && listening "$MODBUS_PORT"; then
  rm -f "$SERVER.new"
else
  if running; then
    log "restarting the pymodbus server (its script changed or it stopped listening)"
    stop_pid "$(our_pid "$PIDFILE" "$SERVER")"
  fi
  listening "$MODBUS_PORT" && die "127.0.0.1:$MODBUS_PORT is taken by another program; set PORTPROOF_MODBUS_PORT"
  mv "$SERVER.new" "$SERVER"
  log "starting the pymodbus server on 127.0.0.1:$MODBUS_PORT"
  setsid nohup "$VENV/bin/python" "$SERVER" "$MODBUS_PORT" >"$STATE/modbus.log" 2>&1 < /dev/null &
  started=$!
  echo "$started" > "$PIDFILE"
  for _ in $(seq 1 100); do
    listening "$MODBUS_PORT" && break
    # Liveness by pid here, not running(): until setsid and nohup have exec'd python, the
    # command line is still this script's.
    kill -0 "$started" 2>/dev/null || die "the pymodbus server exited; see $STATE/modbus.log"
    sleep 0.1
  done
  listening "$MODBUS_PORT" || die "the pymodbus server does not listen on 127.0.0.1:$MODBUS_PORT after 10 s; see $STATE/modbus.log"
  # pymodbus's own client, not portproof, checks that the device identification is served.
  "$VENV/bin/python" - "$MODBUS_PORT" <<'PY' || die "the pymodbus server listens but its own client cannot read its identity"
import sys
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient("127.0.0.1", port=int(sys.argv[1]), timeout=3)
assert c.connect()
info = c.read_device_information(device_id=1).information
c.close()
assert info.get(0) == b"portproof-pymodbus", info
PY
fi
log "ready: modbus://127.0.0.1:$MODBUS_PORT (pymodbus $PYMODBUS_VERSION, unit 1, device identification, holding and input registers 0-9)"
