#!/usr/bin/env bash
# make test: every gate and every Molecule scenario, with the lab check beside them from the second
# gate on. Stops at the first failed stage and always prints the table of stage durations.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT" || exit 1
export STAGE_LOG="${STAGE_LOG:-$ROOT/.build/stages.tsv}"
mkdir -p "$(dirname "$STAGE_LOG")"; rm -f "$STAGE_LOG"
stage() { "$ROOT/scripts/stage.sh" "$@"; }
M=(make --no-print-directory)
export FLASH_GOAL=test

gates() {
  stage ansible-lint "${M[@]}" ansible-lint || return
  stage units "${M[@]}" units || return
  stage sanity "${M[@]}" sanity || return
  stage collection "${M[@]}" collection || return
}

run() {
  stage preflight "${M[@]}" preflight || return
  stage venv "${M[@]}" venv || return
  stage engine "${M[@]}" engine || return
  stage image "${M[@]}" image || return
  "${M[@]}" link || return
  stage yamllint "${M[@]}" yamllint || return
  # The lab check is the longest stage (scripts/molecule-and-lab.sh): it starts here, runs beside
  # the other gates and the Molecule scenarios, and a failed gate stops it.
  "$ROOT/scripts/molecule-and-lab.sh" start || return
  gates || { local rc=$?; "$ROOT/scripts/molecule-and-lab.sh" stop; return "$rc"; }
  # shellcheck disable=SC2046  # one word per scenario
  stage molecule+lab "$ROOT/scripts/molecule-and-lab.sh" finish $("${M[@]}" -s print-scenarios) || return
}
run
rc=$?
"$ROOT/scripts/stage-summary.sh"
[ "$rc" -eq 0 ] && echo "make test: all stages passed" || echo "make test: FAILED (exit $rc)"
exit "$rc"
