#!/usr/bin/env bash
# OpenLDAP slapd (Debian's package) as the real LDAP peer of the ldap probe, on loopback only:
#   10389  slapd with anonymous binds allowed, StartTLS offered (certificate from a CA made here),
#          suffix dc=portproof,dc=test, the bind DN cn=admin,dc=portproof,dc=test with the
#          password portproof-secret
#   10636  the same slapd, LDAP over TLS from the first byte (ldaps)
#   10390  a second slapd that refuses anonymous binds (`disallow bind_anon`) and has no TLS,
#          so StartTLS is refused there
# The package is installed with its debconf questions preseeded (no configuration, so no
# system slapd is set up or started on 389); a system slapd already running is left alone.
# Idempotent: running instances are kept; a missing one is configured and started again.
set -euo pipefail
SCRIPT=ldap.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/ldap
mkdir -p "$STATE"

if [ ! -x /usr/sbin/slapd ] || ! command -v ldapsearch >/dev/null 2>&1; then
  # The questions slapd's package asks, answered: configure nothing, start nothing.
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  need_package slapd ldap-utils
fi
need openssl openssl
test_pki "$STATE" "portproof ldap test CA"

# conf NAME EXTRA: a slapd.conf for one instance, its database under $STATE/NAME.
conf() {
  local name=$1 extra=$2
  mkdir -p "$STATE/$name/db"
  cat > "$STATE/$name/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $STATE/$name/slapd.pid
argsfile $STATE/$name/slapd.args
$extra
database mdb
maxsize 16777216
suffix "dc=portproof,dc=test"
rootdn "cn=admin,dc=portproof,dc=test"
rootpw portproof-secret
directory $STATE/$name/db
access to * by * read
CONF
  if [ ! -s "$STATE/$name/db/data.mdb" ]; then
    printf 'dn: dc=portproof,dc=test\nobjectClass: dcObject\nobjectClass: organization\ndc: portproof\no: portproof test\n' \
      | slapadd -f "$STATE/$name/slapd.conf" >/dev/null 2>&1
  fi
}

# start NAME URLS PORT: slapd -f NAME's conf listening on URLS, ready when PORT accepts.
start() {
  local name=$1 urls=$2 port=$3 pid
  if listening "$port"; then
    log "slapd $name on 127.0.0.1:$port: already up"
    return 0
  fi
  pid=$(our_pid "$STATE/$name/slapd.pid" "$STATE/$name/slapd.conf")
  [ -n "$pid" ] && stop_pid "$pid"
  log "starting slapd $name on $urls"
  /usr/sbin/slapd -f "$STATE/$name/slapd.conf" -h "$urls" >"$STATE/$name.log" 2>&1 \
    || die "slapd $name did not start: $(tail -5 "$STATE/$name.log")"
  wait_for 20 listening "$port" || die "slapd $name does not listen on $port"
}

conf open "TLSCACertificateFile $STATE/ca.pem
TLSCertificateFile $STATE/server.pem
TLSCertificateKeyFile $STATE/server-key.pem"
conf closed "disallow bind_anon"
start open "ldap://127.0.0.1:10389/ ldaps://127.0.0.1:10636/" 10389
listening 10636 || die "slapd open does not listen on 10636 (ldaps)"
start closed "ldap://127.0.0.1:10390/" 10390
log "$(/usr/sbin/slapd -VV 2>&1 | grep -o 'slapd [0-9.]*' | head -1): 10389 (anonymous, StartTLS), 10636 (ldaps), 10390 (no anonymous bind): up"
