#!/usr/bin/env bash
# Starts OpenSSL's s_server on loopback speaking TLS 1.0 only, with every cipher suite the
# system OpenSSL still has at security level 0: a real legacy peer for the TLS scanner and the
# tls.protocol_version diagnosis. Idempotent: does nothing if the port already answers.
#
#   127.0.0.1:18444  TLS 1.0 only (certificate for localhost/127.0.0.1, self-signed)
set -euo pipefail

STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/legacy-tls
PORT=${PORTPROOF_LEGACY_TLS_PORT:-18444}
mkdir -p "$STATE"
log() { echo "legacy-tls.sh: $*"; }

command -v openssl >/dev/null || { apt-get update -qq >/dev/null; apt-get install -y -qq openssl >/dev/null; }

if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
  log "already listening on 127.0.0.1:$PORT"
  exit 0
fi
if [ ! -s "$STATE/cert.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$STATE/key.pem" -out "$STATE/cert.pem" 2>/dev/null
fi
# -www answers each session with a status page; nohup + setsid keep it past this shell.
setsid nohup openssl s_server -accept "127.0.0.1:$PORT" -tls1 -cipher 'ALL:@SECLEVEL=0' \
  -cert "$STATE/cert.pem" -key "$STATE/key.pem" -www -quiet > "$STATE/s_server.log" 2>&1 < /dev/null &
for _ in $(seq 1 50); do
  if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
    log "ready: 127.0.0.1:$PORT speaks TLS 1.0 only"
    exit 0
  fi
  sleep 0.1
done
log "s_server did not start; see $STATE/s_server.log"
exit 1
