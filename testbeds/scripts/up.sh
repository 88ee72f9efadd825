#!/usr/bin/env bash
# Installs (apt, PyPI) and starts, idempotently and on loopback, every real peer the tests need:
# the README's test command runs this first. Run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for s in nginx legacy-tls brokers databases industrial opcua java report-tools time wsdiscovery firewall-tools ldap thrift websocket; do
  bash "$here/$s.sh"
done
