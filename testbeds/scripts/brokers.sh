#!/usr/bin/env bash
# Prepares the real message brokers portproof's tests probe, on loopback only: the machine's
# RabbitMQ and Mosquitto (started if they are not running), and two more Mosquittos of our own.
# Idempotent: a second run reuses the certificates and the password file, keeps the brokers
# that run with the current configuration and restarts ours whose configuration changed.
#
#   127.0.0.1:5672   RabbitMQ, AMQP 0-9-1, guest/guest. Vhost portproof-denied, on which guest has
#                    no permissions (a login there is refused with NOT_ALLOWED); durable queue
#                    portproof-probe in vhost /; no queue portproof-missing
#   127.0.0.1:15672  RabbitMQ management HTTP API (rabbitmq_management), guest/guest
#   127.0.0.1:1883   the machine's Mosquitto (/etc/mosquitto/mosquitto.conf), anonymous
#   127.0.0.1:18883  Mosquitto requiring a password: portproof/portproof-secret; MQTT 3.1.1 and 5
#   127.0.0.1:18884  Mosquitto over TLS 1.2/1.3, anonymous, with a certificate for
#                    localhost/127.0.0.1 from a CA made here
#
# The CA is at $STATE/ca.pem. Nothing listens beyond loopback. The distribution's own
# configuration files are not touched: rabbitmq-plugins records the management plugin in
# /etc/rabbitmq/enabled_plugins, which is where RabbitMQ keeps it. The 5672 and 1883 ports are
# the ones the machine's configuration sets; their variables only say where to look.
set -euo pipefail

STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/brokers
AMQP_PORT=${PORTPROOF_RABBITMQ_PORT:-5672}
MGMT_PORT=${PORTPROOF_RABBITMQ_MGMT_PORT:-15672}
MQTT_PORT=${PORTPROOF_MQTT_PORT:-1883}
MQTT_AUTH_PORT=${PORTPROOF_MQTT_AUTH_PORT:-18883}
MQTT_TLS_PORT=${PORTPROOF_MQTT_TLS_PORT:-18884}
MQTT_USER=portproof
MQTT_PASSWORD=portproof-secret
DENIED_VHOST=portproof-denied
PROBE_QUEUE=portproof-probe
MISSING_QUEUE=portproof-missing
mkdir -p "$STATE"
export PATH="$PATH:/usr/sbin:/sbin"

SCRIPT=brokers.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need curl curl
need openssl openssl
need rabbitmqctl rabbitmq-server
need mosquitto mosquitto
need mosquitto_passwd mosquitto

# ---------------------------------------------------------------------------------- RabbitMQ
if ! listening "$AMQP_PORT"; then
  log "starting RabbitMQ (rabbitmq-server -detached)"
  # On loopback, whatever the configuration says; the management listener too, when enabled.
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-rabbitmq_management tcp_config [{ip,\"127.0.0.1\"},{port,$MGMT_PORT}] -kernel inet_dist_use_interface {127,0,0,1}" \
    rabbitmq-server -detached
  for _ in $(seq 1 120); do
    listening "$AMQP_PORT" && break
    sleep 0.5
  done
  listening "$AMQP_PORT" || die "RabbitMQ does not answer on 127.0.0.1:$AMQP_PORT after 60 s; see /var/log/rabbitmq/"
  rabbitmqctl -q await_startup --timeout 60 >/dev/null
fi

# api METHOD PATH [JSON]: the HTTP status of a management API request as guest.
api() {
  local args=(-sS -o /dev/null -w '%{http_code}' -u guest:guest -X "$1")
  [ $# -gt 2 ] && args+=(-H 'content-type: application/json' -d "$3")
  curl "${args[@]}" "http://127.0.0.1:$MGMT_PORT/api/$2" 2>/dev/null || true
}
mgmt_up() { [ "$(api GET overview)" = 200 ]; }
# Whether the management listener is bound to loopback only (assumed so without ss).
mgmt_loopback() {
  command -v ss >/dev/null 2>&1 || return 0
  local addrs
  addrs=$(ss -Hltn "sport = :$MGMT_PORT" | awk '{print $4}')
  [ -n "$addrs" ] && ! grep -qvE '^(127\.[0-9.]+|\[::1\]):' <<<"$addrs"
}
# The plugin's listener is configured in the running node, before the plugin starts, so that
# the distribution's rabbitmq.conf stays as it is.
mgmt_on_loopback() {
  rabbitmqctl -q eval \
    "application:set_env(rabbitmq_management, tcp_config, [{ip,\"127.0.0.1\"},{port,$MGMT_PORT}])." >/dev/null
}

if mgmt_up && ! mgmt_loopback; then
  log "moving the management listener to 127.0.0.1:$MGMT_PORT"
  rabbitmq-plugins -q disable rabbitmq_management >/dev/null
  mgmt_on_loopback
  rabbitmq-plugins -q enable rabbitmq_management >/dev/null
elif ! mgmt_up; then
  log "enabling the RabbitMQ management plugin"
  mgmt_on_loopback
  rabbitmq-plugins -q enable rabbitmq_management >/dev/null
fi
for _ in $(seq 1 120); do
  mgmt_up && break
  sleep 0.5
done
mgmt_up || die "the RabbitMQ management API does not answer on http://127.0.0.1:$MGMT_PORT/api/overview; see /var/log/rabbitmq/"
mgmt_loopback || die "the RabbitMQ management listener on $MGMT_PORT is not on loopback only"

# A vhost on which guest has no permission at all (cleared even if an earlier run set some).
code=$(api PUT "vhosts/$DENIED_VHOST" '{}')
case $code in 201|204) ;; *) die "creating vhost $DENIED_VHOST: HTTP $code" ;; esac
code=$(api DELETE "permissions/$DENIED_VHOST/guest")
case $code in 204|404) ;; *) die "clearing guest's permissions on $DENIED_VHOST: HTTP $code" ;; esac
code=$(api DELETE "topic-permissions/$DENIED_VHOST/guest")
case $code in 204|404) ;; *) die "clearing guest's topic permissions on $DENIED_VHOST: HTTP $code" ;; esac

# A durable queue for a passive declare to find; one with other properties is replaced.
queue='{"durable":true,"auto_delete":false,"arguments":{}}'
code=$(api PUT "queues/%2F/$PROBE_QUEUE" "$queue")
if [ "$code" != 201 ] && [ "$code" != 204 ]; then
  log "replacing queue $PROBE_QUEUE (HTTP $code)"
  api DELETE "queues/%2F/$PROBE_QUEUE" >/dev/null
  code=$(api PUT "queues/%2F/$PROBE_QUEUE" "$queue")
  case $code in 201|204) ;; *) die "declaring queue $PROBE_QUEUE: HTTP $code" ;; esac
fi
# And none for a passive declare to miss.
code=$(api DELETE "queues/%2F/$MISSING_QUEUE")
case $code in 204|404) ;; *) die "deleting queue $MISSING_QUEUE: HTTP $code" ;; esac

rabbit_version=$(curl -sS -u guest:guest "http://127.0.0.1:$MGMT_PORT/api/overview" \
  | grep -o '"rabbitmq_version":"[^"]*"' | cut -d'"' -f4 || true)

# --------------------------------------------------------------------------------- Mosquitto
# The machine's own broker, started the way the machine starts it.
if ! listening "$MQTT_PORT"; then
  log "starting the default Mosquitto (mosquitto -d -c /etc/mosquitto/mosquitto.conf)"
  if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    # Its pid and log directories, which the service manager would make.
    for dir in /run/mosquitto /var/log/mosquitto; do
      [ -d "$dir" ] || install -d -o mosquitto -g mosquitto "$dir"
    done
  fi
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi

# A CA and a server certificate, made once, valid for ten years.
test_pki "$STATE" "portproof brokers test CA"

# The password file, made once.
if ! grep -q "^$MQTT_USER:" "$STATE/passwd" 2>/dev/null; then
  log "making the password file $STATE/passwd"
  rm -f "$STATE/passwd.new"
  mosquitto_passwd -c -b "$STATE/passwd.new" "$MQTT_USER" "$MQTT_PASSWORD" >/dev/null
  mv "$STATE/passwd.new" "$STATE/passwd"
fi

# Our brokers run as the user who starts them (as root, `user root` keeps mosquitto from
# dropping to the mosquitto user, which could not read our files), with no persistence.
common() {
  printf 'user root\npid_file %s\nlog_dest file %s\npersistence false\n' \
    "$STATE/$1.pid" "$STATE/$1.log"
}
{ common mqtt-auth
  printf 'listener %s 127.0.0.1\nallow_anonymous false\npassword_file %s\n' \
    "$MQTT_AUTH_PORT" "$STATE/passwd"
} > "$STATE/mqtt-auth.conf"
{ common mqtt-tls
  printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$MQTT_TLS_PORT"
  printf 'cafile %s\ncertfile %s\nkeyfile %s\ntls_version tlsv1.2\n' \
    "$STATE/ca.pem" "$STATE/server.pem" "$STATE/server-key.pem"
} > "$STATE/mqtt-tls.conf"

# instance_pid NAME: the pid of our mosquitto running $STATE/NAME.conf, if it runs.
instance_pid() { our_pid "$STATE/$1.pid" "-c $STATE/$1.conf"; }

# mosquitto_instance NAME PORT FILE...: runs mosquitto -c $STATE/NAME.conf, keeping the one
# already running unless it is dead, silent on PORT, or NAME.conf or a FILE it reads changed.
mosquitto_instance() {
  local name=$1 port=$2; shift 2
  local conf=$STATE/$name.conf logfile=$STATE/$name.log
  local stamp pid
  stamp=$(cat "$conf" "$@" | sha256sum | cut -d' ' -f1)
  pid=$(instance_pid "$name")
  if [ -n "$pid" ] && listening "$port" && [ "$(cat "$STATE/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "already running on 127.0.0.1:$port ($name, pid $pid)"
    return 0
  fi
  if [ -n "$pid" ]; then
    log "restarting $name (pid $pid)"
    stop_pid "$pid"
  fi
  rm -f "$STATE/$name.pid" "$STATE/$name.stamp"
  if listening "$port"; then
    die "127.0.0.1:$port is taken by another process; $name cannot listen there"
  fi
  log "starting $name on 127.0.0.1:$port"
  # -d forks before the listener is opened: readiness is our process alive and the port open.
  mosquitto -d -c "$conf" >>"$logfile" 2>&1 || die "mosquitto $name did not start; see $logfile"
  for i in $(seq 1 200); do
    pid=$(instance_pid "$name")
    if [ -n "$pid" ] && listening "$port"; then
      echo "$stamp" > "$STATE/$name.stamp"
      return 0
    fi
    [ -z "$pid" ] && [ "$i" -gt 20 ] && die "mosquitto $name exited without listening on 127.0.0.1:$port; see $logfile"
    sleep 0.1
  done
  die "mosquitto $name does not accept connections on 127.0.0.1:$port after 20 s; see $logfile"
}

mosquitto_instance mqtt-auth "$MQTT_AUTH_PORT" "$STATE/passwd"
mosquitto_instance mqtt-tls "$MQTT_TLS_PORT" "$STATE/ca.pem" "$STATE/server.pem" "$STATE/server-key.pem"

for _ in $(seq 1 200); do
  listening "$MQTT_PORT" && break
  sleep 0.1
done
listening "$MQTT_PORT" \
  || die "the default Mosquitto does not accept connections on 127.0.0.1:$MQTT_PORT after 20 s; see /var/log/mosquitto/mosquitto.log"

log "ready: amqp://guest:guest@127.0.0.1:$AMQP_PORT (RabbitMQ ${rabbit_version:-?}; vhost $DENIED_VHOST refuses guest; durable queue $PROBE_QUEUE in /)"
log "ready: http://127.0.0.1:$MGMT_PORT/api/ (RabbitMQ management, guest/guest)"
log "ready: mqtt://127.0.0.1:$MQTT_PORT (default Mosquitto, anonymous)"
log "ready: mqtt://127.0.0.1:$MQTT_AUTH_PORT (Mosquitto, $MQTT_USER/$MQTT_PASSWORD required)"
log "ready: mqtts://127.0.0.1:$MQTT_TLS_PORT (Mosquitto, TLS 1.2/1.3, anonymous, CA $STATE/ca.pem)"
