# shellcheck shell=bash
# Sourced by the testbed scripts, never run: the pieces every one of them needs the same way.
# The sourcing script sets SCRIPT (its own name, for log lines) first.
#
# Nothing here starts a daemon; each script knows its own daemon's readiness test.

log() { echo "$SCRIPT: $*"; }
die() { log "$*" >&2; exit 1; }

# listening PORT: something accepts TCP connections on 127.0.0.1:PORT (bash's /dev/tcp, so no
# nc or ss is needed on a fresh machine).
listening() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# need COMMAND PACKAGE...: installs the packages with apt-get unless COMMAND is there. The index
# is refreshed only when the install fails: on a machine that ran apt-get update it is quick.
need() {
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  need_package "$@"
}

# need_package PACKAGE...: installs the packages with apt-get, as need does.
need_package() {
  log "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

# wait_for SECONDS CHECK...: true once CHECK succeeds, false if it has not after SECONDS.
wait_for() {
  local tries=$(($1 * 10)); shift
  for _ in $(seq 1 "$tries"); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

# our_pid PIDFILE TEXT: the pid in PIDFILE if that process runs and its command line contains
# TEXT, so that a pid the system gave to another program since is never taken for ours.
our_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
    echo "$pid"
  fi
}

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL if it is still there after SECONDS (default 5).
# Callers pass only a pid they started themselves, as our_pid finds it.
stop_pid() {
  local pid=$1 tries=$((${2:-5} * 10))
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 "$tries"); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

# venv_with DIR PACKAGE VERSION: a Python venv in DIR holding PACKAGE at exactly VERSION, made or
# put right (a second run only reads the installed version). A new venv is made from the
# distribution's /usr/bin/python3 (installed if missing), never from whichever python3 comes
# first on PATH (a pyenv shim on one machine, absent on the next). A venv without pip is a
# half-made one (python3 -m venv fails after creating the directory when ensurepip is missing),
# and one whose python no longer runs lost its base interpreter: either is made again; only a
# directory that is a venv is ever removed.
venv_with() {
  local dir=$1 package=$2 version=$3 have python=/usr/bin/python3
  drop_venv() { if [ -f "$dir/pyvenv.cfg" ]; then rm -rf "$dir"; fi; }
  if [ ! -x "$dir/bin/pip" ] || ! "$dir/bin/python" -c '' >/dev/null 2>&1; then
    log "making the venv $dir"
    drop_venv
    [ -x "$python" ] || need_package python3 python3-venv
    "$python" -m venv "$dir" || {
      drop_venv
      # Debian splits venv support out of python3.
      need_package python3-venv
      "$python" -m venv "$dir"
    }
  fi
  have=$("$dir/bin/python" -c "import importlib.metadata as m; print(m.version('$package'))" 2>/dev/null || true)
  if [ "$have" != "$version" ]; then
    log "installing $package $version from PyPI into $dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$package==$version"
  fi
}

# test_pki DIR CA_NAME: a CA (DIR/ca.pem, ca-key.pem) and a server certificate for localhost and
# 127.0.0.1 (DIR/server.pem, server-key.pem) that it signed, made once, valid for ten years.
# The keys are readable by root alone; a server running as another user gets its own copy.
test_pki() {
  local dir=$1 name=$2
  [ -s "$dir/server.pem" ] && [ -s "$dir/ca.pem" ] && return 0
  need openssl openssl
  log "making a CA and a server certificate in $dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$name" \
    -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server-key.pem" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > "$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
    -days 3650 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
  chmod 600 "$dir/ca-key.pem" "$dir/server-key.pem"
  chmod 644 "$dir/ca.pem" "$dir/server.pem"
}
