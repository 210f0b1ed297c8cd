#!/usr/bin/env bash
# Python loading benchmark: elves.numpy.load_file of the .elv against safetensors.numpy.load_file
# of the original and ZipNN's decompress + load, in one run, on a folder of .safetensors models.
#   benches/python_load.sh MODELS_DIR [RUNS] [load|slices|throttled]
# `slices` runs benches/slices.py instead: get_slice of row shards against get_tensor;
# `throttled` runs benches/load_throttled.py: loads through a rate-limited file object.
# Installs the elves package from this checkout, safetensors and ZipNN 0.5.4 into
# target/py-bench (PyPI), then runs benches/python_load.py there.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${1:?usage: benches/python_load.sh MODELS_DIR [RUNS]}"
RUNS="${2:-7}"
SCRIPT="${3:-load}"
case "$SCRIPT" in load) SCRIPT=python_load ;; slices) ;; throttled) SCRIPT=load_throttled ;; *) echo "unknown benchmark $SCRIPT" >&2; exit 2 ;; esac
VENV="$HERE/../target/py-bench"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "$HERE/../crates/elv-py" safetensors zipnn==0.5.4 numpy ml_dtypes
exec "$VENV/bin/python" "$HERE/$SCRIPT.py" "$DIR" "$RUNS"
