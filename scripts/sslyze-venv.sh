#!/usr/bin/env bash
# The TLS scanner the proxy scenario's verify runs (sslyze, pinned in requirements/sslyze.txt),
# in its own virtualenv cached under ~/.cache/flash-connect/sslyze/<hash of the requirements>:
# built once per version of requirements/sslyze.txt, reused as is by every later run (no pip,
# no PyPI). Prints "cached DIR" or "built DIR"; DIR/bin/sslyze is the scanner.
#   scripts/sslyze-venv.sh [PYTHON]    PYTHON makes the virtualenv (default: python3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
requirements=$root/requirements/sslyze.txt
python=${1:-python3}
base=${XDG_CACHE_HOME:-$HOME/.cache}/flash-connect/sslyze
key=$(sha256sum "$requirements" | cut -c1-16)
venv=$base/$key
mkdir -p "$base"
# One builder at a time (two scenario runs may start together); the others wait, then reuse it.
exec 9>"$base/.lock"
flock 9
if [ -f "$venv/.complete" ] && [ -x "$venv/bin/sslyze" ]; then
  echo "cached $venv"
  exit 0
fi
# A virtualenv cannot be moved (its scripts name their own path), so it is built in place and
# marked complete last; a build that stopped half-way is thrown away here.
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
"$venv/bin/sslyze" --help >/dev/null
touch "$venv/.complete"
# Versions built from an older requirements file, and the unkeyed virtualenv earlier releases
# made directly in $base, are no longer used.
find "$base" -mindepth 1 -maxdepth 1 ! -name "$key" ! -name .lock -exec rm -rf {} +
echo "built $venv"
