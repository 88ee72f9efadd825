#!/usr/bin/env bash
# Starts the real, independent NTP servers portproof's tests probe, on loopback only:
#
#   127.0.0.1:11123/udp  chrony (Debian's chrony package), `local stratum 8`: synchronised to
#                        its own local clock, no sources; reference id 127.127.1.1.
#   127.0.0.1:11124/udp  chrony with no source and no local line: never synchronised (leap 3).
#
# chrony is extracted from its .deb (apt-get download, dpkg-deb -x) into $STATE/chrony rather
# than installed: installing it would remove systemd-timesyncd and start a system daemon. Each
# chronyd runs with -x (it never adjusts the system clock), `cmdport 0` (no command socket),
# `bindaddress 127.0.0.1`, and as root only because the extracted copy has no _chrony user; it
# is also started with the capability to set the time dropped (capsh or setpriv when present).
#
# Idempotent: the package is fetched once; a daemon already running with the current config is
# kept, one with an older config is restarted. Returns once both answer an NTP request.
set -euo pipefail

STATE=${PORTPROOF_STATE:-/tmp/portproof-testbeds}/time
LOCAL_PORT=${PORTPROOF_CHRONY_PORT:-11123}
UNSYNC_PORT=${PORTPROOF_CHRONY_UNSYNC_PORT:-11124}
mkdir -p "$STATE"

SCRIPT=time.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHRONYD="$STATE/chrony/usr/sbin/chronyd"
if [ ! -x "$CHRONYD" ]; then
  log "fetching chrony's .deb (extracted, not installed)"
  rm -rf "$STATE/deb" && mkdir -p "$STATE/deb"
  (cd "$STATE/deb" && { apt-get download chrony >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download chrony >/dev/null; }; })
  # chronyd's libraries (libcap2, libedit2, libgnutls30, libnettle8, libseccomp2) are on a
  # Debian base; install any that are missing.
  dpkg-deb -x "$STATE"/deb/chrony_*.deb "$STATE/chrony"
  missing=$(ldd "$CHRONYD" | awk '/not found/ {print $1}')
  [ -z "$missing" ] || need_package libcap2 libedit2 libgnutls30 libnettle8 libseccomp2
fi

# answers PORT: chrony answers a mode-3 request on 127.0.0.1:PORT (bash /dev/udp, no tools).
answers() {
  local reply
  reply=$(timeout 2 bash -c 'exec 3<>/dev/udp/127.0.0.1/'"$1"'
    printf "\x23\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1\2\3\4\5\6\7\10" >&3
    head -c 48 <&3 | od -An -tx1 | tr -d " \n"' 2>/dev/null) || return 1
  [ "${#reply}" -ge 96 ]
}

# Drop CAP_SYS_TIME where a tool for it exists: with -x chronyd never calls adjtimex to set
# the clock, and without the capability it could not even if it tried.
nocap=()
if command -v setpriv >/dev/null 2>&1; then
  nocap=(setpriv --bounding-set -sys_time --inh-caps -sys_time --)
elif command -v capsh >/dev/null 2>&1; then
  nocap=(capsh --drop=cap_sys_time --)
fi

# start NAME PORT EXTRA_DIRECTIVE
start() {
  local name=$1 port=$2 extra=$3 conf="$STATE/$1.conf" pidfile="$STATE/$1.pid"
  cat > "$conf.new" <<CONF
# written by time.sh: a loopback-only chrony for portproof's tests; never steers the clock (-x)
port $port
bindaddress 127.0.0.1
cmdport 0
allow 127.0.0.1
$extra
driftfile $STATE/$name.drift
pidfile $pidfile
CONF
  local pid
  pid=$(our_pid "$pidfile" "$conf")
  if [ -n "$pid" ] && cmp -s "$conf" "$conf.new" && answers "$port"; then
    rm -f "$conf.new"
    return 0
  fi
  [ -n "$pid" ] && { log "restarting chrony $name (its config changed or it stopped answering)"; stop_pid "$pid"; }
  answers "$port" && die "127.0.0.1:$port/udp already answers NTP from another program; set PORTPROOF_CHRONY_PORT / PORTPROOF_CHRONY_UNSYNC_PORT"
  mv "$conf.new" "$conf"
  log "starting chrony $name on 127.0.0.1:$port/udp"
  # -x: never control the clock; -n: stay in the foreground, detached by setsid; -u root: the
  # extracted package has no _chrony user to drop to.
  setsid nohup "${nocap[@]}" "$CHRONYD" -x -n -u root -f "$conf" >"$STATE/$name.log" 2>&1 < /dev/null &
  wait_for 10 answers "$port" || die "chrony $name does not answer on 127.0.0.1:$port/udp after 10 s; see $STATE/$name.log"
}

start local "$LOCAL_PORT" "local stratum 8"
start unsync "$UNSYNC_PORT" "# no source and no local line: never synchronised"
log "ready: ntp://127.0.0.1:$LOCAL_PORT (chrony, local stratum 8), ntp://127.0.0.1:$UNSYNC_PORT (chrony, unsynchronised)"
