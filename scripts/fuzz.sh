#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 60) and prints, per target,
# the executions, exec/s, corpus size and crashes. Exits non-zero if any target crashed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# The stable toolchain is used with RUSTC_BOOTSTRAP=1 (see fuzz/README.md for why); no
# sanitizer (`-s none`): the code under test is safe Rust, and debug assertions are on (`-a`)
# so an integer overflow is a crash too. Seeds are fuzz/corpus/<target>/ (committed); what a
# run discovers goes to fuzz/work/<target>/ (kept between runs, not committed); crashing
# inputs go to fuzz/artifacts/<target>/ (commit them as regression seeds once fixed).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${1:-60}
shift || true
export RUSTC_BOOTSTRAP=1
# Its own target folder: the instrumented build shares nothing with the workspace's.
export CARGO_TARGET_DIR="${MAYFLY_FUZZ_TARGET_DIR:-$PWD/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
FLAGS=(-s none -a --release)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < <(cargo fuzz list)
cargo fuzz build "${FLAGS[@]}"

failed=()
printf '%-18s %12s %9s %8s %8s\n' target execs exec/s corpus crashes
for t in "${TARGETS[@]}"; do
    mkdir -p "work/$t" "artifacts/$t"
    log="work/$t.log"
    status=0
    cargo fuzz run "${FLAGS[@]}" "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$SECS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    corpus=$(find "work/$t" -type f | wc -l)
    crashes=$(grep -c '^==[0-9]*== ERROR: libFuzzer\|^thread .* panicked' "$log" || true)
    printf '%-18s %12s %9s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$crashes"
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed+=("$t")
        grep -m5 -A15 'panicked\|ERROR: libFuzzer' "$log" || tail -n 30 "$log"
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/work/)"
    exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets x ${SECS} s, no crashes"
