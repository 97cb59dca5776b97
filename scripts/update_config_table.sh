#!/usr/bin/env bash
# Regenerates the configuration table of README.md, the lines between
# `<!-- config-table:begin -->` and `<!-- config-table:end -->`, from the schema
# (apps/common/config_schema.cpp) through `train_app --print-defaults --markdown`.
#
# usage: scripts/update_config_table.sh [BUILD_DIR [README]]   (default: build README.md)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
readme=${2:-$root/README.md}
app=$build/train_app
if [[ ! -x $app ]]; then
  echo "update_config_table: $app not found; build it first: cmake --build $build --target train_app" >&2
  exit 2
fi

table=$(mktemp)
trap 'rm -f "$table" "$table.readme"' EXIT
"$app" --print-defaults --markdown >"$table"
awk -v table="$table" '
  $0 == "<!-- config-table:begin -->" {
    print
    while ((getline line < table) > 0) print line
    skipping = 1
    begins++
    next
  }
  $0 == "<!-- config-table:end -->" { skipping = 0; ends++ }
  !skipping { print }
  END {
    if (begins != 1 || ends != 1) {
      printf "update_config_table: expected one begin and one end marker, found %d and %d\n", begins, ends > "/dev/stderr"
      exit 1
    }
  }' "$readme" >"$table.readme"
cat "$table.readme" >"$readme"
