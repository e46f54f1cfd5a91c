#!/usr/bin/env bash
# Build the systemd-enabled Debian 12 platform image every Molecule scenario and the lab
# run on, without needing a registry.
#
#   base:     debian:bookworm pulled when a registry answers (PLATFORM_TRY_PULL=1, the
#             default), otherwise a minbase rootfs debootstrapped from DEBIAN_MIRROR and
#             imported with `docker import`;
#   platform: images/platform/Dockerfile on top of the base (systemd, python3, drop-ins).
#
# Cached by tag: the platform tag carries a hash of images/platform/, so a second run with
# the same inputs only inspects the image (seconds); changed inputs rebuild it.
set -euo pipefail
SCRIPT_NAME=build-image
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONTEXT="$ROOT/images/platform"
PLATFORM_IMAGE="${PLATFORM_IMAGE:-flash-connect/platform:bookworm}"
ROOTFS_IMAGE="${ROOTFS_IMAGE:-flash-connect/debian-rootfs:bookworm}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PLATFORM_TRY_PULL="${PLATFORM_TRY_PULL:-1}"
PULL_IMAGE="${PULL_IMAGE:-debian:bookworm}"
PULL_TIMEOUT="${PULL_TIMEOUT:-25}"
ROOTFS_PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,iproute2,procps,netbase,gnupg"

require_engine

inputs_hash="$(tree_sums "$CONTEXT" | sha256sum | cut -c1-12)"
hashed_tag="${PLATFORM_IMAGE%%:*}:${DEBIAN_SUITE}-${inputs_hash}"

if docker image inspect "$hashed_tag" >/dev/null 2>&1; then
  docker tag "$hashed_tag" "$PLATFORM_IMAGE"
  log "cached: $PLATFORM_IMAGE = $hashed_tag"
  exit 0
fi

base=""
if docker image inspect "$ROOTFS_IMAGE" >/dev/null 2>&1; then
  base="$ROOTFS_IMAGE"
  log "base: cached $base"
elif [ "$PLATFORM_TRY_PULL" = 1 ] && timeout "$PULL_TIMEOUT" docker pull -q "$PULL_IMAGE" >/dev/null 2>&1; then
  base="$PULL_IMAGE"
  log "base: pulled $base"
else
  log "base: no registry answered; debootstrapping $DEBIAN_SUITE from $DEBIAN_MIRROR"
  require_root "image"
  is_debian_like || die "building the base offline needs debootstrap on Debian/Ubuntu; or make a registry reachable and set PULL_IMAGE" 4
  apt_install debootstrap
  workdir="$(mktemp -d /var/tmp/flash-rootfs.XXXXXX)"
  trap 'rm -rf "$workdir"' EXIT
  debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" \
    "$DEBIAN_SUITE" "$workdir/rootfs" "$DEBIAN_MIRROR" >"$workdir/debootstrap.log" 2>&1 \
    || { tail -n 30 "$workdir/debootstrap.log" >&2; die "debootstrap failed (mirror $DEBIAN_MIRROR); set DEBIAN_MIRROR to a reachable mirror"; }
  # A rootfs made on the host carries the host's apt lists and caches: drop them.
  rm -rf "$workdir/rootfs/var/cache/apt/archives/"*.deb "$workdir/rootfs/var/lib/apt/lists/"*
  tar -C "$workdir/rootfs" --numeric-owner -c . | docker import - "$ROOTFS_IMAGE" >/dev/null
  base="$ROOTFS_IMAGE"
  log "base: imported $base"
fi

log "building $hashed_tag from $base"
docker build -q --build-arg "BASE=$base" -t "$hashed_tag" "$CONTEXT" >/dev/null
docker tag "$hashed_tag" "$PLATFORM_IMAGE"
log "built: $PLATFORM_IMAGE = $hashed_tag"
