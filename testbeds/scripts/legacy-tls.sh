#!/usr/bin/env bash
# Starts OpenSSL's s_server on loopback speaking TLS 1.0 only, with every cipher suite the
# system OpenSSL still has at security level 0: a real legacy peer for the TLS scanner and the
# tls.protocol_version diagnosis. Idempotent: does nothing if the port already answers.
#
#   127.0.0.1:18444  TLS 1.0 only (certificate for localhost/127.0.0.1, self-signed)
#   127.0.0.1:18448  TLS 1.2 with RSA key exchange and CBC only, and a 1024-bit RSA key: no suite
#                    a modern client offers (tls.no_shared_cipher)
#   127.0.0.1:18449  TLS 1.2 with a modern suite, and the 1024-bit RSA key (tls.weak_key)
set -euo pipefail

STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/legacy-tls
PORT=${PORTPROOF_LEGACY_TLS_PORT:-18444}
OLD12_PORT=${PORTPROOF_LEGACY_TLS12_PORT:-18448}
WEAKKEY_PORT=${PORTPROOF_WEAK_KEY_PORT:-18449}
mkdir -p "$STATE"
SCRIPT=legacy-tls.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need openssl openssl

if [ ! -s "$STATE/cert.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$STATE/key.pem" -out "$STATE/cert.pem" 2>/dev/null
fi
if [ ! -s "$STATE/weak-cert.pem" ]; then
  openssl req -x509 -newkey rsa:1024 -nodes -days 3650 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$STATE/weak-key.pem" -out "$STATE/weak-cert.pem" 2>/dev/null
fi

# start PORT NAME ARGS...: s_server in the background unless PORT already answers.
# -www answers each session with a status page; setsid + nohup keep it past this shell.
start() {
  local port=$1 name=$2; shift 2
  if listening "$port"; then
    log "already listening on 127.0.0.1:$port ($name)"
    return 0
  fi
  setsid nohup openssl s_server -accept "127.0.0.1:$port" "$@" -www -quiet \
    > "$STATE/s_server-$port.log" 2>&1 < /dev/null &
  for _ in $(seq 1 50); do
    if listening "$port"; then
      log "ready: 127.0.0.1:$port ($name)"
      return 0
    fi
    sleep 0.1
  done
  log "s_server on $port did not start; see $STATE/s_server-$port.log"
  return 1
}

start "$PORT" "TLS 1.0 only" -tls1 -cipher 'ALL:@SECLEVEL=0' -cert "$STATE/cert.pem" -key "$STATE/key.pem"
start "$OLD12_PORT" "TLS 1.2, RSA key exchange and CBC only, 1024-bit key" -tls1_2 \
  -cipher 'AES128-SHA:AES256-SHA:@SECLEVEL=0' -cert "$STATE/weak-cert.pem" -key "$STATE/weak-key.pem"
start "$WEAKKEY_PORT" "TLS 1.2, modern suite, 1024-bit key" -tls1_2 \
  -cipher 'ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0' -cert "$STATE/weak-cert.pem" -key "$STATE/weak-key.pem"
