#!/usr/bin/env bash
# Side-by-side training throughput, ours and PyTorch's, in one run on one GPU:
#   bench/compare.sh [BATCH]
# Needs a GPU, the engine built with CUDA (build/) and, for the reference rows,
# python3 with torch + torchvision. Prints a markdown table and the ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
batch=${1:-512}
echo "| impl | batch | step ms | img/s | peak MiB |"
echo "|---|---|---|---|---|"
ours=$("$root/build/bench_train" "$root/configs/resnet18_cifar10.json" --batch "$batch" --iters 50 --warmup 10 |
  awk -F'|' '/^\| resnet18/ {gsub(/ /,"",$7); gsub(/ /,"",$8); print $7, $8}')
read -r ours_ms ours_ips <<<"$ours"
echo "| engine f32 | $batch | $ours_ms | $ours_ips | - |"
if python3 -c "import torch, torchvision" 2>/dev/null; then
  for mode in eager-f32 eager-amp-cl compile-amp-cl; do
    row=$(python3 "$root/bench/pytorch/resnet18_train.py" --batch "$batch" --mode "$mode")
    echo "$row"
    ips=$(echo "$row" | awk -F'|' '{gsub(/ /,"",$5); print $5}')
    echo "ratio engine/$mode: $(awk -v a="$ours_ips" -v b="$ips" 'BEGIN{printf "%.2f", a/b}')" >&2
  done
else
  echo "(PyTorch not installed: reference rows skipped)" >&2
fi
