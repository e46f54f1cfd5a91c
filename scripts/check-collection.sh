#!/usr/bin/env bash
# Build the collection tarball, install it into an empty collections path, and ask
# ansible-doc for every plugin and role in the installed copy. Fails on any error.
set -euo pipefail
SCRIPT_NAME=collection
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/.build/collection"
rm -rf "$OUT" && mkdir -p "$OUT/dist" "$OUT/install"

ansible-galaxy collection build "$ROOT" --output-path "$OUT/dist" --force >/dev/null
tarball="$(ls "$OUT"/dist/flash-connect-*.tar.gz)"
log "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"

# The tarball must hold content only (build_ignore): no tests, venv, lab state or scripts.
forbidden="$(tar -tzf "$tarball" | grep -E '^(\.venv|\.build|\.lab|\.collections|molecule|tests|scripts|images|\.ci)/' || true)"
[ -z "$forbidden" ] || die "the tarball carries non-content files: $(echo "$forbidden" | head -n 5 | tr '\n' ' ')"

# --no-deps: the dependencies come with the `ansible` package; Galaxy is not reachable.
ANSIBLE_COLLECTIONS_PATH="$OUT/install" ansible-galaxy collection install --force --no-deps -p "$OUT/install" "$tarball" >/dev/null
dest="$OUT/install/ansible_collections/flash/connect"
[ -f "$dest/MANIFEST.json" ] || die "install did not produce $dest/MANIFEST.json"
log "installed into an empty path: $dest"

export ANSIBLE_COLLECTIONS_PATH="$OUT/install"
count=0
for type in module filter lookup test callback; do
  while read -r name _; do
    [ -n "$name" ] || continue
    ansible-doc -t "$type" "$name" >/dev/null || die "ansible-doc -t $type $name failed"
    count=$((count + 1))
  done < <(ansible-doc -t "$type" -l flash.connect 2>/dev/null | grep '^flash\.connect\.' || true)
done
# Every plugin shipped must be listed (a plugin ansible-doc cannot see is broken): modules
# are .py files, filters and tests are documented by one .yml file each.
shipped=0
for f in "$dest"/plugins/modules/[!_]*.py "$dest"/plugins/filter/*.yml "$dest"/plugins/test/*.yml "$dest"/plugins/lookup/[!_]*.py "$dest"/plugins/callback/[!_]*.py; do
  [ -e "$f" ] && shipped=$((shipped + 1))
done
roles=0
for role in "$dest"/roles/*/; do
  name="$(basename "$role")"
  ansible-doc -t role "flash.connect.$name" >/dev/null || die "ansible-doc -t role flash.connect.$name failed (meta/argument_specs.yml?)"
  roles=$((roles + 1))
done
log "ansible-doc answered for $count plugins ($shipped documented plugin files shipped) and $roles roles"
[ "$count" -ge "$shipped" ] || die "some shipped plugins are not visible to ansible-doc ($count < $shipped)"
