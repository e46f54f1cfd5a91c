#!/usr/bin/env bash
# stage.sh NAME CMD...: run one stage of a make target, print its duration, and append it to
# $STAGE_LOG (default .build/stages.tsv) so `make test` and .ci/run can print a summary.
set -uo pipefail
name="$1"; shift
log="${STAGE_LOG:-$(cd "$(dirname "$0")/.." && pwd)/.build/stages.tsv}"
mkdir -p "$(dirname "$log")"
start=$(date +%s)
printf '\n==> [%s] stage %s\n' "$(date +%H:%M:%S)" "$name"
"$@"
rc=$?
secs=$(( $(date +%s) - start ))
status=$([ "$rc" -eq 0 ] && echo ok || echo "FAILED($rc)")
printf '<== [%s] stage %s: %s in %dm%02ds\n' "$(date +%H:%M:%S)" "$name" "$status" $((secs / 60)) $((secs % 60))
printf '%s\t%s\t%s\n' "$name" "$status" "$secs" >>"$log"
exit "$rc"
