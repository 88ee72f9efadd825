#!/usr/bin/env bash
# Installs nginx if needed and runs it on loopback as a real HTTP/HTTPS peer for portproof's
# tests. Idempotent: a second run reuses the certificates and reloads the running nginx.
#
#   127.0.0.1:18080  HTTP:  /StatusPing {"state":"RUNNING"}, /faulted/StatusPing {"state":"FAULTED"},
#                           /error (500), /redirect (302 -> /StatusPing)
#   127.0.0.1:18443  HTTPS: the same, with a certificate for localhost/127.0.0.1 from a CA made here
#   127.0.0.1:18445  HTTPS requiring a client certificate from the same CA (client.pem/client-key.pem)
#   127.0.0.1:18446  HTTPS, TLS 1.2 only, the server's cipher order
#   127.0.0.1:18447  HTTPS for server_name localhost only: a handshake without that SNI is
#                    refused with unrecognized_name (ssl_reject_handshake)
#   127.0.0.1:18450  HTTPS asking for a client certificate with ssl_verify_client optional_no_ca:
#                    nginx takes any certificate from any CA at the TLS layer (tls.client_cert_unverified)
#
# The CA is at $STATE/ca.pem. Nothing listens beyond loopback; the distribution's own site is
# not touched.
set -euo pipefail

STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/nginx
HTTP_PORT=${PORTPROOF_NGINX_HTTP_PORT:-18080}
HTTPS_PORT=${PORTPROOF_NGINX_HTTPS_PORT:-18443}
MTLS_PORT=${PORTPROOF_NGINX_MTLS_PORT:-18445}
TLS12_PORT=${PORTPROOF_NGINX_TLS12_PORT:-18446}
SNI_PORT=${PORTPROOF_NGINX_SNI_PORT:-18447}
NO_CA_PORT=${PORTPROOF_NGINX_NO_CA_PORT:-18450}
mkdir -p "$STATE/logs" "$STATE/tmp"

SCRIPT=nginx.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  log "installing nginx"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends nginx-light >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends nginx-light >/dev/null; } \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends nginx >/dev/null; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
# The readiness check below asks over HTTP and HTTPS.
need curl curl
# Python's http.server: tests/stated.rs starts one per test on an ephemeral loopback port.
need python3 python3

# A CA and a server certificate, made once, valid for ten years.
test_pki "$STATE" "portproof nginx test CA"
# nginx serves the chain from one file.
if [ ! -s "$STATE/server-chain.pem" ]; then cat "$STATE/server.pem" "$STATE/ca.pem" > "$STATE/server-chain.pem"; fi
# A client identity from the same CA, for the mutual-TLS server.
if [ ! -s "$STATE/client.pem" ]; then
  openssl req -newkey rsa:2048 -nodes -subj "/CN=portproof test client" \
    -keyout "$STATE/client-key.pem" -out "$STATE/client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' > "$STATE/client.ext"
  openssl x509 -req -in "$STATE/client.csr" -CA "$STATE/ca.pem" -CAkey "$STATE/ca-key.pem" -CAcreateserial \
    -days 3650 -extfile "$STATE/client.ext" -out "$STATE/client.pem" 2>/dev/null
fi

locations='
    default_type application/json;
    location = /StatusPing          { return 200 "{\"state\":\"RUNNING\"}"; }
    location = /faulted/StatusPing  { return 200 "{\"state\":\"FAULTED\"}"; }
    location = /error               { return 500 "internal error"; }
    location = /redirect            { return 302 /StatusPing; }
    location /                      { default_type text/html; return 200 "<html>portproof nginx peer</html>"; }
'

# The server identity every TLS server block presents.
identity="        ssl_certificate $STATE/server-chain.pem;
        ssl_certificate_key $STATE/server-key.pem;"

cat > "$STATE/nginx.conf" <<CONF
worker_processes 1;
pid $STATE/nginx.pid;
error_log $STATE/logs/error.log warn;
user root root;
events { worker_connections 256; }
http {
    access_log $STATE/logs/access.log;
    client_body_temp_path $STATE/tmp/body;
    proxy_temp_path $STATE/tmp/proxy;
    fastcgi_temp_path $STATE/tmp/fastcgi;
    uwsgi_temp_path $STATE/tmp/uwsgi;
    scgi_temp_path $STATE/tmp/scgi;
    server_tokens on;
    server {
        listen 127.0.0.1:$HTTP_PORT;
$locations
    }
    server {
        listen 127.0.0.1:$HTTPS_PORT ssl;
$identity
        ssl_protocols TLSv1.2 TLSv1.3;
$locations
    }
    server {
        listen 127.0.0.1:$MTLS_PORT ssl;
$identity
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate $STATE/ca.pem;
        ssl_verify_client on;
$locations
    }
    server {
        listen 127.0.0.1:$NO_CA_PORT ssl;
$identity
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate $STATE/ca.pem;
        ssl_verify_client optional_no_ca;
$locations
    }
    server {
        listen 127.0.0.1:$TLS12_PORT ssl;
$identity
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305;
        ssl_prefer_server_ciphers on;
$locations
    }
    server {
        listen 127.0.0.1:$SNI_PORT ssl default_server;
        ssl_reject_handshake on;
    }
    server {
        listen 127.0.0.1:$SNI_PORT ssl;
        server_name localhost;
$identity
$locations
    }
}
CONF

"$NGINX" -t -q -c "$STATE/nginx.conf" -p "$STATE"
if [ -s "$STATE/nginx.pid" ] && kill -0 "$(cat "$STATE/nginx.pid")" 2>/dev/null; then
  log "reloading the running nginx"
  "$NGINX" -c "$STATE/nginx.conf" -p "$STATE" -s reload
else
  log "starting nginx"
  "$NGINX" -c "$STATE/nginx.conf" -p "$STATE"
fi

for _ in $(seq 1 50); do
  if curl -fsS "http://127.0.0.1:$HTTP_PORT/StatusPing" >/dev/null 2>&1 \
     && curl -fsS --cacert "$STATE/ca.pem" "https://127.0.0.1:$HTTPS_PORT/StatusPing" >/dev/null 2>&1; then
    log "ready: http://127.0.0.1:$HTTP_PORT https://127.0.0.1:$HTTPS_PORT (CA $STATE/ca.pem)"
    exit 0
  fi
  sleep 0.2
done
log "nginx did not answer on 127.0.0.1:$HTTP_PORT/$HTTPS_PORT; see $STATE/logs/error.log"
exit 1
