#!/usr/bin/env bash
# scripts/check_function_length.sh on function_length_cases.cc with --max 5: it fails and
# lists exactly the two functions marked LONG there, with their first lines.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cases=$here/function_length_cases.cc
out=$("$here/../../scripts/check_function_length.sh" --max 5 "$cases")
rc=$?
expected="$cases:14: long_one (7 lines)
$cases:28: long_method (7 lines)
2 function(s) longer than 5 lines"
if [[ $rc -ne 1 || "$out" != "$expected" ]]; then
  echo "check_function_length.sh: exit code $rc, output:"
  echo "$out"
  echo "expected exit code 1 and:"
  echo "$expected"
  exit 1
fi
echo "ok"
