#!/usr/bin/env bash
# Corpus benchmark: elv (default and --lossless) against peers, file to file, on a folder of
# .safetensors models (e.g. the output of ../shared/data/fetch-models.sh).
#   benches/corpus.sh MODELS_DIR [RUNS]
# Prints, per model and tool, the compression ratio, median compress and decompress MB/s,
# peak RSS, and elv's speed as a ratio to each peer measured in the same run; then checks that
# every elv file passes `elv verify --against` and that --lossless round trips are identical.
# Rows also give elv on one thread (-T2 / -T1 scaling) and decoding to /dev/null (elv and
# zstd -d), which leaves out the cost of writing the output.
# Each run starts with the previous run's output removed and dirty pages synced (outside the
# timing), and each round runs the tools in a new (seeded) order, so no tool pays for
# another's writeback or always follows the same neighbour.
# Peers: zstd -3 -T2 and zstd -d (timed as processes), ZipNN 0.5.4 with 2 threads (installed
# here in target/zipnn-venv; timed in-process, so its Python start-up is not counted), and
# `cp` of the same file, the floor for anything that reads a file and writes another.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${1:?usage: benches/corpus.sh MODELS_DIR [RUNS]}"
RUNS="${2:-3}"
cargo build --release -q -p elv-cli --manifest-path "$HERE/../Cargo.toml"
ELV="$HERE/../target/release/elv"
command -v zstd >/dev/null || { echo "zstd not found (apt-get install zstd)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found (apt-get install time)" >&2; exit 1; }
# ZipNN, the lossless peer, in a local venv from PyPI (set NO_ZIPNN=1 to skip it).
ZIPNN_PY=""
if [ -z "${NO_ZIPNN:-}" ]; then
  VENV="$HERE/../target/zipnn-venv"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q zipnn==0.5.4
  fi
  ZIPNN_PY="$VENV/bin/python"
fi
exec python3 "$HERE/corpus.py" "$ELV" "$DIR" "$RUNS" "$ZIPNN_PY"
