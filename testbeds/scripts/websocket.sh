#!/usr/bin/env bash
# WebSocket peers for the websocket probe, on loopback only:
#   19099  Python's `websockets` (PyPI, pinned, in its own venv; testbeds/scripts/websocket_server.py):
#          / and /echo upgrade and echo; /token 401 (Bearer), /forbidden 403, anything else 404
#   19443  nginx (the distribution's, a second instance with its own configuration) terminating
#          TLS (certificate from a CA made here) and proxying the upgrade to 19099: wss
# Idempotent: running servers are kept; the venv and certificates are reused. The venv is
# /opt/portproof-websocket-venv unless PORTPROOF_WEBSOCKET_VENV says otherwise.
set -euo pipefail
SCRIPT=websocket.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/websocket
VENV=${PORTPROOF_WEBSOCKET_VENV:-/opt/portproof-websocket-venv}
WEBSOCKETS_VERSION=15.0.1
mkdir -p "$STATE/logs" "$STATE/tmp"

if ! listening 19099; then
  # Pinned: the tests assert this version's answers.
  venv_with "$VENV" websockets "$WEBSOCKETS_VERSION"
  pid=$(our_pid "$STATE/ws.pid" websocket_server.py)
  [ -n "$pid" ] && stop_pid "$pid"
  log "starting websockets $WEBSOCKETS_VERSION on 127.0.0.1:19099"
  nohup "$VENV/bin/python" "$HERE/websocket_server.py" 19099 >"$STATE/ws.log" 2>&1 </dev/null &
  echo $! >"$STATE/ws.pid"
  wait_for 30 listening 19099 || die "websockets does not listen on 19099: $(tail -5 "$STATE/ws.log")"
fi

if ! listening 19443; then
  if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then need_package nginx-light; fi
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  test_pki "$STATE" "portproof websocket test CA"
  cat > "$STATE/nginx.conf" <<CONF
worker_processes 1;
pid $STATE/nginx.pid;
error_log $STATE/logs/error.log warn;
user root root;
events { worker_connections 64; }
http {
    access_log $STATE/logs/access.log;
    client_body_temp_path $STATE/tmp/body;
    proxy_temp_path $STATE/tmp/proxy;
    fastcgi_temp_path $STATE/tmp/fastcgi;
    uwsgi_temp_path $STATE/tmp/uwsgi;
    scgi_temp_path $STATE/tmp/scgi;
    server {
        listen 127.0.0.1:19443 ssl;
        ssl_certificate $STATE/server.pem;
        ssl_certificate_key $STATE/server-key.pem;
        location / {
            proxy_pass http://127.0.0.1:19099;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host \$host;
        }
    }
}
CONF
  pid=$(our_pid "$STATE/nginx.pid" "$STATE/nginx.conf")
  [ -n "$pid" ] && stop_pid "$pid"
  log "starting nginx (wss) on 127.0.0.1:19443"
  "$NGINX" -c "$STATE/nginx.conf" -g 'daemon on;' || die "nginx (wss) did not start: $(tail -5 "$STATE/logs/error.log")"
  wait_for 20 listening 19443 || die "nginx (wss) does not listen on 19443"
fi
log "websockets on 127.0.0.1:19099, nginx wss proxy on 127.0.0.1:19443: up"
