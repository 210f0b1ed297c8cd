#!/usr/bin/env bash
# Run a fuzz campaign: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Needs the nightly toolchain (rustup's `nightly`) and cargo-fuzz (`cargo install cargo-fuzz`).
# Seeds each target's corpus from testdata/ first. A crash is saved under
# fuzz/artifacts/TARGET/; copy it to testdata/regress/TARGET-WHAT.bin so the ordinary test
# suite replays it, then fix the bug.
set -euo pipefail
cd "$(dirname "$0")"
SECS="${1:-60}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(container structured elf de planes ans tensor_table dedup_table metadata round_trip safetensors)
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  cp -n ../testdata/valid/*.elv ../testdata/invalid/*.elv "corpus/$t/" 2>/dev/null || true
  cp -n ../testdata/regress/*.bin "corpus/$t/" 2>/dev/null || true
  [ "$t" = safetensors ] && cp -n ../testdata/sample/*.safetensors "corpus/$t/" 2>/dev/null || true
  echo "== $t for ${SECS}s"
  cargo +nightly fuzz run "$t" -- -max_total_time="$SECS" -max_len=65536 -rss_limit_mb=2048 2>&1 | grep -E "^(#[0-9]+\s+DONE|Done|==[0-9]+== ERROR|SUMMARY|artifact_prefix|Test unit written)|cov:" | tail -3
done
