#!/usr/bin/env bash
# The test command: installs dependencies, builds (incrementally) and runs the whole
# suite with ctest, then the CPU suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer. [cuda] tests are skipped (and counted) without a GPU.
#   ENGINE_CUDA=AUTO|ON|OFF        CUDA backend of the main build (default AUTO)
#   ENGINE_CUDA_ARCHS="80;86;89;90" architectures for nvcc
#   ENGINE_SKIP_SANITIZE=1         skip the sanitizer pass
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$ENGINE_ROOT/scripts/setup.sh"

engine_build "$ENGINE_ROOT/build" -DENGINE_CUDA="${ENGINE_CUDA:-AUTO}" \
  -DENGINE_CUDA_ARCHS="${ENGINE_CUDA_ARCHS:-80;86;89;90}"
echo "== test suite (build/)"
ctest --test-dir "$ENGINE_ROOT/build" --output-on-failure -j "$ENGINE_JOBS"

if [[ "${ENGINE_SKIP_SANITIZE:-0}" != 1 ]]; then
  engine_build "$ENGINE_ROOT/build-asan" -DENGINE_CUDA=OFF -DENGINE_SANITIZE=address,undefined \
    -DENGINE_BUILD_APPS=OFF
  echo "== CPU suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, long training tests excluded)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$ENGINE_ROOT/build-asan" --output-on-failure -j "$ENGINE_JOBS" -LE slow
fi
