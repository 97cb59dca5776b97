#!/usr/bin/env bash
# Fails when an #include goes up the layer map (docs/ARCHITECTURE.md, "Layers"). The
# build already refuses an include of a higher layer (each layer's include root shows
# only the layers below it, cmake/Layers.cmake); this check also holds the rooms inside
# a layer to their order (engine/core below engine/backends and engine/ops, ...).
#
#   scripts/check_layers.sh [SOURCE_DIR]   check the tree (default: this checkout)
#   scripts/check_layers.sh --self-test    show that a planted upward include fails
set -euo pipefail

# room prefix | include prefixes it may use. The longest matching room applies; an
# include of one of our top folders that no rule allows is an error, as is a source
# file under a checked top folder that no room covers.
RULES='
base/|base/
kernels/|base/
kernels/cpu/|base/ kernels/cpu/ kernels/augment_common.h
kernels/cuda/|base/ kernels/cuda/ kernels/augment_common.h
cudasim/|cudasim/ cub/
engine/core/|base/ engine/core/
engine/backends/|base/ kernels/ engine/core/ engine/backends/
engine/ops/|base/ engine/core/ engine/ops/
engine/autograd/|base/ engine/core/ engine/ops/ engine/autograd/
engine/dist/|base/ engine/core/ engine/ops/ engine/autograd/ engine/dist/
engine/nn/|base/ engine/core/ engine/ops/ engine/autograd/ engine/dist/ engine/nn/
engine/optim/|base/ engine/core/ engine/ops/ engine/autograd/ engine/dist/ engine/nn/ engine/optim/
engine/io/|base/ engine/core/ engine/io/
models/|base/ engine/ models/
data/|base/ kernels/augment_common.h engine/ data/
text/|base/ engine/ text/
metrics/|base/ engine/ metrics/
opcases/|base/ kernels/ engine/ data/ opcases/
apps/|base/ kernels/ engine/ models/ data/ text/ metrics/ opcases/ apps/
'
CHECKED_TOPS="base kernels cudasim engine models data text metrics opcases apps"
OUR_TOPS="base kernels cudasim engine models data text metrics opcases apps tests cub"

check_tree() {
  local root=$1
  (cd "$root" && for top in $CHECKED_TOPS; do
     if [[ -d $top ]]; then find "$top" -type f \( -name '*.h' -o -name '*.cuh' -o -name '*.cpp' -o -name '*.cu' -o -name '*.def' \) \
       -not -path '*/tests/*'; fi
   done) | sort | awk -v rules="$RULES" -v tops="$OUR_TOPS" -v root="$root" '
    BEGIN {
      n = split(rules, lines, "\n")
      for (i = 1; i <= n; ++i) {
        if (lines[i] == "") continue
        split(lines[i], kv, "|")
        allow[kv[1]] = kv[2]
      }
      split(tops, t, " ")
      for (i in t) ours[t[i]] = 1
      bad = 0
    }
    function room_of(path,   best, r) {
      best = ""
      for (r in allow)
        if (index(path, r) == 1 && length(r) > length(best)) best = r
      return best
    }
    {
      file = $0
      room = room_of(file)
      if (room == "") { print file ": no layer rule covers this folder (scripts/check_layers.sh)"; bad = 1; next }
      nallowed = split(allow[room], prefixes, " ")
      line_no = 0
      while ((getline line < (root "/" file)) > 0) {
        ++line_no
        if (line !~ /^[ \t]*#[ \t]*include[ \t]*"/) continue
        inc = line
        sub(/^[^"]*"/, "", inc)
        sub(/".*$/, "", inc)
        top = inc
        sub(/\/.*$/, "", top)
        if (!(top in ours) || index(inc, "/") == 0) continue
        ok = 0
        for (i = 1; i <= nallowed; ++i)
          if (index(inc, prefixes[i]) == 1) ok = 1
        if (!ok) {
          printf "%s:%d: includes \"%s\", above its layer (room %s may include: %s)\n", file, line_no, inc, room, allow[room]
          bad = 1
        }
      }
      close(root "/" file)
    }
    END { exit bad }'
}

if [[ ${1:-} == --self-test ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/base" "$tmp/engine/core" "$tmp/engine/ops"
  echo '#include "base/check.h"' > "$tmp/engine/core/ok.h"
  echo '#include "engine/core/ok.h"' > "$tmp/engine/ops/ok.h"
  check_tree "$tmp" || { echo "self-test: a tree without upward includes was refused"; exit 1; }
  printf '#include <vector>\n#include "engine/ops/ok.h"\n' > "$tmp/engine/core/up.h"
  if out=$(check_tree "$tmp"); then
    echo "self-test: the planted include of engine/ops from engine/core was not found"
    exit 1
  fi
  grep -q 'engine/core/up.h:2: includes "engine/ops/ok.h"' <<<"$out" || { echo "self-test: wrong report: $out"; exit 1; }
  echo "self-test: the planted upward include was reported: $out"
  exit 0
fi

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
if check_tree "$root"; then
  echo "layers: no include goes up the layer map"
else
  exit 1
fi
