#!/usr/bin/env bash
# Register report of every CUDA kernel, from ptxas itself (nothing runs on a GPU): each
# .cu source of the CUDA backend (kernels/cuda and engine/backends/cuda, as
# cmake/CudaBackend.cmake globs them) is compiled for one architecture with
# `nvcc -Xptxas -v`, and a table lists per kernel: registers per thread, spill stores and
# loads, static shared memory and stack frame. Spills are listed, never an error.
#
# With --launches FILE (lines "<kernel base name> <max threads per block>", the base
# name being the kernel's identifier without namespace or template arguments, e.g.
# softmax_fwd_kernel; written by the simulated device during the test run), it also
# fails when a launched kernel could not get its registers on the device:
#   round_up(registers, 8) x round_up(threads, 32) > 65536   (sm_90's register file per
#   block; registers are allocated per warp in units of 256, i.e. 8 per thread)
# with the most registers over all instantiations of that base name, and when a logged
# kernel is missing from the report.
#
# usage: scripts/ptxas_report.sh [--launches FILE] [--jobs N] [--arch sm_XX] [--host]
#   --host                  compile host code too (nvcc -c), so that the run is also the
#                           check that nvcc builds every CUDA source (about twice as long)
#   NVCC=/path/to/nvcc      compiler (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc)
#   ENGINE_CUDNN_ROOT/CUDNN_ROOT  where include/cudnn.h is, when not beside the CUDA headers
# exit: 0 fine, 1 a launch check failed, 2 a usage error, a missing tool or a source
# that did not compile.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=2
ARCH=sm_90
LAUNCHES=""
MODE=-cubin
REGS_PER_BLOCK=65536  # register file per block, sm_80 to sm_90

die() {
  echo "ptxas_report: $*" >&2
  exit 2
}
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
  case $1 in
    --launches) (($# >= 2)) || die "--launches needs a file"; LAUNCHES=$2; shift 2 ;;
    --jobs) (($# >= 2)) || die "--jobs needs a number"; JOBS=$2; shift 2 ;;
    --arch) (($# >= 2)) || die "--arch needs sm_XX"; ARCH=$2; shift 2 ;;
    --host) MODE=-c; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "--jobs '$JOBS' is not a positive number"
[[ $ARCH =~ ^sm_[0-9]+a?$ ]] || die "--arch '$ARCH' is not of the form sm_90"
if [[ -n $LAUNCHES ]]; then
  [[ -f $LAUNCHES && -r $LAUNCHES ]] || die "launch log '$LAUNCHES' is not a readable file"
fi

NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[[ -x $NVCC ]] || die "nvcc not found (tried '$NVCC'): install the CUDA toolkit or set NVCC"
command -v c++filt >/dev/null || die "c++filt not found (Debian package binutils)"
CUDA_INC=$(cd "$(dirname "$NVCC")/.." && pwd)/include
CUDNN_INC=""
for d in ${ENGINE_CUDNN_ROOT:+"$ENGINE_CUDNN_ROOT/include"} ${CUDNN_ROOT:+"$CUDNN_ROOT/include"} "$CUDA_INC" \
  /usr/include /usr/include/x86_64-linux-gnu; do
  if [[ -f $d/cudnn.h ]]; then
    CUDNN_INC=$d
    break
  fi
done
[[ -n $CUDNN_INC ]] || die "cudnn.h not found beside the CUDA headers ($CUDA_INC): set ENGINE_CUDNN_ROOT"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ptxas_report.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# The launch log, checked before the long compile: "<base name> <threads>" per line
# (blank lines and # comments allowed), reduced to the most threads per name.
if [[ -n $LAUNCHES ]]; then
  awk -v logfile="$LAUNCHES" '
    {
      line = $0
      sub(/#.*/, "", line)
      nf = split(line, f, " ")
      if (nf == 0) next
      if (nf != 2 || f[1] !~ /^[A-Za-z_][A-Za-z0-9_]*$/ || f[2] !~ /^[0-9]+$/ || f[2] + 0 == 0) {
        printf "ptxas_report: %s:%d: expected \"<kernel base name> <max threads per block>\", got \"%s\"\n", logfile, FNR, $0 > "/dev/stderr"
        bad = 1
        next
      }
      if (!(f[1] in threads)) order[++n] = f[1]
      if (f[2] + 0 > threads[f[1]]) threads[f[1]] = f[2] + 0
    }
    END {
      if (bad) exit 1
      for (i = 1; i <= n; i++) print order[i], threads[order[i]]
    }
  ' "$LAUNCHES" >"$TMP/launches.txt" || die "launch log '$LAUNCHES' is malformed (above)"
fi

shopt -s nullglob
sources=("$ROOT"/kernels/cuda/*.cu "$ROOT"/engine/backends/cuda/*.cu)
shopt -u nullglob
((${#sources[@]})) || die "no .cu sources under $ROOT"

# The flags of the Release build (cmake/CudaBackend.cmake), for one real architecture.
# -cubin compiles the device code alone (the host compiler pass is skipped): the same
# ptxas figures as `-c` (--host), in less than half the time.
NVCC_FLAGS=(-std=c++17 --expt-relaxed-constexpr -O3 -DNDEBUG -DENGINE_HAS_CUDA=1 "-arch=$ARCH" -Xptxas -v
            -I"$ROOT" -I"$CUDNN_INC")

compile_one() {
  local src=$1 rel=${1#"$ROOT"/}
  local log="$TMP/${rel//\//__}.log"
  if ! "$NVCC" "${NVCC_FLAGS[@]}" "$MODE" -o /dev/null "$src" >"$log" 2>&1; then
    echo "$rel" >"$log.failed"
  fi
}

start=$SECONDS
echo "ptxas_report: compiling ${#sources[@]} sources for $ARCH with $(basename "$NVCC") ($JOBS at a time)..." >&2
for src in "${sources[@]}"; do
  while (($(jobs -rp | wc -l) >= JOBS)); do
    wait -n || true
  done
  compile_one "$src" &
done
wait
elapsed=$((SECONDS - start))

failed=0
for f in "$TMP"/*.failed; do
  [[ -e $f ]] || continue
  failed=$((failed + 1))
  rel=$(cat "$f")
  echo "ptxas_report: nvcc failed on $rel:" >&2
  grep -v '^ptxas info' "${f%.failed}" | tail -n 25 | sed 's/^/    /' >&2
done

# One record per entry function and source: file, mangled name, registers, spill
# stores, spill loads, static shared memory, stack frame.
for src in "${sources[@]}"; do
  rel=${src#"$ROOT"/}
  log="$TMP/${rel//\//__}.log"
  [[ -e $log.failed ]] && continue
  awk -v file="$rel" -v q="'" '
    /ptxas info *: Compiling entry function/ {
      rest = substr($0, index($0, "function " q) + 10)
      cur = substr(rest, 1, index(rest, q) - 1)
      order[++n] = cur; regs[cur] = 0; st[cur] = 0; ld[cur] = 0; smem[cur] = 0; stack[cur] = 0
      next
    }
    /ptxas info *: Function properties for/ { props = $NF; next }
    /bytes stack frame/ {
      if (props in regs) {
        for (i = 1; i <= NF; i++) {
          if ($(i + 1) == "bytes" && $(i + 2) == "stack") stack[props] = $i + 0
          if ($(i + 1) == "bytes" && $(i + 2) == "spill" && $(i + 3) ~ /^stores/) st[props] = $i + 0
          if ($(i + 1) == "bytes" && $(i + 2) == "spill" && $(i + 3) ~ /^loads/) ld[props] = $i + 0
        }
      }
      next
    }
    /ptxas info *: Used [0-9]+ registers/ {
      if (cur != "") {
        for (i = 1; i <= NF; i++) {
          if ($i == "Used") regs[cur] = $(i + 1) + 0
          if ($(i + 1) == "bytes" && $(i + 2) ~ /^smem/) smem[cur] = $i + 0
        }
      }
      next
    }
    END { for (i = 1; i <= n; i++) { k = order[i]; print file "\t" k "\t" regs[k] "\t" st[k] "\t" ld[k] "\t" smem[k] "\t" stack[k] } }
  ' "$log"
done >"$TMP/records.tsv"

# Demangled names and base names (identifier without namespace or template arguments).
cut -f2 "$TMP/records.tsv" | c++filt >"$TMP/demangled.txt"
awk '
  function base(s,   i, c, d, n, parts) {
    gsub(/\(anonymous namespace\)/, "{anon}", s)
    sub(/^void /, "", s)
    d = 0
    for (i = 1; i <= length(s); i++) {
      c = substr(s, i, 1)
      if (c == "<") d++
      else if (c == ">") d--
      else if (c == "(" && d == 0) break
    }
    s = substr(s, 1, i - 1)
    if (substr(s, length(s)) == ">") {
      d = 0
      for (i = length(s); i >= 1; i--) {
        c = substr(s, i, 1)
        if (c == ">") d++
        else if (c == "<" && --d == 0) break
      }
      s = substr(s, 1, i - 1)
    }
    n = split(s, parts, "::")
    return parts[n]
  }
  { print base($0) }
' "$TMP/demangled.txt" >"$TMP/base.txt"
paste "$TMP/records.tsv" "$TMP/demangled.txt" "$TMP/base.txt" >"$TMP/kernels.tsv"
# columns: 1 file, 2 mangled, 3 regs, 4 spill st, 5 spill ld, 6 smem, 7 stack, 8 demangled, 9 base

kernels=$(wc -l <"$TMP/kernels.tsv")
echo "== ptxas report ($ARCH): $kernels kernels in $((${#sources[@]} - failed)) sources, ${elapsed} s"
printf '%5s %8s %8s %7s %6s  %-32s %s\n' regs "spill st" "spill ld" smem stack source kernel
sort -t$'\t' -k1,1 -k8,8 "$TMP/kernels.tsv" |
  awk -F'\t' '{ printf "%5d %8d %8d %7d %6d  %-32s %s\n", $3, $4, $5, $6, $7, $1, $8 }'
spills=$(awk -F'\t' '$4 > 0 || $5 > 0' "$TMP/kernels.tsv" | wc -l)
if ((spills > 0)); then
  echo "== $spills kernels spill registers (listed, not an error):"
  awk -F'\t' '$4 > 0 || $5 > 0 { printf "  %s: %d registers, %d bytes spill stores, %d bytes spill loads (%s)\n", $8, $3, $4, $5, $1 }' \
    "$TMP/kernels.tsv"
else
  echo "== no kernel spills registers"
fi

if ((failed > 0)); then
  die "$failed sources did not compile (above): the report is incomplete"
fi
[[ -n $LAUNCHES ]] || exit 0

# The launch check.
awk -v regfile="$REGS_PER_BLOCK" -v arch="$ARCH" -v logfile="$LAUNCHES" -v kfile="$TMP/kernels.tsv" '
  function round_up(x, m) { return int((x + m - 1) / m) * m }
  BEGIN {
    while ((getline rec < kfile) > 0) {
      split(rec, c, "\t")
      if (!(c[9] in known)) { where[c[9]] = c[1]; inst[c[9]] = 0; maxregs[c[9]] = 0 }
      known[c[9]] = 1
      inst[c[9]]++
      if (c[3] + 0 > maxregs[c[9]]) maxregs[c[9]] = c[3] + 0
    }
  }
  { order[++n] = $1; threads[$1] = $2 + 0 }
  END {
    printf "== launch check against %s (%d-register file per block on %s): %d launched kernels\n", logfile, regfile, arch, n
    printf "%-40s %8s %5s %10s %10s\n", "kernel", "threads", "regs", "regs/block", "headroom"
    for (i = 1; i <= n; i++) {
      k = order[i]
      if (!(k in known)) {
        printf "%-40s %8d %5s %10s %10s  MISSING\n", k, threads[k], "?", "?", "?"
        msg[++m] = sprintf("kernel %s: launched with up to %d threads per block but not in the ptxas report (renamed, not compiled, or defined outside kernels/cuda and engine/backends/cuda?)", k, threads[k])
        continue
      }
      need = round_up(maxregs[k], 8) * round_up(threads[k], 32)
      flag = (need > regfile) ? "  FAILS" : ""
      printf "%-40s %8d %5d %10d %10d%s\n", k, threads[k], maxregs[k], need, regfile - need, flag
      if (need > regfile)
        msg[++m] = sprintf("kernel %s (%s, %d instantiations): %d registers per thread (%d as allocated) x %d threads (%d as whole warps) = %d registers > the %d-register file of %s: the launch fails with cudaErrorLaunchOutOfResources; bound it with __launch_bounds__(%d) or launch fewer threads", k, where[k], inst[k], maxregs[k], round_up(maxregs[k], 8), threads[k], round_up(threads[k], 32), need, regfile, arch, threads[k])
    }
    for (i = 1; i <= m; i++) print "ptxas_report: FAIL: " msg[i] > "/dev/stderr"
    if (m > 0) exit 1
    print "== every launched kernel fits its register file"
  }
' "$TMP/launches.txt"
