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
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(container structured elf de planes ans ans_simd tensor_table dedup_table metadata round_trip safetensors delta member_table base_table pytorch)
mkdir -p target
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  cp -n ../testdata/valid/*.elv ../testdata/invalid/*.elv "corpus/$t/" 2>/dev/null || true
  cp -n ../testdata/regress/*.bin "corpus/$t/" 2>/dev/null || true
  [ "$t" = safetensors ] && cp -n ../testdata/sample/*.safetensors "corpus/$t/" 2>/dev/null || true
  [ "$t" = pytorch ] && cp -n ../testdata/pytorch/*.pt "corpus/$t/" 2>/dev/null || true
  echo "== $t for ${SECS}s"
  # A crash ends this target, not the campaign: report it and go on.
  if ! cargo +nightly fuzz run "$t" -- -max_total_time="$SECS" -max_len=65536 -rss_limit_mb=2048 > "target/fuzz-$t.log" 2>&1; then
    echo "!! $t stopped on a finding:"; grep -E "panicked at|ERROR|Test unit written" "target/fuzz-$t.log" | head -4
    FOUND=1
  fi
  grep -E "^#[0-9]+\s+(DONE|NEW|REDUCE|pulse)|^Done" "target/fuzz-$t.log" | tail -2
done
exit "${FOUND:-0}"
