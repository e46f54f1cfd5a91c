#!/usr/bin/env bash
# molecule-pool.sh SCENARIO...: run Molecule scenarios, MOLECULE_JOBS at a time (default 2),
# heaviest first. Each scenario logs to .build/molecule/<name>.log and records its duration
# through stage.sh; a failed scenario's log is printed whole. Exit non-zero if any failed.
# Scenarios mostly wait on package downloads, daemon starts and failover timers, so two at a
# time cut the wall time on 2 cores without starving the timing-sensitive checks.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
JOBS="${MOLECULE_JOBS:-2}"
LOGDIR="$ROOT/.build/molecule"
mkdir -p "$LOGDIR"
# Longest first, so the pool does not end on one long scenario running alone; redis and
# rabbitmq (three daemons each) not side by side. Minutes each took in the last runs, with
# Mitogen where the scenario runs with it.
WEIGHTS="rabbitmq:13 proxy:12 redis:11 backup:6 app:5 monitoring:4 firewall:4 app_endpoints:3 audit:3 common:1 lab_hosts:1"
# Every scenario runs with the executor its molecule.yml does not override (scripts/lab-executor.sh).
# shellcheck source=scripts/lab-executor.sh
. "$ROOT/scripts/lab-executor.sh" || exit 2

weight() { local w; w="$(tr ' ' '\n' <<<"$WEIGHTS" | grep "^$1:" | cut -d: -f2)"; echo "${w:-5}"; }
mapfile -t ordered < <(for s in "$@"; do echo "$(weight "$s") $s"; done | sort -rn | cut -d' ' -f2)

declare -A pid_of=()
failed=()
finish() {
  local s="$1" rc="$2"
  if [ "$rc" -eq 0 ]; then
    grep -E '<== .*stage molecule:' "$LOGDIR/$s.log" || true
  else
    echo "---------- molecule:$s FAILED, its log follows ----------"
    sed 's/\x1b\[[0-9;]*m//g' "$LOGDIR/$s.log"
    echo "---------- end of molecule:$s ----------"
    failed+=("$s")
  fi
}
reap_one() {
  local s
  wait -n "${pid_of[@]}" 2>/dev/null
  for s in "${!pid_of[@]}"; do
    if ! kill -0 "${pid_of[$s]}" 2>/dev/null; then
      wait "${pid_of[$s]}"; finish "$s" "$?"; unset "pid_of[$s]"
    fi
  done
}

for s in "${ordered[@]}"; do
  while [ "${#pid_of[@]}" -ge "$JOBS" ]; do reap_one; done
  echo "$(date +%H:%M:%S) molecule:$s started (log: .build/molecule/$s.log)"
  "$ROOT/scripts/stage.sh" "molecule:$s" "$ROOT/.venv/bin/molecule" test -s "$s" >"$LOGDIR/$s.log" 2>&1 &
  pid_of[$s]=$!
done
while [ "${#pid_of[@]}" -gt 0 ]; do reap_one; done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "molecule: failed: ${failed[*]}"
  exit 1
fi
echo "molecule: all $# scenarios passed"
