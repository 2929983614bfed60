#!/usr/bin/env bash
# Regenerates clients/c/generated from Proto/ with Debian's protoc-c.
# protoc-c 1.4 does not support proto3 `optional`; the copies it reads have the
# keyword removed (same wire format; C callers see such fields without presence:
# an unset field and its default value look the same).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root/Proto" && find . -name '*.proto' | while read -r f; do
  mkdir -p "$work/$(dirname "$f")"
  sed -E 's/^([[:space:]]*)optional[[:space:]]+/\1/' "$f" > "$work/$f"
done)
out="$root/clients/c/generated"
rm -rf "$out"
mkdir -p "$out"
# google.rpc.Status refers to google.protobuf.Any: generate it from protoc's own copy too.
mkdir -p "$work/google/protobuf"
cp /usr/include/google/protobuf/any.proto "$work/google/protobuf/any.proto"
protoc-c -I "$work" --c_out="$out" \
  "$work/graphd/v1/graph.proto" "$work/graphd/v1/recommend.proto" "$work/graphd/v1/router.proto" \
  "$work/graphd/v1/conversation.proto" "$work/ttrpc/ttrpc.proto" \
  "$work/google/rpc/status.proto" "$work/google/protobuf/any.proto"
echo "generated: $(cd "$out" && find . -name '*.pb-c.[ch]' | sort | tr '\n' ' ')"
