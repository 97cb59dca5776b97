#!/usr/bin/env bash
# Puts the CIFAR binary layout in place:
#   scripts/fetch_cifar.sh cifar10|cifar100 DEST [LOCAL]
# gives DEST/cifar-10-batches-bin or DEST/cifar-100-binary. The source, first match wins:
#   1. LOCAL, or else $ENGINE_CIFAR10_DIR / $ENGINE_CIFAR100_DIR, naming one of
#      - a folder that holds the .bin files (or holds the batches folder): copied;
#      - a folder with unpack.sh beside cifar-10-part*.tar.xz: unpack.sh is run;
#      - the official .tar.gz archive: its MD5 is checked, then it is extracted;
#   2. otherwise the official archive, downloaded with curl or wget, MD5 checked.
# Everything is assembled in a temporary folder inside DEST and moved into place
# only when complete, so an interrupted run never leaves a half-extracted folder.
# An existing complete folder is kept as it is.
set -euo pipefail

die() { echo "fetch_cifar.sh: $*" >&2; exit 1; }

which=${1:-}
dest=${2:-}
[[ ( $which == cifar10 || $which == cifar100 ) && -n $dest ]] || die "usage: fetch_cifar.sh cifar10|cifar100 DEST [LOCAL]"

if [[ $which == cifar10 ]]; then
  folder=cifar-10-batches-bin
  url=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
  md5=c32a1d4ab5d03f1284b67883e8d87530
  local_src=${3:-${ENGINE_CIFAR10_DIR:-}}
  files=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)
  sizes=(30730000 30730000 30730000 30730000 30730000 30730000)
else
  folder=cifar-100-binary
  url=https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz
  md5=03b5dce01913d631647c71ecec9e9cb8
  local_src=${3:-${ENGINE_CIFAR100_DIR:-}}
  files=(train.bin test.bin)
  sizes=(153700000 30740000)
fi

# Succeeds when $1 holds every file at its official size.
complete() {
  local dir=$1 i
  for i in "${!files[@]}"; do
    [[ -f $dir/${files[$i]} ]] || return 1
    [[ $(stat -c %s "$dir/${files[$i]}") == "${sizes[$i]}" ]] || return 1
  done
}

check_md5() {
  local have
  have=$(md5sum "$1" | cut -d' ' -f1)
  [[ $have == "$md5" ]] || die "checksum mismatch for $1: md5 $have, expected $md5"
}

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if complete "$dest/$folder"; then
  echo "$which: $dest/$folder is already complete"
  exit 0
fi
[[ ! -e $dest/$folder ]] || die "$dest/$folder exists but is incomplete; remove it and run again"

tmp=$(mktemp -d "$dest/.fetch_cifar.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [[ -n $local_src ]]; then
  [[ -e $local_src ]] || die "local copy '$local_src' does not exist"
  if [[ -d $local_src ]] && complete "$local_src"; then
    echo "$which: copying $local_src"
    mkdir "$tmp/$folder"
    cp -- "$local_src"/* "$tmp/$folder/"
  elif [[ -d $local_src ]] && complete "$local_src/$folder"; then
    echo "$which: copying $local_src/$folder"
    cp -r -- "$local_src/$folder" "$tmp/"
  elif [[ -d $local_src && -x $local_src/unpack.sh ]]; then
    echo "$which: unpacking with $local_src/unpack.sh"
    "$local_src/unpack.sh" "$tmp" >/dev/null
  elif [[ -f $local_src ]]; then
    echo "$which: extracting $local_src"
    check_md5 "$local_src"
    tar -xzf "$local_src" -C "$tmp"
  else
    die "local copy '$local_src' holds neither the $folder files, nor unpack.sh, nor an archive"
  fi
else
  archive="$tmp/${url##*/}"
  echo "$which: downloading $url"
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 -o "$archive" "$url" || die "download of $url failed"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$archive" "$url" || die "download of $url failed"
  else
    die "neither curl nor wget is installed; name a local copy instead (see the header of this script)"
  fi
  check_md5 "$archive"
  tar -xzf "$archive" -C "$tmp"
  rm -f "$archive"
fi

complete "$tmp/$folder" || die "the source did not yield a complete $folder (${files[*]} at their official sizes)"
mv -T "$tmp/$folder" "$dest/$folder"
echo "$which: $dest/$folder ready"
