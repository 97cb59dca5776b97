#!/usr/bin/env bash
# The GPU checks, in stages that each fit one call of a lent GPU machine (<= 10 min):
#   bench/gpu_session.sh build   OUT   # CUDA build (sm_90), [cuda] tests, compute-sanitizer
#   bench/gpu_session.sh bench   OUT   # bench_kernels, bench_train rows, compare.sh (ours and PyTorch)
#   bench/gpu_session.sh unpack  OUT PARTS_DIR   # one carried CIFAR-10 part into /tmp/cifar
#   bench/gpu_session.sh train   OUT [CONFIG]    # CIFAR-10 training run + eval (records 0:1000 too)
# Logs go to OUT (one file per step) and a summary to OUT/summary.md. The build stays
# in build/ for the later stages of the same machine. cuDNN comes from the toolkit, or
# from PyTorch's wheel (site-packages/nvidia/cudnn) when the toolkit has none.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
stage=${1:?usage: gpu_session.sh build|bench|unpack|train OUT [...]}
out=${2:?usage: gpu_session.sh build|bench|unpack|train OUT [...]}
mkdir -p "$out"
cd "$root"
export ENGINE_JOBS=${ENGINE_JOBS:-$(nproc)}
export OMP_WAIT_POLICY=passive
summary="$out/summary.md"

cudnn_root=""
if ! ls /usr/local/cuda/include/cudnn*.h >/dev/null 2>&1; then
  cudnn_root=$(python3 -c "import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))" 2>/dev/null ||
    python3 -c "import nvidia.cudnn; print(list(nvidia.cudnn.__path__)[0])" 2>/dev/null || true)
  [[ -n $cudnn_root ]] && export LD_LIBRARY_PATH="$cudnn_root/lib:${LD_LIBRARY_PATH:-}"
fi

step() {  # step NAME TIMEOUT_S command...: runs, logs, records the exit code
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "- $name: exit $rc, $((SECONDS - t0)) s" >>"$summary"
  return $rc
}

case $stage in
  build)
    {
      echo "# $(date -u +%F) $(git rev-parse --short HEAD 2>/dev/null)"
      nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
      nvcc --version | tail -1
      echo "cuDNN: ${cudnn_root:-toolkit}"
    } >>"$summary" 2>&1
    args=(-DENGINE_CUDA=ON -DENGINE_CUDA_ARCHS=90 -DCMAKE_BUILD_TYPE=Release)
    [[ -n $cudnn_root ]] && args+=(-DENGINE_CUDNN_ROOT="$cudnn_root")
    step configure 120 cmake -S . -B build "${args[@]}"
    step build 420 cmake --build build -j "$ENGINE_JOBS"
    step cuda_tests 240 build/tests/test_cuda "[cuda]"
    step cpu_tests 300 ctest --test-dir build -LE "slow|cuda" -j "$ENGINE_JOBS" --output-on-failure
    step sanitizer 420 compute-sanitizer --tool memcheck --error-exitcode 1 build/tests/test_cuda "[cuda]"
    ;;
  bench)
    step bench_kernels 240 build/bench_kernels
    step bench_train_f32 120 build/bench_train configs/resnet18_cifar10.json --batch 512 --iters 30 --warmup 5
    step compare 420 bash bench/compare.sh 512
    ;;
  unpack)
    # One carried part per call (the transfer limit is 64 MiB): put unpack.sh,
    # SHA256SUMS and one cifar-10-part*.tar.xz in an ignored folder, carry it, and
    # name it here; the files collect in /tmp/cifar, which lasts while the machine does.
    parts=${3:?usage: gpu_session.sh unpack OUT PARTS_DIR}
    step unpack 180 bash "$parts/unpack.sh" /tmp/cifar
    ;;
  train)
    config=${3:-configs/resnet18_cifar10_fast.json}
    export ENGINE_CIFAR10_DIR=/tmp/cifar/cifar-10-batches-bin
    if [[ ! -f $ENGINE_CIFAR10_DIR/data_batch_1.bin ]]; then
      step fetch 300 bash scripts/fetch_cifar.sh cifar10 /tmp/cifar || exit 1
    fi
    step train 560 build/train_app "$config" --set output.dir=/tmp/runs
    run=$(ls -td /tmp/runs/*/*/ 2>/dev/null | head -1)
    if [[ -n $run ]]; then
      step eval 120 build/eval_app "$run" --records 0:1000 --no-plots
      # $OUT returns files at most two folders down: copy the run's summaries up.
      for f in metrics.csv train.log config.json eval.json; do
        [[ -f $run/$f ]] && cp "$run/$f" "$out/run_$f"
      done
    fi
    ;;
  *)
    echo "gpu_session.sh: unknown stage '$stage' (build, bench, unpack or train)" >&2
    exit 2
    ;;
esac
cat "$summary"
