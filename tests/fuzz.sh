#!/usr/bin/env bash
# A long fuzz campaign over every parser of outside bytes (tests/fuzz): each target runs
# CASES mutated inputs (default 100000) in the release profile. CI runs the same targets with a
# few hundred cases each, through the normal test suite. Record what a campaign ran and found in
# docs/reliability.md; turn every failure into a test in tests/fuzz/regressions.rs.
#
#   bash tests/fuzz.sh                 # 100000 cases per target
#   CASES=1000000 bash tests/fuzz.sh   # longer
#   bash tests/fuzz.sh wire::          # only the targets whose name contains "wire::"
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${CASES:-100000}
filter=${1:-}
echo "==> fuzz campaign: $cases cases per target${filter:+ (filter: $filter)}" >&2
start=$(date +%s)
MM_FUZZ_CASES=$cases cargo test --release --locked --test fuzz -- --test-threads 2 $filter
echo "==> $(( $(date +%s) - start )) s for $cases cases per target" >&2
