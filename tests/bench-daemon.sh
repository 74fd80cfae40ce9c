#!/usr/bin/env bash
# Measure the daemon's footprint (docs/benchmarks.md, "Daemon"): the release binary in a real
# systemd + logind sandbox (root and unshare needed), against the in-repo simulator.
#
#   idle:  agent with 3 tasks, delay lock held, VmRSS and utime+stime over MEASURE_IDLE_SECS (60),
#          once per [health] interval in MEASURE_HEALTH_INTERVALS ("0s 60s 5s": checks off, the
#          default, a short one), against a fake Docker API and a work dir of its own
#   drain: logind Reboot(false) -> shutdown drain against a master with 10 000 filler agents,
#          once with the filtered /master/slaves?slave_id= lookup and once with a master that
#          ignores the filter (GET_AGENTS streaming fallback); sampled VmRSS peak and VmHWM
#
# Prints the MEASURE lines. Usage: tests/bench-daemon.sh [MEASURE_IDLE_SECS [INTERVALS]]
set -euo pipefail
cd "$(dirname "$0")/.."
export MEASURE_IDLE_SECS="${1:-${MEASURE_IDLE_SECS:-60}}"
export MEASURE_HEALTH_INTERVALS="${2:-${MEASURE_HEALTH_INTERVALS:-0s 60s 5s}}"
runs=$(wc -w <<<"$MEASURE_HEALTH_INTERVALS")
export MESOS_MAINT_SANDBOX_TIMEOUT_SECS=$(((MEASURE_IDLE_SECS + 30) * runs + 240))
cargo test --release --test daemon_footprint -- --ignored --exact measure_daemon_footprint --nocapture 2>&1 \
    | grep -E '^(MEASURE|SKIP|test result)|panicked'
