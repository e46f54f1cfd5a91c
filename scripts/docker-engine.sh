#!/usr/bin/env bash
# Make a Docker engine answer on this machine, or stop with a message that says why.
#   - Debian/Ubuntu as root: install docker.io when no engine is installed;
#   - start it with systemd when systemd runs the machine, else as a plain daemon;
#   - wait for `docker info` (DOCKER_WAIT seconds, default 60).
# Exit codes: 0 engine answers, 3 not root, 4 not Debian-like, 5 engine will not start.
set -euo pipefail
SCRIPT_NAME=docker-engine
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

DOCKER_WAIT="${DOCKER_WAIT:-60}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"

if docker info >/dev/null 2>&1; then
  log "engine answers: $(docker info --format '{{.ServerVersion}} ({{.Driver}})')"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  die "no Docker engine answers and this user cannot start one: run as root, or start the engine and add this user to the 'docker' group" 3
fi
if ! command -v dockerd >/dev/null 2>&1; then
  is_debian_like || die "no Docker engine installed and this is not Debian/Ubuntu: install Docker Engine for this OS (https://docs.docker.com/engine/install/), start it, and re-run" 4
  apt_install docker.io iptables ca-certificates
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  log "starting docker with systemd"
  systemctl start docker.socket docker.service >/dev/null 2>&1 || true
fi
if ! docker info >/dev/null 2>&1 && ! pgrep -x dockerd >/dev/null 2>&1; then
  log "no service manager runs dockerd: starting it as a daemon (log: $DOCKERD_LOG)"
  # setsid: the engine must outlive the make job that started it.
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
fi

for _ in $(seq 1 "$DOCKER_WAIT"); do
  if docker info >/dev/null 2>&1; then
    log "engine answers: $(docker info --format '{{.ServerVersion}} ({{.Driver}})')"
    exit 0
  fi
  sleep 1
done
tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
die "the Docker engine did not answer within ${DOCKER_WAIT}s; see $DOCKERD_LOG (the last lines are above)" 5
