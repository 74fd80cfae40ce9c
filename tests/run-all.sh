#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, black-box tests against the in-repo
# Mesos simulator, the system tests against a real systemd/logind (those need root and
# unshare; elsewhere they print why they skip), and the packaging checks. `.ci/run` runs exactly
# this.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

# Prerequisites a fresh machine may lack. Installed only when we are root with apt (CI is).
missing=()
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
[ -x /lib/systemd/systemd ] || missing+=(systemd)
command -v dbus-daemon >/dev/null 2>&1 || missing+=(dbus)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# Fleet coordination tests start a real ZooKeeper (Debian's 3.8 server jar, run with a JRE).
[ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        log "missing ${missing[*]}: the system and ZooKeeper tests will skip"
    fi
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

log "cargo fmt --check"
cargo fmt --all --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The release binary (glibc 2.17, cargo-zigbuild), the .deb and .rpm built from it, and their
# checks (contents, maintainer scripts, systemd-analyze, a self-test of the installed files).
log "packaging (packaging/check.sh)"
bash packaging/check.sh
log "tests"
cargo nextest run --workspace --locked --no-fail-fast
