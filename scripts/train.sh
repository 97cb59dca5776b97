#!/usr/bin/env bash
# The train command: installs dependencies, builds (incrementally) and trains from a
# config. Without a config it picks the one that suits the machine: CIFAR-10
# ResNet-18 when a GPU answers, the CPU quickstart otherwise.
#   scripts/train.sh [config.json] [--set key.path=value ...]
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$ENGINE_ROOT/scripts/setup.sh"
engine_build "$ENGINE_ROOT/build" -DENGINE_CUDA="${ENGINE_CUDA:-AUTO}" \
  -DENGINE_CUDA_ARCHS="${ENGINE_CUDA_ARCHS:-80;86;89;90}"

config=${1:-}
[[ $# -gt 0 ]] && shift
if [[ -z "$config" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    config="$ENGINE_ROOT/configs/resnet18_cifar10.json"
  else
    config="$ENGINE_ROOT/configs/quickstart_fashion_mnist.json"
  fi
fi
# CIFAR configs need the data set: put in data_cache/ once, from the local copy named
# by ENGINE_CIFAR10_DIR / ENGINE_CIFAR100_DIR (a .bin folder, an unpack.sh folder or the
# official archive) or else downloaded and checksummed (scripts/fetch_cifar.sh).
case "$(grep -o '"dataset"[^,}]*' "$config" | head -1)" in
  *cifar100*)
    bash "$ENGINE_ROOT/scripts/fetch_cifar.sh" cifar100 "$ENGINE_ROOT/data_cache"
    export ENGINE_CIFAR100_DIR="$ENGINE_ROOT/data_cache/cifar-100-binary" ;;
  *cifar10*)
    bash "$ENGINE_ROOT/scripts/fetch_cifar.sh" cifar10 "$ENGINE_ROOT/data_cache"
    export ENGINE_CIFAR10_DIR="$ENGINE_ROOT/data_cache/cifar-10-batches-bin" ;;
esac
cd "$ENGINE_ROOT"
exec "$ENGINE_ROOT/build/train_app" "$config" "$@"
