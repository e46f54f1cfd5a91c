#!/usr/bin/env bash
# Build the reference Flash Connect app image (tests/app/) from the platform image, without a
# registry: the good releases and a deliberately broken one for rollback tests.
#
#   flash-connect/reference-app:<version>          for each of APP_VERSIONS (default 1.0.0 1.1.0)
#   flash-connect/reference-app:<version>-broken   for each of APP_BROKEN_VERSIONS (default 1.2.0):
#                                                  starts, but /health answers 500
#
# Cached by tag: every variant is first built as <version>-<hash of tests/app/ and the base
# image id>, so a second run with the same inputs only inspects and re-tags (seconds).
# Needs the platform image (scripts/build-image.sh).
set -euo pipefail
# shellcheck disable=SC2034  # read by log() in lib.sh
SCRIPT_NAME=build-app-image
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONTEXT="$ROOT/tests/app"
APP_IMAGE="${APP_IMAGE:-flash-connect/reference-app}"
PLATFORM_IMAGE="${PLATFORM_IMAGE:-flash-connect/platform:bookworm}"
APP_VERSIONS="${APP_VERSIONS:-1.0.0 1.1.0}"
APP_BROKEN_VERSIONS="${APP_BROKEN_VERSIONS:-1.2.0}"

require_engine
base_id="$(docker image inspect -f '{{.Id}}' "$PLATFORM_IMAGE" 2>/dev/null)" \
  || die "platform image $PLATFORM_IMAGE is missing: run scripts/build-image.sh first (make image)" 5

inputs_hash="$( { tree_sums "$CONTEXT"; echo "$base_id"; } | sha256sum | cut -c1-12)"

# build VERSION TAG BROKEN: build (or reuse) one variant and tag it.
build() {
  local version="$1" tag="$2" broken="$3"
  local hashed="$APP_IMAGE:$tag-$inputs_hash"
  if docker image inspect "$hashed" >/dev/null 2>&1; then
    docker tag "$hashed" "$APP_IMAGE:$tag"
    log "cached: $APP_IMAGE:$tag = $hashed"
    return 0
  fi
  log "building $hashed (version $version, broken=$broken) from $PLATFORM_IMAGE"
  local out
  # The legacy builder's deprecation notice goes to stderr; show the output only on failure.
  out="$(docker build -q \
    --build-arg "BASE=$PLATFORM_IMAGE" \
    --build-arg "APP_VERSION=$version" \
    --build-arg "BROKEN=$broken" \
    --label "io.flash.app.inputs=$inputs_hash" \
    -t "$hashed" "$CONTEXT" 2>&1)" \
    || { printf '%s\n' "$out" | tail -n 30 >&2
         die "docker build of $APP_IMAGE:$tag failed (is the Debian mirror reachable from the build container?)"; }
  docker tag "$hashed" "$APP_IMAGE:$tag"
  log "built: $APP_IMAGE:$tag = $hashed"
}

for v in $APP_VERSIONS; do
  build "$v" "$v" 0
done
for v in $APP_BROKEN_VERSIONS; do
  build "$v-broken" "$v-broken" 1
done
