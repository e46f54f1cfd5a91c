#!/usr/bin/env bash
# Install promtool and amtool on the controller (Debian's prometheus and prometheus-alertmanager,
# the versions the monitoring hosts run) for the alert-rule tests, without starting either daemon:
# a policy-rc.d refuses service starts for the length of the install.
set -euo pipefail
SCRIPT_NAME=monitoring-tools
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
if command -v promtool >/dev/null && command -v amtool >/dev/null; then
  exit 0
fi
[ "$(id -u)" -eq 0 ] || die "promtool/amtool are missing: install Debian's prometheus and prometheus-alertmanager (as root)" 4
policy=/usr/sbin/policy-rc.d
if [ -e "$policy" ]; then
  # Docker's Debian images ship one that refuses every start (exit 101): use it as it is. Any
  # other policy belongs to the machine's owner: leave it, and say what to install.
  rc=0; "$policy" prometheus start >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 101 ] || die "$policy exists and allows service starts (exit $rc); not touching it: install prometheus and prometheus-alertmanager by hand" 4
  log "$policy already refuses service starts: installing under it"
else
  trap 'rm -f "$policy"' EXIT
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
fi
apt_install prometheus prometheus-alertmanager
# Debian's units are enabled by the packages; on a machine with systemd, keep them stopped.
if [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus prometheus-alertmanager >/dev/null 2>&1 || true
fi
log "promtool $(promtool --version 2>&1 | head -n1 | awk '{print $3}'), amtool $(amtool --version 2>&1 | head -n1 | awk '{print $3}')"
