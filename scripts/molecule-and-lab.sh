#!/usr/bin/env bash
# molecule-and-lab.sh start | finish SCENARIO... | stop: the lab check beside the gates and the
# Molecule scenarios (make test).
#   start   starts the lab check in the background (its own process group; log .build/lab-check.log)
#           right after the first gate, so the longest stage overlaps the gates and the scenarios;
#   finish  runs the Molecule pool, waits for the lab check, prints its log, and exits non-zero if
#           either failed;
#   stop    ends a started lab check (a gate failed).
# They cannot meet: the lab lives on 10.212.1.0/24 with containers labelled io.flash.lab=flash-lab,
# each scenario on its own 10.213.x network with its own names, and the lab check keeps its own
# audit trail (FLASH_AUDIT_TRAIL_PATH, in scripts/lab-check.sh), so a gate's ansible-playbook runs
# never land in the trail it checks. Molecule runs MOLECULE_JOBS scenarios at a time beside the lab
# (default 1: two heavy jobs on two cores, as two scenarios side by side were). The scenarios read
# the reference app's images under their own name (APP_IMAGE, tagged here from the same image ids):
# the lab's same-tag step moves reference-app:1.0.0 to a rebuilt image for a while, which must not
# change an image under a scenario between its converge and its idempotence run.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT" || exit 2
LAB_IMAGE="${APP_IMAGE:-flash-connect/reference-app}"
MOLECULE_IMAGE="${LAB_IMAGE}-molecule"
mkdir -p "$ROOT/.build"
lab_log="$ROOT/.build/lab-check.log"
lab_pid_file="$ROOT/.build/lab-check.pid"
lab_rc_file="$ROOT/.build/lab-check.rc"

start() {
  make --no-print-directory app-image || { echo "molecule-and-lab: the reference app images did not build" >&2; return 2; }
  # Every tag of the app's images, under the scenarios' name (the same image ids).
  docker image ls --format '{{.Repository}}:{{.Tag}}' "$LAB_IMAGE" | while read -r ref; do
    docker tag "$ref" "$MOLECULE_IMAGE:${ref##*:}" || exit 2
  done || { echo "molecule-and-lab: could not tag $LAB_IMAGE as $MOLECULE_IMAGE" >&2; return 2; }
  rm -f "$lab_rc_file"
  echo "$(date +%H:%M:%S) lab:check started (log: .build/lab-check.log, printed when it ends)"
  # shellcheck disable=SC2016  # expanded by the inner shell
  setsid bash -c '"$1" lab:check "$2" >"$3" 2>&1; echo $? >"$4"' _ \
    "$ROOT/scripts/stage.sh" "$ROOT/scripts/lab-check.sh" "$lab_log" "$lab_rc_file" </dev/null &
  echo $! >"$lab_pid_file"
}

stop() {
  [ -f "$lab_pid_file" ] || return 0
  kill -TERM -- "-$(cat "$lab_pid_file")" 2>/dev/null || true
  rm -f "$lab_pid_file"
  echo "molecule-and-lab: the lab check was stopped (a gate failed); its log so far: .build/lab-check.log"
}

finish() {
  [ -f "$lab_pid_file" ] || { echo "molecule-and-lab: no lab check was started (run: $0 start)" >&2; return 2; }
  APP_IMAGE="$MOLECULE_IMAGE" MOLECULE_JOBS="${MOLECULE_JOBS:-1}" \
    "$ROOT/scripts/stage.sh" molecule:pool "$ROOT/scripts/molecule-pool.sh" "$@"
  local molecule_rc=$? lab_rc pid
  pid="$(cat "$lab_pid_file")"
  while kill -0 "$pid" 2>/dev/null; do sleep 5; done
  rm -f "$lab_pid_file"
  lab_rc="$(cat "$lab_rc_file" 2>/dev/null || echo 2)"
  echo "---------- lab:check (exit $lab_rc), its log follows ----------"
  sed 's/\x1b\[[0-9;]*m//g' "$lab_log"
  echo "---------- end of lab:check ----------"
  echo "molecule-and-lab: molecule exit $molecule_rc, lab exit $lab_rc"
  [ "$molecule_rc" -eq 0 ] && [ "$lab_rc" -eq 0 ]
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  finish) shift; finish "$@" ;;
  *) echo "usage: $0 start | finish SCENARIO... | stop" >&2; exit 2 ;;
esac
