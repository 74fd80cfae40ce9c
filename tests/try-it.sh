#!/usr/bin/env bash
# Try mesos-maint on this machine without a cluster: build it, start the in-repo Mesos simulator
# (master + follower + agent on loopback, two frameworks whose tasks take a few seconds to die),
# and walk through status -> check -> drain -> check -> reactivate, showing the real output.
#
# It never touches a real cluster: every URL points at the simulator, the state dir is a temp dir,
# and the units are left alone (--no-stop / --no-start).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --bin mesos-maint -p mesos-maint -p mesos-sim
bin=target/debug
work=$(mktemp -d)
trap 'kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/mesos-sim" serve --scenario "${SCENARIO:-demo}" >"$work/sim.json" 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 1 50); do [ -s "$work/sim.json" ] && break; sleep 0.1; done
[ -s "$work/sim.json" ] || { echo "the simulator did not start:" >&2; cat "$work/sim.log" >&2; exit 1; }
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/sim.json" "$1"; }
master=$(field follower)   # a non-leading master: the 307 to the leader is followed by hand
agent=$(field agent)

mm() {
    echo
    echo "\$ mesos-maint $*"
    set +e
    "$bin/mesos-maint" --master "$master" --agent "$agent" --state-dir "$work/state" "$@"
    echo "(exit $?)"
    set -e
}

echo "simulated cluster: master (follower) $master, agent $agent"
mm status
mm check
mm drain --dry-run --no-stop --max-grace-period 10m
mm drain --no-stop --reason "try-it"
mm check --json
mm reactivate --no-start
mm status
