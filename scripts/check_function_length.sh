#!/usr/bin/env bash
# Fails when a C++ function in the given files is longer than the limit (80 lines by
# default), counted from its signature's first line to its closing brace, and lists
# each one as file:line: name (N lines).
#
# usage: scripts/check_function_length.sh [--max N] FILE...
#
# A brace-depth heuristic, not a parser: comments, string, character and raw string
# literals are blanked first; a `{` at namespace or class level opens a function when
# the text before it (since the last `;`, `{` or `}`) has a parameter list and no `=`
# ahead of it (an initialiser); namespace, class, struct, union and enum bodies are
# looked into, other blocks are not. Lambdas and local classes count toward the
# function that holds them.
set -euo pipefail

max=80
if [[ ${1:-} == --max ]]; then
  max=$2
  shift 2
fi
if [[ $# -eq 0 ]]; then
  echo "usage: $0 [--max N] FILE..." >&2
  exit 2
fi
for f in "$@"; do
  [[ -f $f ]] || { echo "check_function_length: no such file: $f" >&2; exit 2; }
done

awk -v max="$max" '
function reset_stmt() { stmt = ""; stmt_line = 0 }
function func_name(s,    head) {
  head = s
  sub(/\(.*/, "", head)
  sub(/[ \t]+$/, "", head)
  if (match(head, /[A-Za-z_~][A-Za-z0-9_:~<>,]*$/)) return substr(head, RSTART)
  return "?"
}
# Blanks comments and literals in `line`, carrying open block comments and raw
# strings over to the next line.
function clean(line,    out, i, c, n, close_at) {
  out = ""
  i = 1
  n = length(line)
  while (i <= n) {
    if (in_comment) {
      close_at = index(substr(line, i), "*/")
      if (!close_at) return out
      i += close_at + 1
      in_comment = 0
    } else if (in_raw) {
      close_at = index(substr(line, i), raw_end)
      if (!close_at) return out
      i += close_at + length(raw_end) - 1
      in_raw = 0
      out = out "\"\""
    } else {
      c = substr(line, i, 1)
      if (c == "/" && substr(line, i + 1, 1) == "/") return out
      if (c == "/" && substr(line, i + 1, 1) == "*") {
        in_comment = 1
        i += 1
      } else if (c == "R" && substr(line, i + 1, 1) == "\"" && substr(line, i - 1, 1) !~ /[A-Za-z0-9_]/) {
        rest = substr(line, i + 2)
        raw_end = ")" substr(rest, 1, index(rest, "(") - 1) "\""
        i += index(rest, "(") + 1
        in_raw = 1
      } else if (c == "\"" || c == "\x27") {
        quote = c
        i += 1
        while (i <= n && substr(line, i, 1) != quote) i += (substr(line, i, 1) == "\\") ? 2 : 1
        out = out quote quote
      } else {
        out = out c
      }
    }
    i += 1
  }
  return out
}
FNR == 1 { depth = 0; block_depth = 0; in_comment = 0; in_raw = 0; reset_stmt() }
{
  line = clean($0)
  if (!in_comment && !in_raw && line ~ /^[ \t]*#/) next
  n = length(line)
  for (i = 1; i <= n; ++i) {
    c = substr(line, i, 1)
    if (block_depth) {
      if (c == "{") ++depth
      else if (c == "}" && --depth < block_depth) {
        if (block_is_func && FNR - block_line + 1 > max) {
          printf "%s:%d: %s (%d lines)\n", FILENAME, block_line, func_name(block_stmt), FNR - block_line + 1
          ++failed
        }
        block_depth = 0
        reset_stmt()
      }
      continue
    }
    if (c == "{") {
      ++depth
      paren = index(stmt, "(")
      if (stmt ~ /(^|[^A-Za-z0-9_])(namespace|extern)([^A-Za-z0-9_]|$)/) {
        # a scope: looked into
      } else if (paren && stmt ~ /\)/ && (index(substr(stmt, 1, paren), "=") == 0 || stmt ~ /operator/)) {
        block_depth = depth
        block_is_func = 1
        block_line = stmt_line ? stmt_line : FNR
        block_stmt = stmt
      } else if (stmt ~ /(^|[^A-Za-z0-9_])(class|struct|union|enum)([^A-Za-z0-9_]|$)/ && stmt !~ /=/) {
        # a class body: its member functions are checked one by one
      } else {
        block_depth = depth  # an initialiser or other block: skipped whole
        block_is_func = 0
      }
      reset_stmt()
    } else if (c == "}") {
      --depth
      reset_stmt()
    } else if (c == ";") {
      reset_stmt()
    } else {
      if (c !~ /[ \t]/ && stmt_line == 0) stmt_line = FNR
      stmt = stmt c
      if (stmt ~ /^[ \t]*(public|private|protected)[ \t]*:$/) reset_stmt()
    }
  }
  if (stmt != "") stmt = stmt " "
}
END {
  if (failed) {
    printf "%d function(s) longer than %d lines\n", failed, max
    exit 1
  }
}
' "$@"
