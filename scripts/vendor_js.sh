#!/usr/bin/env bash
# Vendor the browser libraries listed in frontend/vendor/packages.txt from the npm registry into
# frontend/static/vendor/, and record each tarball's integrity (sha512, as npm publishes it) in
# frontend/vendor/VENDORED.txt. The copies are committed: setup and the demo need neither npm nor a network.
# Idempotent: a package whose recorded integrity and files are present is skipped; --check verifies the
# committed copies against fresh downloads and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK=0; [ "${1:-}" = "--check" ] && CHECK=1
LIST=frontend/vendor/packages.txt
RECORD=frontend/vendor/VENDORED.txt
DEST=frontend/static/vendor
command -v npm >/dev/null || { echo "error: npm is needed to vendor browser libraries (apt install npm)" >&2; exit 1; }
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
touch "$RECORD"
new_record="$WORK/record"
: > "$new_record"
status=0
while read -r spec files; do
  [ -z "$spec" ] && continue
  case "$spec" in \#*) continue;; esac
  name=${spec%@*}
  all_present=1
  for f in $files; do [ -f "$DEST/$name/$(basename "$f")" ] || all_present=0; done
  recorded=$(awk -v s="$spec" '$1 == s {print $2}' "$RECORD")
  if [ $CHECK -eq 0 ] && [ -n "$recorded" ] && [ $all_present -eq 1 ]; then
    echo "$spec $recorded" >> "$new_record"; continue
  fi
  meta=$(cd "$WORK" && npm pack --json --silent "$spec" 2>/dev/null)
  integrity=$(printf '%s' "$meta" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["integrity"])')
  tarball=$(printf '%s' "$meta" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["filename"])')
  mkdir -p "$WORK/$name"
  tar xzf "$WORK/$tarball" -C "$WORK/$name"
  for f in $files; do
    src="$WORK/$name/package/$f"
    [ -f "$src" ] || { echo "error: $spec has no file $f" >&2; exit 1; }
    if [ $CHECK -eq 1 ]; then
      cmp -s "$src" "$DEST/$name/$(basename "$f")" || { echo "differs: $DEST/$name/$(basename "$f") vs $spec" >&2; status=1; }
    else
      mkdir -p "$DEST/$name"; cp "$src" "$DEST/$name/$(basename "$f")"
    fi
  done
  if [ $CHECK -eq 1 ] && [ -n "$recorded" ] && [ "$recorded" != "$integrity" ]; then
    echo "integrity changed for $spec: recorded $recorded, registry $integrity" >&2; status=1
  fi
  echo "$spec $integrity" >> "$new_record"
  echo "vendored $spec -> $DEST/$name/"
done < "$LIST"
[ $CHECK -eq 1 ] && { [ $status -eq 0 ] && echo "vendored copies match the registry"; exit $status; }
{ echo "# written by scripts/vendor_js.sh: package@version and the npm tarball's integrity"; cat "$new_record"; } > "$RECORD"
