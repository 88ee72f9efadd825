#!/usr/bin/env bash
# Installs what the WS-Discovery test needs; it starts nothing. python WSDiscovery (PyPI,
# pinned below) binds 0.0.0.0:3702 and joins 239.255.255.250, so tests/udp.rs runs it
# (wsd_publish.py beside this script) only inside a network namespace of its own, made with
# iproute2's `ip netns` and removed after the test: never on this machine's own network.
#
# Idempotent: the venv is made once; a second run only checks the installed version.
set -euo pipefail

VENV=${PORTPROOF_WSD_VENV:-/opt/portproof-wsd-venv}
WSDISCOVERY_VERSION=2.1.2

SCRIPT=wsdiscovery.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need ip iproute2
venv_with "$VENV" WSDiscovery "$WSDISCOVERY_VERSION"
log "ready: $VENV/bin/python (WSDiscovery $WSDISCOVERY_VERSION) for the network-namespace test"
