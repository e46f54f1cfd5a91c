#!/usr/bin/env bash
# make test: every gate, every Molecule scenario, then the lab check. Stops at the first failed
# stage and always prints the table of stage durations.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export STAGE_LOG="${STAGE_LOG:-$ROOT/.build/stages.tsv}"
mkdir -p "$(dirname "$STAGE_LOG")"; rm -f "$STAGE_LOG"
stage() { "$ROOT/scripts/stage.sh" "$@"; }
m() { make --no-print-directory "$@"; }

run() {
  stage preflight m preflight || return
  stage venv m venv || return
  stage engine m engine || return
  stage image m image || return
  m link || return
  stage yamllint m yamllint || return
  stage ansible-lint m ansible-lint || return
  stage units m units || return
  stage sanity m sanity || return
  stage collection m collection || return
  for s in $(m -s print-scenarios); do
    stage "molecule:$s" "$ROOT/.venv/bin/molecule" test -s "$s" || return
  done
  stage lab "$ROOT/scripts/lab-check.sh" || return
}
run
rc=$?
"$ROOT/scripts/stage-summary.sh"
[ "$rc" -eq 0 ] && echo "make test: all stages passed" || echo "make test: FAILED (exit $rc)"
exit "$rc"
