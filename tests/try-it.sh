#!/usr/bin/env bash
# Try mesos-maint on this machine without a cluster: build it, start the in-repo Mesos simulator
# (master + follower + agent on loopback, two frameworks whose tasks take a few seconds to die),
# and walk through status -> check -> drain -> check -> reactivate, showing the real output.
#
# It never touches a real cluster: every URL points at the simulator, the state dir is a temp dir,
# and the units are left alone (--no-stop / --no-start). It exits 1 when a step does not end with
# the exit code the walk-through expects (CI runs it first, on a fresh clone).
set -euo pipefail
cd "$(dirname "$0")/.."

# Every binary of the workspace, in the profile and with the features the test suite builds, so
# that a later `tests/run-all.sh` reuses this build instead of compiling a second time.
cargo build --quiet --locked --workspace --bins
bin="${CARGO_TARGET_DIR:-target}/debug"
work=$(mktemp -d)
trap 'kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/mesos-sim" serve --scenario "${SCENARIO:-demo}" >"$work/sim.json" 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 1 50); do [ -s "$work/sim.json" ] && break; sleep 0.1; done
[ -s "$work/sim.json" ] || { echo "the simulator did not start:" >&2; cat "$work/sim.log" >&2; exit 1; }
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/sim.json" "$1"; }
master=$(field follower)   # a non-leading master: the 307 to the leader is followed by hand
agent=$(field agent)

failed=0
# mm EXPECTED-EXIT-CODE ARGS...: run one command against the simulator and show its output.
mm() {
    local want=$1 code
    shift
    echo
    echo "\$ mesos-maint $*"
    set +e
    "$bin/mesos-maint" --master "$master" --agent "$agent" --state-dir "$work/state" "$@"
    code=$?
    set -e
    echo "(exit $code)"
    if [ "$code" != "$want" ]; then
        echo "try-it: expected exit $want from 'mesos-maint $*', got $code" >&2
        failed=1
    fi
}

echo "simulated cluster: master (follower) $master, agent $agent"
mm 0 status
mm 1 check                     # tasks are running: not safe
mm 0 drain --dry-run --no-stop --max-grace-period 10m
mm 0 drain --no-stop --reason "try-it"
mm 0 check --json              # drained and empty: safe
mm 0 reactivate --no-start
mm 0 status
exit "$failed"
