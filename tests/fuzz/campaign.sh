#!/usr/bin/env bash
# Runs fuzz targets one after another, each for a fixed time, and prints one
# summary line per target (runs, coverage, outcome). Used for the >= 10 min
# per target campaigns recorded in BENCHMARKS.md / the issue notes.
#
#   tests/fuzz/campaign.sh SECONDS target [target ...]
#
# Crash inputs land in tests/fuzz/artifacts/<target>/; copy them into
# tests/fuzz/regression/<target>/ so `cargo test` replays them.
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: campaign.sh SECONDS target...}
shift
status=0
for t in "$@"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t/campaign.log"
    start=$(date -u +%FT%TZ)
    RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir . "$t" "corpus/$t" -- \
        -max_total_time="$secs" -malloc_limit_mb=256 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    rc=$?
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    if [[ $rc -eq 0 ]]; then outcome=ok; else outcome="FAILED rc=$rc"; status=1; fi
    echo "$start $t ${secs}s: $outcome | $last"
done
exit $status
