#!/usr/bin/env bash
# Delta benchmark: elv's deltas against a base model (lossless and default), elv alone,
# zstd --patch-from and ZipLLM's BitX method (benches/bitx.py), on the real fine-tunes and
# checkpoints that ../shared/data/make-finetunes.sh trains; then a model-folder round trip.
#   benches/delta.sh FINETUNES_DIR [RUNS]
# Prints a markdown table: per pair and tool, the ratio (fine-tune size / stored size), the
# ratio to BitX's, median compress and decompress MB/s of the fine-tune, and peak RSS; exits
# non-zero if a lossless tool does not round trip or the folder does not come back identical.
# BitX runs in Python (numpy) with the zstd command per stream: its speed is not comparable.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${1:?usage: benches/delta.sh FINETUNES_DIR [RUNS]}"
RUNS="${2:-3}"
cargo build --release -q -p elv-cli --manifest-path "$HERE/../Cargo.toml"
command -v zstd >/dev/null || { echo "zstd not found (apt-get install zstd)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found (apt-get install time)" >&2; exit 1; }
# numpy for bitx.py: the venv make-finetunes.sh made, else the system Python.
PY="$DIR/.venv/bin/python"
[ -x "$PY" ] || PY=python3
"$PY" -c "import numpy" || { echo "bitx.py needs numpy" >&2; exit 1; }
exec python3 "$HERE/delta.py" "$HERE/../target/release/elv" "$DIR" "$RUNS" "$PY"
