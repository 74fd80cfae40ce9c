#!/usr/bin/env bash
# Measure one `mesos-maint health` run on a healthy node (docs/benchmarks.md, "Node health"):
# the release binary in a real systemd sandbox (root and unshare needed), against the in-repo
# simulator and a fake Docker API; wall time and peak RSS (wait4 ru_maxrss, through GNU time) over MEASURE_RUNS.
#
# Usage: tests/bench-health.sh [MEASURE_RUNS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
export MEASURE_RUNS="${1:-${MEASURE_RUNS:-20}}"
cargo build --release --bin mesos-maint
target_dir="${CARGO_TARGET_DIR:-target}"
export MESOS_MAINT_BENCH_BIN="$(realpath "$target_dir/release/mesos-maint")"
cargo test --test system_health -- --ignored --exact measure_health_run --nocapture 2>&1 \
    | grep -E '^(MEASURE|SKIP|test result)|panicked'
