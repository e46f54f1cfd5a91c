#!/usr/bin/env bash
# Stop early, with a message naming the problem, when this machine cannot run the lab or the
# tests: not root, not Debian-like without an engine, no python3, or a Docker engine that will
# not start (the engine check is done by docker-engine.sh, which make calls next).
set -euo pipefail
SCRIPT_NAME=preflight
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
target="${1:-test}"
if [ "$(id -u)" -ne 0 ] && ! docker info >/dev/null 2>&1; then
  die "'make $target' needs root on this machine: it installs packages (docker.io, debootstrap, python3-venv) and starts the Docker engine. Re-run as root (sudo make $target), or start Docker and give this user access to it." 3
fi
command -v python3 >/dev/null 2>&1 || die "python3 is missing: apt-get install python3" 4
command -v git >/dev/null 2>&1 || die "git is missing: apt-get install git" 4
if ! command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1 && ! is_debian_like; then
  die "no Docker engine and this is not Debian/Ubuntu: install Docker Engine for this OS, start it, and re-run 'make $target'" 4
fi
log "ok: $(id -un) on $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown OS}"), $(python3 -V 2>&1)"
