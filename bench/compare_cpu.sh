#!/usr/bin/env bash
# Ours and PyTorch's side by side, in one run on the CPU:
#   bench/compare_cpu.sh [--quick] [--threads N] [--build DIR] [--baseline DIR] [--sections LIST]
# 1. ResNet-18 CIFAR training step (synthetic 3x32x32 images, 10 classes, SGD momentum 0.9,
#    cross-entropy) at width 1 batch 32 and width 1/4 batch 128, each in f32 and bf16
#    autocast, NCHW and channels-last: the engine's bench_train beside
#    bench/pytorch/resnet18_train.py --device cpu (the same network).
# 2. One MoE layer forward + backward (T 2048, C 256, E 8, H 1024, k 2) in f32 and bf16:
#    the engine's bench_moe beside PyTorch looping over the experts (bench/pytorch/moe_layer.py).
# 3. The text encoder all-MiniLM-L6-v2 encoding 64 texts of 32 tokens (forward, mean pooling,
#    L2 norm), f32 and bf16: bench_encode beside a plain PyTorch BERT on the same weights
#    (bench/pytorch/bert_encode.py); the model folder is $ENGINE_TEXT_ENCODER_DIR or
#    build/text_encoder (scripts/fetch_text_encoder.sh), the section is skipped without it.
# Every row is the median of N timed steps after W warm-up steps; both sides use the same
# number of threads (all cores by default). Memory: "tensors peak" is the most the engine's
# host storages held during the timed steps; "max RSS" is the process's peak resident set
# size (getrusage ru_maxrss / GNU time %M), interpreter, libraries and code included, the
# only figure PyTorch's CPU allocator offers. Ratios are engine / PyTorch step time (above
# 1: the engine is slower). --quick runs few iterations on small batches, to check the script.
# --build DIR takes bench_train, bench_moe and bench_encode from DIR (default build/); --baseline DIR
# adds a row per case from DIR's bench_train, bench_moe and bench_encode (another build of
# the engine, e.g. the previous commit's), measured beside the others in the same run.
# --sections takes a comma list of resnet, moe, encode (default: all three).
# Needs bench_train, bench_moe and bench_encode; the PyTorch rows need a python3 with torch
# (PYTHON, default /usr/bin/python3 when it has torch, else python3). Prints markdown.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
quick=0
threads=$(nproc)
build=$root/build
baseline=
sections=resnet,moe,encode
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --threads) threads=$2; shift ;;
    --build) build=$2; shift ;;
    --baseline) baseline=$2; shift ;;
    --sections) sections=$2; shift ;;
    -h | --help) sed -n '2,25s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "compare_cpu.sh: unexpected argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
cfg="$root/configs/resnet18_cifar10.json"
for sec in ${sections//,/ }; do
  case $sec in resnet | moe | encode) ;; *) echo "compare_cpu.sh: --sections takes resnet, moe, encode; got '$sec'" >&2; exit 2 ;; esac
done
section() { [[ ",$sections," == *",$1,"* ]]; }
for b in "$build/bench_train" "$build/bench_moe" ${baseline:+"$baseline/bench_train"}; do
  [ -x "$b" ] || { echo "compare_cpu.sh: $b not found (build it, or name the build folder with --build/--baseline)" >&2; exit 2; }
done
export OMP_NUM_THREADS=$threads
# As scripts/common.sh: idle OpenMP threads would spin while OpenBLAS's threads run GEMMs.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  if /usr/bin/python3 -c "import torch" 2>/dev/null; then PYTHON=/usr/bin/python3; fi
fi
have_torch=0
if "$PYTHON" -c "import torch" 2>/dev/null; then have_torch=1; fi

# ResNet cases: width batch warmup iters.
if [ "$quick" = 1 ]; then
  resnet_cases=("1 4 1 2" "0.25 8 1 2")
  moe_shape=(--T 256 --C 64 --E 4 --H 128 --k 2)
  moe_steps=(1 2)
  encode_case=(8 16 1 2)
else
  resnet_cases=("1 32 2 6" "0.25 128 2 8")
  moe_shape=(--T 2048 --C 256 --E 8 --H 1024 --k 2)
  moe_steps=(2 6)
  encode_case=(64 32 2 10)
fi
text_encoder=${ENGINE_TEXT_ENCODER_DIR:-$root/build/text_encoder}

# Runs a command and sets rss_mib to its peak resident set size ("n/a" without GNU time).
rss_file=$(mktemp)
trap 'rm -f "$rss_file"' EXIT
measured() {
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f %M -o "$rss_file" "$@"
  else
    "$@"
  fi
}
rss_mib() {
  if [ -s "$rss_file" ]; then awk 'END {printf "%.0f", $1 / 1024}' "$rss_file"; else echo "n/a"; fi
}

flag() { grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -qx "$1" && echo yes || echo no; }
echo "## CPU"
echo
echo "- model: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "- cores: $(nproc) online; threads used by both sides: $threads"
echo "- flags: avx2 $(flag avx2), avx512f $(flag avx512f), avx512_bf16 $(flag avx512_bf16), amx_tile $(flag amx_tile), amx_bf16 $(flag amx_bf16)"
echo "- engine: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with local changes)'), $build ($(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || echo '?'))"
[ -n "$baseline" ] && echo "- baseline engine: $baseline/bench_train"
if [ "$have_torch" = 1 ]; then
  echo "- PyTorch: $("$PYTHON" -c 'import torch; print(torch.__version__, "oneDNN" if torch.backends.mkldnn.is_available() else "no oneDNN")') ($PYTHON)"
else
  echo "- PyTorch: not found ($PYTHON): reference rows skipped"
fi
echo "- OMP_NUM_THREADS=$OMP_NUM_THREADS OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
echo

ratios=()
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

if section resnet; then
echo "## ResNet-18 training step (CIFAR shape, synthetic data)"
echo
echo "| model | batch | precision | format | impl | warm-up + timed steps | step ms (median) | img/s | tensors peak MiB | max RSS MiB | engine conv GFLOP/s (forward) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
# One engine row of the current case (width, batch, precision, format, args): engine_row
# BINARY IMPL prints it and sets ms.
engine_row() {
  out=$(measured "$1" "$cfg" --device cpu --batch "$batch" --iters "$iters" --warmup "$warmup" "${args[@]}")
  rss=$(rss_mib)
  # | model | device | batch | image | params | precision | format | graph | ckpt | ms | img/s | peak |
  IFS='|' read -r ms rate peak <<<"$(echo "$out" | awk -F'|' '/^\| resnet18/ {
    for (i = 2; i <= 13; ++i) gsub(/^ +| +$/, "", $i); print $11 "|" $12 "|" $13}')"
  gflops=$(echo "$out" | sed -n 's/.*= \([0-9.]*\) GFLOP\/s.*/\1/p')
  echo "| $name | $batch | $precision | $format | $2 | $warmup + $iters | $ms | $rate | $peak | $rss | ${gflops:-n/a} |"
}
for c in "${resnet_cases[@]}"; do
  read -r width batch warmup iters <<<"$c"
  for precision in f32 bf16; do
    for format in NCHW NHWC; do
      args=(--set "model.width_mult=$width" --set "training.precision=\"$precision\"")
      mode=eager-f32
      [ "$precision" = bf16 ] && mode=eager-amp
      if [ "$format" = NHWC ]; then
        args+=(--set model.channels_last=true)
        mode=$mode-cl
      fi
      name="ResNet-18 x$width"
      if [ -n "$baseline" ]; then
        engine_row "$baseline/bench_train" "engine baseline"
        base_ms=$ms
      fi
      engine_row "$build/bench_train" engine
      if [ "$have_torch" = 1 ]; then
        row=$(measured "$PYTHON" "$root/bench/pytorch/resnet18_train.py" --device cpu --threads "$threads" \
          --width-mult "$width" --batch "$batch" --iters "$iters" --warmup "$warmup" --mode "$mode")
        # | pytorch mode | batch | ms | img/s | peak (ru_maxrss) |
        IFS='|' read -r tms trate trss <<<"$(echo "$row" | awk -F'|' '{
          for (i = 2; i <= 6; ++i) gsub(/^ +| +$/, "", $i); print $4 "|" $5 "|" $6}')"
        echo "| $name | $batch | $precision | $format | pytorch $mode | $warmup + $iters | $tms | $trate | n/a | $trss | |"
        if [ -n "$baseline" ]; then
          ratios+=("| $name batch $batch $precision $format | $(ratio "$ms" "$tms") | $(ratio "$base_ms" "$tms") |")
        else
          ratios+=("| $name batch $batch $precision $format | $(ratio "$ms" "$tms") |")
        fi
      fi
    done
  done
done

fi

if section moe; then
echo
echo "## MoE layer forward + backward"
echo
echo "| impl | T | C | E | H | k | warm-up + timed | ms (median) | tensors peak MiB | max RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
# One engine row of bench_moe: moe_row BINARY LABEL prints it and sets ms.
moe_row() {
  out=$(measured "$1" --device cpu --precision "$precision" "${moe_shape[@]}" \
    --warmup "${moe_steps[0]}" --iters "${moe_steps[1]}")
  rss=$(rss_mib)
  # | impl | T | C | E | H | k | ms | peak |
  row=$(echo "$out" | grep '^| engine')
  ms=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $8); print $8}')
  echo "$row" | awk -F'|' -v s="${moe_steps[0]} + ${moe_steps[1]}" -v rss="$rss" -v label="$2" 'BEGIN {OFS = "|"} {
    for (i = 2; i <= 9; ++i) gsub(/^ +| +$/, "", $i)
    sub(/^engine/, label, $2)
    print "| " $2 " | " $3 " | " $4 " | " $5 " | " $6 " | " $7 " | " s " | " $8 " | " $9 " | " rss " |"}'
}
for precision in f32 bf16; do
  base_ms=
  if [ -n "$baseline" ] && [ -x "$baseline/bench_moe" ]; then
    moe_row "$baseline/bench_moe" "engine baseline"
    base_ms=$ms
  fi
  moe_row "$build/bench_moe" engine
  if [ "$have_torch" = 1 ]; then
    row=$(measured "$PYTHON" "$root/bench/pytorch/moe_layer.py" --device cpu --impl loop --threads "$threads" \
      --precision "$precision" "${moe_shape[@]}" --warmup "${moe_steps[0]}" --iters "${moe_steps[1]}")
    tms=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $8); print $8}')
    echo "$row" | awk -F'|' -v s="${moe_steps[0]} + ${moe_steps[1]}" '{
      for (i = 2; i <= 9; ++i) gsub(/^ +| +$/, "", $i)
      print "| " $2 " | " $3 " | " $4 " | " $5 " | " $6 " | " $7 " | " s " | " $8 " | n/a | " $9 " |"}'
    ratios+=("| MoE layer $precision (pytorch expert loop) | $(ratio "$ms" "$tms") |${baseline:+ $(ratio "$base_ms" "$tms") |}")
  fi
done
fi

if section encode; then
echo
echo "## Text encoder forward (all-MiniLM-L6-v2: encode, mean pooling, L2 norm)"
echo
if [ -f "$text_encoder/model.safetensors" ]; then
  read -r ebatch etokens ewarm eiters <<<"${encode_case[*]}"
  echo "| impl | texts | tokens | warm-up + timed | ms per batch (median) | tensors peak MiB | max RSS MiB |"
  echo "|---|---|---|---|---|---|---|"
  # One engine row of bench_encode: encode_row BINARY LABEL prints it and sets ms.
  encode_row() {
    # | impl | batch | tokens | ms | peak |
    row=$(measured "$1" --model "$text_encoder" --precision "$precision" --batch "$ebatch" \
      --tokens "$etokens" --warmup "$ewarm" --iters "$eiters" | grep '^| engine')
    rss=$(rss_mib)
    ms=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $5); print $5}')
    echo "$row" | awk -F'|' -v s="$ewarm + $eiters" -v rss="$rss" -v label="$2" '{
      for (i = 2; i <= 6; ++i) gsub(/^ +| +$/, "", $i)
      sub(/^engine/, label, $2)
      print "| " $2 " | " $3 " | " $4 " | " s " | " $5 " | " $6 " | " rss " |"}'
  }
  for precision in f32 bf16; do
    base_ms=
    if [ -n "$baseline" ] && [ -x "$baseline/bench_encode" ]; then
      encode_row "$baseline/bench_encode" "engine baseline"
      base_ms=$ms
    fi
    encode_row "$build/bench_encode" engine
    if [ "$have_torch" = 1 ]; then
      row=$(measured "$PYTHON" "$root/bench/pytorch/bert_encode.py" "$text_encoder" --threads "$threads" \
        --precision "$precision" --batch "$ebatch" --tokens "$etokens" --warmup "$ewarm" --iters "$eiters")
      tms=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $5); print $5}')
      echo "$row" | awk -F'|' -v s="$ewarm + $eiters" '{
        for (i = 2; i <= 6; ++i) gsub(/^ +| +$/, "", $i)
        print "| " $2 " | " $3 " | " $4 " | " s " | " $5 " | n/a | " $6 " |"}'
      ratios+=("| text encoder $ebatch x $etokens tokens $precision | $(ratio "$ms" "$tms") |${baseline:+ $(ratio "$base_ms" "$tms") |}")
    fi
  done
else
  echo "No model at $text_encoder (scripts/fetch_text_encoder.sh $text_encoder fetches it): section skipped."
fi
fi

if [ "${#ratios[@]}" -gt 0 ]; then
  echo
  echo "## Ratios: engine step time / PyTorch step time (above 1: the engine is slower)"
  echo
  if [ -n "$baseline" ]; then
    echo "| case | engine / PyTorch | engine baseline / PyTorch |"
    echo "|---|---|---|"
  else
    echo "| case | engine / PyTorch |"
    echo "|---|---|"
  fi
  for r in "${ratios[@]}"; do echo "$r"; done
fi
