#!/usr/bin/env bash
# Data parallel on the CPU, 1 vs 2 ranks (docs/DISTRIBUTED.md):
#   bench/dist_cpu.sh [--images N] [--batch B] [--moe]
# train_app on the quickstart network (ResNet-18 x 1/8, Fashion-MNIST, global batch B,
# default 64, one epoch over N training images, default 2048; --moe: the MoE quickstart)
# as: 1 process on 1 thread, 1 process on 2 threads, and `mpirun -np 2` with 1 thread per
# rank, with the gradient sums started during backward (dist.overlap, the default) and
# after it, and with --moe also expert parallel (moe.expert_parallel). Reports the
# epoch's training img/s (train_app's figure, evaluation excluded) and, for 2 ranks, the
# time spent on the sums after backward (waiting for the slower rank included; with
# overlap, only what backward did not hide). Needs build/train_app built with MPI.
# Prints markdown.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
images=2048
batch=64
moe=0
while [ $# -gt 0 ]; do
  case $1 in
    --images) images=$2; shift ;;
    --batch) batch=$2; shift ;;
    --moe) moe=1 ;;
    -h | --help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "dist_cpu.sh: unexpected argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
app=$root/build/train_app
[ -x "$app" ] || { echo "dist_cpu.sh: $app not found; build it first" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Shared-memory copies without ptrace (which containers often forbid).
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMP_WAIT_POLICY=passive ENGINE_CUDASIM_QUIET=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sets=(--set "output.dir=\"$out\"" --set data.train_limit=$images --set data.test_limit=500 --set training.epochs=1
      --set training.batch_size=$batch --set data.augment.crop_padding=0 --set output.log_every=1000000)
cfg=$root/configs/quickstart_fashion_mnist.json
variants=(dist.overlap=true dist.overlap=false)
if [ $moe = 1 ]; then
  cfg=$root/configs/quickstart_moe_fashion_mnist.json
  variants+=(moe.expert_parallel=true)
fi

# "<img/s> <comm s> <train s>" from a train_app log.
figures() {
  local ips comm train
  ips=$(grep -o '| [0-9.]* img/s' "$1" | tail -1 | grep -o '[0-9.]*' | head -1)
  comm=$(grep -o 'took [0-9.]* s of [0-9.]* s' "$1" | tail -1 | awk '{print $2, $5}')
  echo "$ips ${comm:-n/a n/a}"
}

echo "| run | processes x threads | global batch | train img/s | gradient sums s | training s | sums share |"
echo "|---|---|---|---|---|---|---|"
OMP_NUM_THREADS=1 "$app" "$cfg" "${sets[@]}" >"$out/one.log" 2>&1
read -r ips _ _ <<<"$(figures "$out/one.log")"
echo "| 1 process | 1 x 1 | $batch | $ips | | | |"
OMP_NUM_THREADS=2 "$app" "$cfg" "${sets[@]}" >"$out/two_threads.log" 2>&1
read -r ips _ _ <<<"$(figures "$out/two_threads.log")"
echo "| 1 process | 1 x 2 | $batch | $ips | | | |"
for variant in "${variants[@]}"; do
  OMP_NUM_THREADS=1 mpirun -np 2 --bind-to none "$app" "$cfg" "${sets[@]}" --set "$variant" >"$out/ranks.log" 2>&1
  read -r ips comm train <<<"$(figures "$out/ranks.log")"
  share=$(awk -v c="$comm" -v t="$train" 'BEGIN { if (t > 0) printf "%.0f%%", 100 * c / t }')
  echo "| mpirun -np 2, $variant | 2 x 1 | $batch | $ips | $comm | $train | $share |"
done
