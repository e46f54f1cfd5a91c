#!/usr/bin/env bash
# Print the stage durations recorded by stage.sh.
set -euo pipefail
log="${STAGE_LOG:-$(cd "$(dirname "$0")/.." && pwd)/.build/stages.tsv}"
[ -f "$log" ] || exit 0
total=0
printf '\n%-28s %-10s %s\n' stage status duration
while IFS=$'\t' read -r name status secs; do
  printf '%-28s %-10s %dm%02ds\n' "$name" "$status" $((secs / 60)) $((secs % 60))
  total=$((total + secs))
done <"$log"
printf '%-28s %-10s %dm%02ds\n' total "" $((total / 60)) $((total % 60))
