# Shared by scripts/setup.sh, scripts/test.sh and scripts/train.sh (sourced).
ENGINE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENGINE_JOBS=${ENGINE_JOBS:-$(nproc 2>/dev/null || echo 2)}

# Configures (once, or again when the arguments change) and builds incrementally.
# usage: engine_build BUILD_DIR [cmake args...]
engine_build() {
  local dir=$1
  shift
  local args=("$@")
  local stamp="$dir/.engine-configure-args"
  if [[ ! -f "$dir/CMakeCache.txt" || "$(cat "$stamp" 2>/dev/null)" != "${args[*]}" ]]; then
    cmake -S "$ENGINE_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release "${args[@]}"
    echo "${args[*]}" >"$stamp"
  fi
  cmake --build "$dir" -j "$ENGINE_JOBS"
}

# OpenMP's idle threads would otherwise spin while OpenBLAS's own threads run the
# GEMMs, and on a small machine that halves convolution speed. Read before main().
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
