#!/usr/bin/env bash
# The JDK's RMI registry and JMX connector server, on loopback only, for the rmi and jmx probes:
#   11099  an RMI registry with the JMX connector bound as "jmxrmi" (a JVM's JMX agent, WSO2's 11111)
#   11098  the JMX RMI server object's port: RMI, but not a registry (WSO2's 9999)
#   11097  an RMI registry with one name of its own ("portproof-hello"), no JMX
# The JDK's own rmiregistry and -Dcom.sun.management.jmxremote listen on every interface, so a
# small program (testbeds/java/RmiPeer.java) binds them to 127.0.0.1 instead. Idempotent.
set -euo pipefail
SCRIPT=java.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

dir=/tmp/portproof-testbeds/java
mkdir -p "$dir"
need javac openjdk-17-jdk-headless

if listening 11099 && listening 11098 && listening 11097; then
  log "RMI registry 11099 (jmxrmi), JMX RMI server 11098, plain registry 11097: already up"
  exit 0
fi
pid=$(our_pid "$dir/rmi.pid" RmiPeer)
[ -n "$pid" ] && stop_pid "$pid"
cp "$(dirname "$0")/../java/RmiPeer.java" "$dir/"
(cd "$dir" && javac -d "$dir" RmiPeer.java)
log "starting the JDK RMI peer on 127.0.0.1:11099, 11098, 11097"
nohup java -Xmx64m -cp "$dir" RmiPeer 11099 11098 11097 >"$dir/rmi.log" 2>&1 &
echo $! >"$dir/rmi.pid"
wait_for 30 listening 11097 || die "the RMI peer did not start: $(tail -5 "$dir/rmi.log")"
log "RMI registry 11099 (jmxrmi), JMX RMI server 11098, plain registry 11097: up"
