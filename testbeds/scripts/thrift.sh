#!/usr/bin/env bash
# Apache Thrift servers (Python's `thrift` from PyPI, pinned, in its own venv) for the thrift
# probe, on loopback only (testbeds/scripts/thrift_server.py):
#   17611  TBinaryProtocol, unframed (TBufferedTransport), as WSO2's 7611
#   17612  TBinaryProtocol, TFramedTransport, as Cassandra's 9160
#   17613  TCompactProtocol, TFramedTransport
#   17711  TBinaryProtocol, unframed, inside TLS (certificate from a CA made here), as WSO2's 7711
# Idempotent: a running server is kept; the venv and certificates are reused. The venv is
# /opt/portproof-thrift-venv unless PORTPROOF_THRIFT_VENV says otherwise.
set -euo pipefail
SCRIPT=thrift.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/thrift
VENV=${PORTPROOF_THRIFT_VENV:-/opt/portproof-thrift-venv}
THRIFT_VERSION=0.22.0
mkdir -p "$STATE"

if listening 17611 && listening 17612 && listening 17613 && listening 17711; then
  log "Thrift servers 17611 (binary), 17612 (binary framed), 17613 (compact framed), 17711 (TLS): already up"
  exit 0
fi
# Pinned: the tests assert this library's answer text.
venv_with "$VENV" thrift "$THRIFT_VERSION"
test_pki "$STATE" "portproof thrift test CA"
pid=$(our_pid "$STATE/thrift.pid" thrift_server.py)
[ -n "$pid" ] && stop_pid "$pid"
log "starting the Thrift servers on 127.0.0.1:17611, 17612, 17613, 17711"
nohup "$VENV/bin/python" "$HERE/thrift_server.py" 17611 17612 17613 17711 "$STATE/server.pem" "$STATE/server-key.pem" \
  >"$STATE/thrift.log" 2>&1 </dev/null &
echo $! >"$STATE/thrift.pid"
for p in 17611 17612 17613 17711; do
  wait_for 30 listening "$p" || die "the Thrift server does not listen on $p: $(tail -5 "$STATE/thrift.log")"
done
log "Thrift $THRIFT_VERSION servers 17611 (binary), 17612 (binary framed), 17613 (compact framed), 17711 (TLS): up"
