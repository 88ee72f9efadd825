#!/usr/bin/env bash
# Prepares the real database servers portproof's database probes test against, on loopback
# only: the machine's PostgreSQL and MariaDB (started if they do not answer), and one more of
# each of our own that demand TLS. Idempotent: a second run reuses the data directories, the
# certificates, the roles and users, keeps the servers that run with the current configuration
# and restarts ours whose configuration changed.
#
#   127.0.0.1:5432   the machine's PostgreSQL (/etc/postgresql/<ver>/main), user postgres, trust
#                    from 127.0.0.1 (a marked line put first in its pg_hba.conf, once: Debian's
#                    asks for SCRAM)
#   127.0.0.1:3306   the machine's MariaDB (/etc/mysql/my.cnf), root with an empty password
#                    (added, once, beside Debian's unix_socket for root@localhost); started as
#                    the service manager would (as the mysql user, log /var/log/mysql/error.log
#                    unless its configuration names one), its data directory made if missing
#   127.0.0.1:15432  PostgreSQL of the installed version, data in $STATE/pg-ssl, run by pg_ctl
#                    as the postgres OS user, ssl = on with a certificate for
#                    localhost/127.0.0.1 from a CA made here, password_encryption scram-sha-256,
#                    max_connections 20. Role portproof/portproof-secret (SCRAM) owns database
#                    portproof and may log in over TLS only (hostssl, to any database, so a
#                    missing one is 3D000); a plain TCP login has no pg_hba.conf entry (28000);
#                    role blocked/blocked-secret is rejected by pg_hba.conf (28000); there is no
#                    database nope. postgres gets in by peer over the socket in $STATE/pg-socket
#                    only. Log $STATE/pg-ssl.log
#   127.0.0.1:13306  MariaDB of the installed version, data in $STATE/mariadb-tls, mariadbd run
#                    with --defaults-file=$STATE/mariadb-tls.cnf, dropping to the mysql OS
#                    user; TLS with the same certificate and require_secure_transport=ON.
#                    User portproof/portproof-secret (@'%' and @'127.0.0.1', the default
#                    authentication plugin) with all rights on database portproof; there is no
#                    database nope. root gets in by unix_socket over
#                    $STATE/mariadb-run/mariadb-tls.sock.
#                    Log $STATE/mariadb-tls.log
#
# The CA is at $STATE/ca.pem. Nothing listens beyond loopback. Of the distribution's own
# configuration only the machine's pg_hba.conf gains its one line: our servers read only their
# files in $STATE. The 5432
# and 3306 ports are the ones the machine's configuration sets; their variables only say where
# to look. Run as root (our servers run as the postgres and mysql OS users).
set -euo pipefail

STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/databases
PG_PORT=${PORTPROOF_POSTGRES_PORT:-5432}
MARIADB_PORT=${PORTPROOF_MARIADB_PORT:-3306}
PG_SSL_PORT=${PORTPROOF_POSTGRES_SSL_PORT:-15432}
MARIADB_TLS_PORT=${PORTPROOF_MARIADB_TLS_PORT:-13306}
DB_USER=portproof
DB_PASSWORD=portproof-secret
DB_NAME=portproof
BLOCKED_USER=blocked
BLOCKED_PASSWORD=blocked-secret
MISSING_DB=nope
PG_DATA=$STATE/pg-ssl
PG_SOCKET=$STATE/pg-socket
PG_LOG=$STATE/pg-ssl.log
MY_DATA=$STATE/mariadb-tls
MY_CONF=$STATE/mariadb-tls.cnf
MY_RUN=$STATE/mariadb-run
MY_SOCKET=$MY_RUN/mariadb-tls.sock
MY_PIDFILE=$MY_RUN/mariadb-tls.pid
MY_LOG=$STATE/mariadb-tls.log
export PATH="$PATH:/usr/sbin:/sbin"

SCRIPT=databases.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root: the servers run as the postgres and mysql OS users"
mkdir -p "$STATE"
chmod 755 "$STATE"

need openssl openssl
need pg_ctlcluster postgresql
need psql postgresql-client
need mariadbd mariadb-server
need mariadb-install-db mariadb-server
need mariadb mariadb-client

# The newest PostgreSQL whose server is installed.
PG_VER=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null \
  | cut -d/ -f5 | sort -V | tail -n 1)
[ -n "$PG_VER" ] || die "no PostgreSQL server under /usr/lib/postgresql"
PG_BIN=/usr/lib/postgresql/$PG_VER/bin

# as USER COMMAND...: runs COMMAND as the OS user USER, from $STATE (which every user may enter).
as() { local user=$1; shift; (cd "$STATE" && runuser -u "$user" -- "$@"); }

# ------------------------------------------------------------------------- the machine's own
pg_ready() { pg_isready -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -t 2; }
# Up means the server answers on TCP, even with a refusal of root from 127.0.0.1 (a 1130 before
# root@127.0.0.1 exists, with skip-name-resolve): the logins are made after it is up.
my_ready() {
  local out
  out=$(mariadb-admin --no-defaults --protocol=tcp -h 127.0.0.1 -P "$1" -u root --connect-timeout=2 ping 2>&1) && return 0
  case $out in *"is not allowed to connect"* | *"Access denied"*) return 0 ;; esac
  return 1
}

if ! pg_ready "$PG_PORT"; then
  # shellcheck disable=SC2012 # the cluster versions are plain directory names
  pg_sys_ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_ctlcluster "$pg_sys_ver" main status >/dev/null 2>&1; then
    log "starting the machine's PostgreSQL (pg_ctlcluster --skip-systemctl-redirect $pg_sys_ver main start)"
    pg_ctlcluster --skip-systemctl-redirect "$pg_sys_ver" main start \
      || die "pg_ctlcluster could not start PostgreSQL $pg_sys_ver main; see /var/log/postgresql/postgresql-$pg_sys_ver-main.log"
  fi
  wait_for 30 pg_ready "$PG_PORT" \
    || die "the machine's PostgreSQL does not accept connections on 127.0.0.1:$PG_PORT after 30 s; see /var/log/postgresql/postgresql-$pg_sys_ver-main.log"
fi

# The machine's PostgreSQL lets postgres in from 127.0.0.1 without a password (the tests log in
# so). Debian's pg_hba.conf asks for SCRAM there: a trust line for postgres from 127.0.0.1 is
# put first, marked, once, and the cluster reloaded.
pg_sys_trust() { psql -X -qAt -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; }
PG_TRUST_MARK="# portproof testbeds/scripts/databases.sh: postgres from 127.0.0.1 without a password"
if ! pg_sys_trust; then
  pg_sys_hba=$(as postgres psql -X -qAt -p "$PG_PORT" -d postgres -c 'show hba_file') \
    || die "cannot ask the machine's PostgreSQL for its pg_hba.conf (as postgres over its socket)"
  if ! grep -qF -- "$PG_TRUST_MARK" "$pg_sys_hba"; then
    log "letting postgres in from 127.0.0.1 without a password: a trust line first in $pg_sys_hba"
    hba_new=$(mktemp)
    { printf '%s\n' "$PG_TRUST_MARK" "host    all             postgres        127.0.0.1/32            trust"
      cat "$pg_sys_hba"; } >"$hba_new"
    # Written in place: the file keeps its owner and mode.
    cat "$hba_new" >"$pg_sys_hba"
    rm -f "$hba_new"
  fi
  as postgres psql -X -qAt -p "$PG_PORT" -d postgres -c 'select pg_reload_conf()' >/dev/null \
    || die "the machine's PostgreSQL did not reload $pg_sys_hba"
  wait_for 10 pg_sys_trust \
    || die "postgres still cannot log in to 127.0.0.1:$PG_PORT without a password; see $pg_sys_hba and /var/log/postgresql/"
fi

# The machine's MariaDB, as its own configuration has it (/etc/mysql): what the service manager
# would give it (the mysql user, its pid and log directories) is given on the command line or
# made here. Debian's mariadbd has no user= (systemd runs it as mysql: as root it refuses to
# start) and no log-error (systemd's journal takes its stderr), so without these it dies at once
# and says why nowhere.
my_sys_opt() { my_print_defaults --mysqld | sed -n "s/^--$1=//p" | tail -n 1; }
my_sys_data=$(my_sys_opt datadir)
my_sys_data=${my_sys_data:-/var/lib/mysql}
my_sys_data=${my_sys_data%/}
my_sys_pid=$(my_sys_opt 'pid[-_]file')
my_sys_pid=${my_sys_pid:-/run/mysqld/mysqld.pid}
my_sys_user=$(my_sys_opt user)
my_sys_args=()
[ -n "$my_sys_user" ] || { my_sys_user=mysql; my_sys_args+=(--user=mysql); }
my_sys_log=$(my_sys_opt 'log[-_]error')
if [ -z "$my_sys_log" ]; then
  # Where Debian's 50-server.cnf suggests, and its logrotate rule looks.
  my_sys_log=/var/log/mysql/error.log
  my_sys_args+=(--log-error="$my_sys_log")
fi
case $my_sys_log in /*) ;; *) my_sys_log=$my_sys_data/$my_sys_log ;; esac
# The tests read how the server names the client (`mysql_seen_as`: 127.0.0.1, not a name the
# resolver happens to give it), as a server configured for production sees it.
my_print_defaults --mysqld | grep -q -- '--skip[-_]name[-_]resolve' || my_sys_args+=(--skip-name-resolve)
# The machine's mariadbd, by its pid file and executable (not ours on $MARIADB_TLS_PORT).
my_sys_running() { start-stop-daemon --status --pidfile "$my_sys_pid" --exec /usr/sbin/mariadbd; }
# root over TCP with an empty password, as the tests log in.
my_sys_root() { mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MARIADB_PORT" -u root --connect-timeout=2 "$@"; }

if ! my_ready "$MARIADB_PORT"; then
  for dir in "$(dirname "$my_sys_pid")" "$(dirname "$my_sys_log")" /run/mysqld; do
    [ -d "$dir" ] || install -d -o "$my_sys_user" -g "$my_sys_user" "$dir"
  done
  [ -e "$my_sys_log" ] || install -o "$my_sys_user" -g "$my_sys_user" -m 640 /dev/null "$my_sys_log"
  # The package's postinst makes the data directory; a half-finished install may not have.
  if [ ! -d "$my_sys_data/mysql" ]; then
    log "making the machine's MariaDB data directory $my_sys_data (mariadb-install-db)"
    mariadb-install-db --user="$my_sys_user" --datadir="$my_sys_data" --skip-test-db \
      >"$STATE/mariadb-system-install-db.log" 2>&1 \
      || die "mariadb-install-db failed for $my_sys_data; see $STATE/mariadb-system-install-db.log"
  fi
  if my_sys_running; then
    # Started, not yet listening (a recovery, or another run of this script): wait for it.
    log "the machine's MariaDB runs (pid $(cat "$my_sys_pid")) but does not answer yet; waiting"
    started=$(cat "$my_sys_pid")
  else
    log "starting the machine's MariaDB (mariadbd ${my_sys_args[*]}, log $my_sys_log)"
    # mariadbd stays in the foreground: setsid detaches it; stderr (before log-error is open)
    # goes to the same log.
    (cd / && exec setsid /usr/sbin/mariadbd "${my_sys_args[@]}" </dev/null >>"$my_sys_log" 2>&1) &
    started=$!
  fi
  my_sys_up_or_gone() { my_ready "$MARIADB_PORT" || ! kill -0 "$started" 2>/dev/null; }
  wait_for 30 my_sys_up_or_gone || true
  if ! my_ready "$MARIADB_PORT"; then
    tail -n 5 "$my_sys_log" >&2 || true
    kill -0 "$started" 2>/dev/null \
      || die "the machine's MariaDB exited without listening on 127.0.0.1:$MARIADB_PORT; see $my_sys_log"
    die "the machine's MariaDB does not accept connections on 127.0.0.1:$MARIADB_PORT after 30 s; see $my_sys_log"
  fi
fi

# Debian's root@localhost is unix_socket (or an invalid password): root over TCP with an empty
# password is added beside it, once, over the socket, where root gets in by unix_socket.
if ! my_sys_root -e 'select 1' >/dev/null 2>&1; then
  log "letting root in to 127.0.0.1:$MARIADB_PORT with an empty password (root@localhost and root@127.0.0.1: an empty mysql_native_password or unix_socket)"
  mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION" \
    || die "could not change root@localhost in the machine's MariaDB over its socket; see $my_sys_log"
  my_sys_root -e 'select 1' >/dev/null 2>&1 \
    || die "root still cannot log in to 127.0.0.1:$MARIADB_PORT with an empty password; see $my_sys_log"
fi

# ------------------------------------------------------------------------------ certificates
# A CA and a server certificate, made once, valid for ten years, and a copy of the key for
# each server user (PostgreSQL refuses a key that others may read).
test_pki "$STATE" "portproof databases test CA"

# put FILE OWNER MODE: writes standard input to FILE unless it holds that already.
put() {
  local new
  new=$(mktemp "$1.XXXXXX")
  cat > "$new"
  if cmp -s "$new" "$1"; then rm -f "$new"; else mv "$new" "$1"; fi
  chown "$2" "$1"
  chmod "$3" "$1"
}
put "$STATE/postgres-server-key.pem" postgres:postgres 600 < "$STATE/server-key.pem"
put "$STATE/mariadb-server-key.pem" mysql:mysql 600 < "$STATE/server-key.pem"

# ------------------------------------------------------------------------ PostgreSQL with TLS
# A cluster of our own, made once, by initdb (not pg_createcluster, which writes to /etc).
if [ ! -f "$STATE/pg-ssl.initialised" ] || [ "$(cat "$PG_DATA/PG_VERSION" 2>/dev/null)" != "$PG_VER" ]; then
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    as postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DATA" "$STATE/pg-ssl.initialised" "$STATE/pg-ssl.stamp"
  log "making a PostgreSQL $PG_VER cluster in $PG_DATA"
  install -d -o postgres -g postgres -m 700 "$PG_DATA"
  as postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --no-locale \
    --auth-local=peer --auth-host=reject >"$STATE/initdb.log" 2>&1 \
    || die "initdb failed; see $STATE/initdb.log"
  touch "$STATE/pg-ssl.initialised"
fi
install -d -o postgres -g postgres -m 755 "$PG_SOCKET"
[ -e "$PG_LOG" ] || install -o postgres -g postgres -m 644 /dev/null "$PG_LOG"

put "$PG_DATA/postgresql.conf" postgres:postgres 600 <<CONF
# Written by portproof's testbeds/scripts/databases.sh; rewritten on every run.
listen_addresses = '127.0.0.1'
port = $PG_SSL_PORT
unix_socket_directories = '$PG_SOCKET'
max_connections = 20
shared_buffers = 16MB
ssl = on
ssl_cert_file = '$STATE/server.pem'
ssl_key_file = '$STATE/postgres-server-key.pem'
password_encryption = scram-sha-256
lc_messages = 'C'
log_line_prefix = '%m [%p] %e %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
CONF
put "$PG_DATA/pg_hba.conf" postgres:postgres 600 <<HBA
# Written by portproof's testbeds/scripts/databases.sh; rewritten on every run.
# TYPE   DATABASE  USER           ADDRESS       METHOD
local    all       postgres                     peer
host     all       $BLOCKED_USER  127.0.0.1/32  reject
hostssl  all       $DB_USER       127.0.0.1/32  scram-sha-256
# Nothing else: a plain (non-TLS) TCP login has no entry and is refused with 28000.
HBA

pg_running() { as postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }
# Ready: the port open and postgres let in over the socket (a TCP ping would log a refusal).
pg_ssl_ready() {
  listening "$PG_SSL_PORT" \
    && as postgres pg_isready -q -h "$PG_SOCKET" -p "$PG_SSL_PORT" -U postgres -d postgres -t 2
}
pg_stamp=$(cat "$PG_DATA/postgresql.conf" "$PG_DATA/pg_hba.conf" "$STATE/server.pem" \
  "$STATE/postgres-server-key.pem" | sha256sum | cut -d' ' -f1)
if pg_running && pg_ssl_ready && [ "$(cat "$STATE/pg-ssl.stamp" 2>/dev/null)" = "$pg_stamp" ]; then
  log "already running on 127.0.0.1:$PG_SSL_PORT (PostgreSQL $PG_VER, $PG_DATA)"
else
  if pg_running; then
    log "restarting the PostgreSQL in $PG_DATA"
    as postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null \
      || die "the PostgreSQL in $PG_DATA does not stop; see $PG_LOG"
  fi
  rm -f "$STATE/pg-ssl.stamp"
  if listening "$PG_SSL_PORT"; then
    die "127.0.0.1:$PG_SSL_PORT is taken by another process; our PostgreSQL cannot listen there"
  fi
  log "starting PostgreSQL $PG_VER on 127.0.0.1:$PG_SSL_PORT"
  as postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 30 start >/dev/null \
    || die "PostgreSQL did not start accepting connections on 127.0.0.1:$PG_SSL_PORT (pg_ctl waits 30 s at most); see $PG_LOG"
  wait_for 30 pg_ssl_ready \
    || die "PostgreSQL does not accept connections on 127.0.0.1:$PG_SSL_PORT after 30 s; see $PG_LOG"
  echo "$pg_stamp" > "$STATE/pg-ssl.stamp"
fi

# The roles and databases, made or put right on every run.
as postgres psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET" -p "$PG_SSL_PORT" -U postgres -d postgres <<SQL >/dev/null \
  || die "setting up roles and databases on 127.0.0.1:$PG_SSL_PORT failed; see $PG_LOG"
SET client_min_messages = warning;
SELECT 'CREATE ROLE $DB_USER' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER')\gexec
SELECT 'CREATE ROLE $BLOCKED_USER' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$BLOCKED_USER')\gexec
SET password_encryption = 'scram-sha-256';
ALTER ROLE $DB_USER LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$DB_PASSWORD';
ALTER ROLE $BLOCKED_USER LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$BLOCKED_PASSWORD';
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME')\gexec
ALTER DATABASE $DB_NAME OWNER TO $DB_USER;
DROP DATABASE IF EXISTS $MISSING_DB;
SQL
PGPASSWORD=$DB_PASSWORD psql -X -qAt -w -c 'select 1' \
  "host=127.0.0.1 port=$PG_SSL_PORT user=$DB_USER dbname=$DB_NAME sslmode=verify-full sslrootcert=$STATE/ca.pem" >/dev/null \
  || die "$DB_USER cannot log in over TLS on 127.0.0.1:$PG_SSL_PORT; see $PG_LOG"

# --------------------------------------------------------------------------- MariaDB with TLS
# A data directory of our own, made once; only our option file is read (not /etc/mysql).
if [ ! -f "$STATE/mariadb-tls.initialised" ]; then
  old_pid=$(our_pid "$MY_PIDFILE" "--defaults-file=$MY_CONF")
  if [ -n "$old_pid" ]; then stop_pid "$old_pid" 30; fi
  rm -rf "$MY_DATA" "$STATE/mariadb-tls.stamp"
  log "making a MariaDB data directory in $MY_DATA"
  mariadb-install-db --no-defaults --user=mysql --datadir="$MY_DATA" --skip-test-db \
    --auth-root-authentication-method=socket >"$STATE/mariadb-install-db.log" 2>&1 \
    || die "mariadb-install-db failed; see $STATE/mariadb-install-db.log"
  touch "$STATE/mariadb-tls.initialised"
fi
install -d -o mysql -g mysql -m 755 "$MY_RUN"
[ -e "$MY_LOG" ] || install -o mysql -g mysql -m 644 /dev/null "$MY_LOG"

put "$MY_CONF" root:root 644 <<CONF
# Written by portproof's testbeds/scripts/databases.sh; rewritten on every run.
[mariadbd]
user = mysql
datadir = $MY_DATA
socket = $MY_SOCKET
pid-file = $MY_PIDFILE
log-error = $MY_LOG
port = $MARIADB_TLS_PORT
bind-address = 127.0.0.1
skip-networking = 0
skip-name-resolve
max_connections = 20
innodb_buffer_pool_size = 32M
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
ssl_cert = $STATE/server.pem
ssl_key = $STATE/mariadb-server-key.pem
ssl_ca = $STATE/ca.pem
require_secure_transport = ON
CONF

# The pid of our mariadbd, if it runs.
my_pid() { our_pid "$MY_PIDFILE" "--defaults-file=$MY_CONF"; }
# root over our socket (unix_socket authentication; a socket counts as a secure transport).
my_root() { mariadb --no-defaults -S "$MY_SOCKET" -u root "$@"; }
my_up() { [ -n "$(my_pid)" ] && listening "$MARIADB_TLS_PORT" && my_root -e 'select 1' >/dev/null 2>&1; }

my_stamp=$(cat "$MY_CONF" "$STATE/server.pem" "$STATE/mariadb-server-key.pem" "$STATE/ca.pem" \
  | sha256sum | cut -d' ' -f1)
pid=$(my_pid)
if [ -n "$pid" ] && my_up && [ "$(cat "$STATE/mariadb-tls.stamp" 2>/dev/null)" = "$my_stamp" ]; then
  log "already running on 127.0.0.1:$MARIADB_TLS_PORT (MariaDB, $MY_DATA, pid $pid)"
else
  if [ -n "$pid" ]; then
    log "restarting the MariaDB in $MY_DATA (pid $pid)"
    stop_pid "$pid" 30
  fi
  rm -f "$MY_PIDFILE" "$STATE/mariadb-tls.stamp"
  if listening "$MARIADB_TLS_PORT"; then
    die "127.0.0.1:$MARIADB_TLS_PORT is taken by another process; our MariaDB cannot listen there"
  fi
  log "starting MariaDB on 127.0.0.1:$MARIADB_TLS_PORT"
  # mariadbd stays in the foreground: setsid detaches it from this script and its terminal.
  setsid /usr/sbin/mariadbd --defaults-file="$MY_CONF" </dev/null >>"$MY_LOG" 2>&1 &
  started=$!
  my_up_or_gone() { my_up || ! kill -0 "$started" 2>/dev/null; }
  wait_for 30 my_up_or_gone || true
  if ! my_up; then
    kill -0 "$started" 2>/dev/null || die "MariaDB exited without listening on 127.0.0.1:$MARIADB_TLS_PORT; see $MY_LOG"
    die "MariaDB does not accept connections on 127.0.0.1:$MARIADB_TLS_PORT after 30 s; see $MY_LOG"
  fi
  echo "$my_stamp" > "$STATE/mariadb-tls.stamp"
fi

# The users and databases, made or put right on every run.
my_root <<SQL || die "setting up users and databases on 127.0.0.1:$MARIADB_TLS_PORT failed; see $MY_LOG"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
DROP DATABASE IF EXISTS $MISSING_DB;
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER '$DB_USER'@'%' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'%';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
SQL
mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MARIADB_TLS_PORT" -u "$DB_USER" -p"$DB_PASSWORD" \
  --ssl --ssl-ca="$STATE/ca.pem" --ssl-verify-server-cert -e 'select 1' "$DB_NAME" >/dev/null \
  || die "$DB_USER cannot log in over TLS on 127.0.0.1:$MARIADB_TLS_PORT; see $MY_LOG"

# ---------------------------------------------------------------------------------- summary
pg_sys_version=$(psql -X -qAt -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -w -c 'show server_version' 2>/dev/null || true)
my_sys_version=$(mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MARIADB_PORT" -u root -N -e 'select version()' 2>/dev/null || true)
my_version=$(my_root -N -e 'select version()' 2>/dev/null || true)

log "ready: postgresql://postgres@127.0.0.1:$PG_PORT (the machine's PostgreSQL ${pg_sys_version:-?}, trust)"
log "ready: mysql://root@127.0.0.1:$MARIADB_PORT (the machine's MariaDB ${my_sys_version:-?}, root with an empty password)"
log "ready: postgresql://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_SSL_PORT/$DB_NAME?sslmode=require (PostgreSQL $PG_VER, TLS and SCRAM required; $BLOCKED_USER/$BLOCKED_PASSWORD rejected by pg_hba; no database $MISSING_DB; CA $STATE/ca.pem)"
log "ready: mysql://$DB_USER:$DB_PASSWORD@127.0.0.1:$MARIADB_TLS_PORT/$DB_NAME (MariaDB ${my_version:-?}, TLS required by require_secure_transport; no database $MISSING_DB; CA $STATE/ca.pem)"
