#!/usr/bin/env bash
# Installs, idempotently, the tools the report tests hand portproof's output to, so that a report
# is judged by its consumer rather than by our own reading of the format:
#
#   promtool  (Debian's prometheus package)  `promtool check metrics` on every Prometheus report
#   xmllint   (libxml2-utils)                JUnit reports against tests/data/junit-10.xsd
#
# Nothing is started: the prometheus package's daemon stays off (only its promtool is used).
set -euo pipefail

SCRIPT=report-tools.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need promtool prometheus
need xmllint libxml2-utils
log "promtool and xmllint ready"
