#!/usr/bin/env bash
# molecule-and-lab.sh SCENARIO...: the lab check and the Molecule scenarios side by side (make test).
# They cannot meet: the lab lives on 10.212.1.0/24 with containers labelled io.flash.lab=flash-lab,
# each scenario on its own 10.213.x network with its own names. Molecule runs MOLECULE_JOBS
# scenarios at a time beside the lab (default 1: two heavy jobs on two cores, as two scenarios
# side by side were). The scenarios read the reference app's images under their own name
# (APP_IMAGE, tagged here from the same image ids): the lab's same-tag step moves
# reference-app:1.0.0 to a rebuilt image for a while, which must not change an image under a
# scenario between its converge and its idempotence run. The lab's log is printed when it ends;
# exit non-zero if either failed.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT" || exit 2
LAB_IMAGE="${APP_IMAGE:-flash-connect/reference-app}"
MOLECULE_IMAGE="${LAB_IMAGE}-molecule"
mkdir -p "$ROOT/.build"
lab_log="$ROOT/.build/lab-check.log"

# Every tag of the app's images, under the scenarios' name (the same image ids).
docker image ls --format '{{.Repository}}:{{.Tag}}' "$LAB_IMAGE" | while read -r ref; do
  docker tag "$ref" "$MOLECULE_IMAGE:${ref##*:}" || exit 2
done || { echo "molecule-and-lab: could not tag $LAB_IMAGE as $MOLECULE_IMAGE" >&2; exit 2; }

echo "$(date +%H:%M:%S) lab:check started (log: .build/lab-check.log, printed when it ends)"
"$ROOT/scripts/stage.sh" lab:check "$ROOT/scripts/lab-check.sh" >"$lab_log" 2>&1 &
lab_pid=$!

APP_IMAGE="$MOLECULE_IMAGE" MOLECULE_JOBS="${MOLECULE_JOBS:-1}" \
  "$ROOT/scripts/stage.sh" molecule:pool "$ROOT/scripts/molecule-pool.sh" "$@"
molecule_rc=$?

wait "$lab_pid"
lab_rc=$?
echo "---------- lab:check (exit $lab_rc), its log follows ----------"
sed 's/\x1b\[[0-9;]*m//g' "$lab_log"
echo "---------- end of lab:check ----------"
echo "molecule-and-lab: molecule exit $molecule_rc, lab exit $lab_rc"
[ "$molecule_rc" -eq 0 ] && [ "$lab_rc" -eq 0 ]
