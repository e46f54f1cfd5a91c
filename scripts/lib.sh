# Shared helpers for the flash.connect scripts. Sourced, never run.
# shellcheck shell=bash

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${SCRIPT_NAME:-flash}" "$*" >&2; }
die() { log "ERROR: $1"; exit "${2:-1}"; }

require_root() {
  [ "$(id -u)" -eq 0 ] || die "this step needs root (it installs packages and runs the Docker engine); re-run as root, e.g. 'sudo make $*'" 3
}

is_debian_like() {
  [ -r /etc/os-release ] || return 1
  # shellcheck disable=SC1091
  . /etc/os-release
  case " ${ID:-} ${ID_LIKE:-} " in
    *" debian "*|*" ubuntu "*) return 0 ;;
  esac
  return 1
}

apt_install() {
  # apt_install PKG...: install the packages that are missing, nothing else.
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
  fi
  # Waits for the dpkg lock (make test runs stages side by side).
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

require_engine() {
  docker info >/dev/null 2>&1 || die "no Docker engine answers: run scripts/docker-engine.sh first (make engine)" 5
}

tree_sums() {
  # tree_sums DIR: one sha256 line per file under DIR, in a stable order (bytecode left out);
  # the image scripts hash it into their cache tags.
  (cd "$1" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}
