#!/usr/bin/env bash
# Installs, idempotently, the firewall tools `portproof firewall`'s output is handed to, so that a
# rule file is judged by the tool that would load it rather than by our own reading of its syntax:
#
#   nft                   (nftables)   `nft -c -f FILE`: parsed and checked by the kernel, nothing loaded
#   ufw                   (ufw)        `ufw --dry-run ...`, in a private mount namespace over a copy of /etc/ufw
#   firewall-offline-cmd  (firewalld)  the firewall-cmd lines, against a throwaway /etc/firewalld in a
#                                      private mount namespace
#
# Nothing is enabled or started: ufw stays disabled (its debconf default, ENABLED=no), and firewalld
# has no init script on Debian and no systemd here to start it; the tests never load a rule.
set -euo pipefail

SCRIPT=firewall-tools.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need nft nftables
need ufw ufw
need firewall-offline-cmd firewalld
if grep -q '^ENABLED=yes' /etc/ufw/ufw.conf 2>/dev/null; then
  log "note: ufw is enabled on this machine (not by this script); the tests only use --dry-run"
fi
log "nft, ufw and firewall-offline-cmd ready"
