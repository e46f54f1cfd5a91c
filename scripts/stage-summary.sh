#!/usr/bin/env bash
# Print the stage durations recorded by stage.sh.
set -euo pipefail
log="${STAGE_LOG:-$(cd "$(dirname "$0")/.." && pwd)/.build/stages.tsv}"
[ -f "$log" ] || exit 0
total=0
printf '\n%-28s %-10s %s\n' stage status duration
# Rows named "molecule:<scenario>" ran inside the "molecule" stage (in parallel): shown
# indented, not added to the total.
while IFS=$'\t' read -r name status secs; do
  case "$name" in
    *:*) printf '  %-26s %-10s %dm%02ds\n' "$name" "$status" $((secs / 60)) $((secs % 60)) ;;
    *) printf '%-28s %-10s %dm%02ds\n' "$name" "$status" $((secs / 60)) $((secs % 60))
       total=$((total + secs)) ;;
  esac
done <"$log"
printf '%-28s %-10s %dm%02ds\n' total "" $((total / 60)) $((total % 60))
