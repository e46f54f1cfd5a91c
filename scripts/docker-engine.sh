#!/usr/bin/env bash
# Make a Docker engine answer on this machine, or stop with a message that says why.
#   - Debian/Ubuntu as root: install docker.io when no engine is installed;
#   - start it with systemd when systemd runs the machine, else as a plain daemon;
#   - without one: containerd, then dockerd on containerd's socket, each waited for DOCKER_WAIT
#     seconds (default 60); a start that does not answer is stopped and tried again
#     (ENGINE_TRIES, default 3).
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
CONTAINERD_LOG="${CONTAINERD_LOG:-/var/log/containerd.log}"
CONTAINERD_SOCK=/run/containerd/containerd.sock
ENGINE_TRIES="${ENGINE_TRIES:-3}"

wait_for() {
  # wait_for SECONDS CMD...: true once CMD succeeds, false after SECONDS.
  local n=$1; shift
  for _ in $(seq 1 "$n"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}

STARTED_PIDS=()

stop_started() {
  # Only what this run started: never a daemon by name (another engine's, or a test's).
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait_for 20 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}

start_daemons() {
  # As systemd would: containerd first, on its own socket and log, then dockerd pointed at it.
  # A dockerd that spawns its own containerd hides that containerd's errors and gives up after
  # its own timeout (seen in CI: "timeout waiting for containerd to start", nothing else).
  if ! ctr --connect-timeout 2s --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; then
    log "starting containerd as a daemon (log: $CONTAINERD_LOG)"
    setsid containerd >>"$CONTAINERD_LOG" 2>&1 </dev/null &
    STARTED_PIDS+=("$!")
    if ! wait_for "$DOCKER_WAIT" ctr --connect-timeout 2s --address "$CONTAINERD_SOCK" version; then
      tail -n 20 "$CONTAINERD_LOG" >&2 2>/dev/null || true
      log "containerd did not answer on $CONTAINERD_SOCK within ${DOCKER_WAIT}s (its last lines are above)"
      return 1
    fi
  fi
  log "starting dockerd as a daemon (log: $DOCKERD_LOG)"
  # setsid: the engine must outlive the make job that started it.
  setsid dockerd --containerd="$CONTAINERD_SOCK" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  STARTED_PIDS+=("$!")
  if ! wait_for "$DOCKER_WAIT" docker info; then
    tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
    log "dockerd did not answer within ${DOCKER_WAIT}s (its last lines are above)"
    return 1
  fi
}

if ! docker info >/dev/null 2>&1 && pgrep -x dockerd >/dev/null 2>&1; then
  # A dockerd this script did not start (a service manager's, one starting): wait for it, never kill it.
  wait_for "$DOCKER_WAIT" docker info \
    || die "a dockerd runs but does not answer within ${DOCKER_WAIT}s: see $DOCKERD_LOG or its service manager's log, stop it and re-run" 5
fi
if ! docker info >/dev/null 2>&1; then
  for try in $(seq 1 "$ENGINE_TRIES"); do
    log "no service manager runs the engine: start ${try} of ${ENGINE_TRIES}"
    start_daemons && break
    stop_started
  done
fi

if docker info >/dev/null 2>&1; then
  log "engine answers: $(docker info --format '{{.ServerVersion}} ({{.Driver}})')"
  exit 0
fi
die "the Docker engine did not answer after ${ENGINE_TRIES} starts of ${DOCKER_WAIT}s each; see $CONTAINERD_LOG and $DOCKERD_LOG (their last lines are above)" 5
