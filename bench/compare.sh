#!/usr/bin/env bash
# Ours and PyTorch's side by side, in one run on one GPU:
#   bench/compare.sh [BATCH]
# 1. ResNet-18 CIFAR training step (batch 512 by default): the engine in f32, in bf16
#    with channels-last, and the same with the step captured as a CUDA graph; PyTorch
#    eager f32, eager AMP bf16 + channels_last, torch.compile of the latter.
# 2. One MoE layer forward + backward (T 8192, C 256, E 8, H 1024, k 2, bf16): the
#    engine; PyTorch looping over experts, and torch._grouped_mm where it exists.
# Every row is a median step with the device synchronised after each step. Needs a GPU,
# the engine built with CUDA in build/ and, for the reference rows, python3 with torch.
# Prints markdown tables, then the ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
batch=${1:-512}
cfg="$root/configs/resnet18_cifar10.json"
ratios=()

# bench_train's row: | model | device | batch | image | params | precision | format | graph | ckpt | ms | img/s | peak |
engine_row() {
  "$root/build/bench_train" "$cfg" --batch "$batch" --iters 50 --warmup 10 "$@" |
    awk -F'|' '/^\| resnet18/ {for (i = 2; i <= 13; ++i) gsub(/^ +| +$/, "", $i); print $7 "|" $8 "|" $9 "|" $11 "|" $12 "|" $13}'
}

echo "| impl | batch | step ms | img/s | peak MiB |"
echo "|---|---|---|---|---|"
declare -A ips
for variant in "f32" "bf16-cl" "bf16-cl-graph"; do
  args=()
  case $variant in
    f32) ;;
    bf16-cl) args=(--set training.precision=bf16 --set model.channels_last=true) ;;
    bf16-cl-graph) args=(--set training.precision=bf16 --set model.channels_last=true --cuda-graph) ;;
  esac
  IFS='|' read -r _prec _fmt _graph ms rate peak <<<"$(engine_row "${args[@]}")"
  ips[engine-$variant]=$rate
  echo "| engine $variant | $batch | $ms | $rate | $peak |"
done
have_torch=0
if python3 -c "import torch" 2>/dev/null; then
  have_torch=1
  for mode in eager-f32 eager-amp-cl compile-amp-cl; do
    row=$(python3 "$root/bench/pytorch/resnet18_train.py" --batch "$batch" --mode "$mode" --iters 50)
    echo "$row"
    ips[torch-$mode]=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $5); print $5}')
  done
  ratios+=("engine f32 / pytorch eager-f32: $(awk -v a="${ips[engine-f32]}" -v b="${ips[torch-eager-f32]}" 'BEGIN{printf "%.2f", a/b}')")
  for ours in bf16-cl bf16-cl-graph; do
    for theirs in eager-amp-cl compile-amp-cl; do
      ratios+=("engine $ours / pytorch $theirs: $(awk -v a="${ips[engine-$ours]}" -v b="${ips[torch-$theirs]}" 'BEGIN{printf "%.2f", a/b}')")
    done
  done
else
  echo "(PyTorch not installed: reference rows skipped)" >&2
fi

echo
echo "| impl | T | C | E | H | k | ms per forward+backward | peak MiB |"
echo "|---|---|---|---|---|---|---|---|"
ours_row=$("$root/build/bench_moe" --precision bf16 --iters 50 | grep '^| engine')
echo "$ours_row"
ours_ms=$(echo "$ours_row" | awk -F'|' '{gsub(/ /, "", $8); print $8}')
if [ "$have_torch" = 1 ]; then
  for impl in loop grouped; do
    row=$(python3 "$root/bench/pytorch/moe_layer.py" --impl "$impl" --iters 50)
    echo "$row"
    theirs=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $8); print $8}')
    if [[ "$theirs" =~ ^[0-9.]+$ ]]; then
      ratios+=("MoE layer speed-up over pytorch $impl: $(awk -v a="$ours_ms" -v b="$theirs" 'BEGIN{printf "%.2f", b/a}')")
    fi
  done
fi
echo
for r in "${ratios[@]}"; do echo "ratio $r"; done
