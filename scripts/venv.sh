#!/usr/bin/env bash
# Create .venv with the pinned toolchain. A second run with unchanged requirements is a
# no-op (the stamp file records the hash of the requirement files).
set -euo pipefail
SCRIPT_NAME=venv
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3.11 or newer (Debian 12: apt-get install python3)" 4
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "$("$PYTHON" -V 2>&1) is too old: the toolchain (ansible-core 2.19) needs Python 3.11 or newer; set PYTHON=" 4

want="$(cat "$ROOT/requirements/toolchain.txt" "$ROOT/requirements/constraints.txt" | sha256sum | cut -c1-16) $("$PYTHON" -V 2>&1)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.stamp" 2>/dev/null)" = "$want" ]; then
  log "up to date: $VENV"
  exit 0
fi

if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && is_debian_like; then
    apt_install python3-venv
  else
    die "$PYTHON cannot create virtual environments: install python3-venv (Debian/Ubuntu) as root" 4
  fi
fi
log "creating $VENV with $("$PYTHON" -V 2>&1)"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q -r "$ROOT/requirements/toolchain.txt" -c "$ROOT/requirements/constraints.txt"
echo "$want" >"$VENV/.stamp"
log "ready: $VENV ($("$VENV/bin/ansible" --version | head -n1))"
