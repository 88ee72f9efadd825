#!/usr/bin/env bash
# Prepares the real OPC UA servers portproof's tests probe, on loopback only: Python's asyncua
# (an independent implementation, installed from PyPI into its own venv) running
# testbeds/scripts/opcua_server.py.
#
#   127.0.0.1:14840  asyncua server "portproof asyncua testbed" (urn:portproof:asyncua-testbed),
#                    endpoints SecurityPolicy None and Basic256Sha256 SignAndEncrypt, anonymous;
#                    certificate made here (RSA 2048, one year, SAN URI the application URI);
#                    registered with the discovery server below
#   127.0.0.1:14841  asyncua discovery server "portproof asyncua LDS" (ApplicationType
#                    DiscoveryServer), SecurityPolicy None only, a certificate valid for 10
#                    days (so the probe warns about both); FindServers lists the server above
#
# Idempotent: the venv, the certificates and running servers are reused; a server that does
# not listen is started again (and the testbed server with it when the LDS had to be started,
# so that it registers at once). The venv is /opt/portproof-opcua-venv unless
# PORTPROOF_OPCUA_VENV says otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/opcua
VENV=${PORTPROOF_OPCUA_VENV:-/opt/portproof-opcua-venv}
PORT=${PORTPROOF_OPCUA_PORT:-14840}
LDS_PORT=${PORTPROOF_OPCUA_LDS_PORT:-14841}
ASYNCUA_VERSION=2.1.0
mkdir -p "$STATE"

SCRIPT=opcua.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Pinned: the tests assert what this version's server and discovery server answer.
venv_with "$VENV" asyncua "$ASYNCUA_VERSION"
need openssl openssl

# cert NAME DAYS CN URI: a self-signed RSA certificate (DER) and key (PEM) for an OPC UA application.
cert() {
  [ -s "$STATE/$1.der" ] && [ -s "$STATE/$1-key.pem" ] && return 0
  log "making the $1 certificate ($2 days)"
  openssl req -x509 -newkey rsa:2048 -nodes -days "$2" -sha256 -subj "/CN=$3/O=portproof" \
    -addext "subjectAltName=URI:$4,DNS:localhost,IP:127.0.0.1" \
    -addext "keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment,dataEncipherment,keyCertSign" \
    -addext "extendedKeyUsage=serverAuth,clientAuth" \
    -keyout "$STATE/$1-key.pem" -outform DER -out "$STATE/$1.der" 2>/dev/null
}
cert server 365 "portproof asyncua testbed" urn:portproof:asyncua-testbed
cert lds 10 "portproof asyncua LDS" urn:portproof:asyncua-lds
# The LDS certificate is meant to be close to expiry, not past it: renew it when it is.
if ! openssl x509 -inform DER -in "$STATE/lds.der" -noout -checkend 86400 >/dev/null; then
  rm -f "$STATE/lds.der" "$STATE/lds-key.pem"
  cert lds 10 "portproof asyncua LDS" urn:portproof:asyncua-lds
fi

# start ROLE PORT [LDS_URL]
start() {
  log "starting the asyncua $1 on 127.0.0.1:$2"
  nohup "$VENV/bin/python" "$HERE/opcua_server.py" "$1" "$2" "$STATE/$1.der" "$STATE/$1-key.pem" ${3:+"$3"} \
    >"$STATE/$1.log" 2>&1 </dev/null &
  echo $! >"$STATE/$1.pid"
  for _ in $(seq 1 120); do
    listening "$2" && return 0
    sleep 0.25
  done
  die "the asyncua $1 does not listen on 127.0.0.1:$2 after 30 s; see $STATE/$1.log"
}

restart_server=false
if ! listening "$LDS_PORT"; then
  start lds "$LDS_PORT"
  restart_server=true
fi
if $restart_server && listening "$PORT" && [ -s "$STATE/server.pid" ]; then
  log "restarting the testbed server so that it registers with the new LDS"
  pid=$(our_pid "$STATE/server.pid" "opcua_server.py server $PORT ")
  [ -n "$pid" ] && stop_pid "$pid"
  for _ in $(seq 1 40); do listening "$PORT" || break; sleep 0.25; done
  listening "$PORT" && die "127.0.0.1:$PORT is still taken (not by the server this script started); stop it or set PORTPROOF_OPCUA_PORT"
fi
if ! listening "$PORT"; then
  start server "$PORT" "opc.tcp://127.0.0.1:$LDS_PORT"
fi
log "asyncua OPC UA server on 127.0.0.1:$PORT, discovery server on 127.0.0.1:$LDS_PORT"
