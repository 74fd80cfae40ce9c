#!/usr/bin/env bash
# Build the release packages: one release binary, the .deb and the .rpm made from it.
#
#   bash packaging/build.sh            -> target/packaging/out/mesos-maint_<v>-1_amd64.deb
#                                         target/packaging/out/mesos-maint-<v>-1.x86_64.rpm
#
# 1. cargo-zigbuild builds the binary once, linked against glibc 2.17 (CentOS/RHEL 7) whatever
#    the build machine's glibc is (zig from the `ziglang` PyPI package, no system toolchain).
# 2. The binary is stripped and staged under target/packaging/stage/ together with what it
#    generates from its own clap definitions: the man pages and the bash/zsh completions
#    (`mesos-maint generate`; the binary runs on the build machine, so no second program is
#    built for this, and the pages always match the shipped binary).
# 3. cargo-deb and cargo-generate-rpm package the staged files (--no-build): both packages
#    carry the same bytes. Their metadata is in Cargo.toml ([package.metadata.deb],
#    [package.metadata.generate-rpm]).
#
# Missing tools are installed (pinned versions): cargo-zigbuild and ziglang with pip,
# cargo-deb and cargo-generate-rpm with `cargo install --locked`.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${MESOS_MAINT_TARGET:-x86_64-unknown-linux-gnu}
GLIBC=${MESOS_MAINT_GLIBC:-2.17}
CARGO_ZIGBUILD_VERSION=0.24.0
ZIGLANG_VERSION=0.17.1
CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

PKG=target/packaging
STAGE=$PKG/stage
OUT=$PKG/out

log() { printf '==> %s\n' "$*" >&2; }
step_start=$(date +%s)
step() { # NAME: log the time the previous step took, then the next step's name
    local now
    now=$(date +%s)
    [ -n "${step_name:-}" ] && printf '    %-28s %4ss\n' "$step_name" $((now - step_start)) >>"$PKG/timings.txt"
    step_name=$1
    step_start=$now
    [ -n "$1" ] && log "$1"
    return 0
}
mkdir -p "$PKG"
: >"$PKG/timings.txt"

tool_version() { "$@" --version 2>/dev/null | awk '{print $NF}' | head -n1; }

step "tools"
# A Python that refuses global installs (PEP 668, e.g. Debian's own) gets a venv under target/.
VENV=$PWD/$PKG/venv
[ -x "$VENV/bin/cargo-zigbuild" ] && export PATH="$VENV/bin:$PATH"
if [ "$(tool_version cargo-zigbuild)" != "$CARGO_ZIGBUILD_VERSION" ] ||
    ! python3 -m ziglang version 2>/dev/null | grep -qx "$ZIGLANG_VERSION"; then
    log "installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION and ziglang $ZIGLANG_VERSION (pip)"
    pins=("cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" "ziglang==$ZIGLANG_VERSION")
    if ! python3 -m pip install --quiet --disable-pip-version-check "${pins[@]}"; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
        export PATH="$VENV/bin:$PATH"
    fi
fi
if [ "$(cargo deb --version 2>/dev/null | awk '{print $2}')" != "$CARGO_DEB_VERSION" ]; then
    log "installing cargo-deb $CARGO_DEB_VERSION"
    cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
fi
if [ "$(cargo generate-rpm --version 2>/dev/null | awk '{print $2}')" != "$CARGO_GENERATE_RPM_VERSION" ]; then
    log "installing cargo-generate-rpm $CARGO_GENERATE_RPM_VERSION"
    cargo install --locked --quiet cargo-generate-rpm --version "$CARGO_GENERATE_RPM_VERSION"
fi

step "release build (cargo zigbuild --target $TARGET.$GLIBC)"
# The only release build: a separate target triple directory, so it does not disturb
# target/release (benchmarks) and is reused when nothing changed.
cargo zigbuild --release --locked --target "$TARGET.$GLIBC" --bin mesos-maint
BIN=target/$TARGET/release/mesos-maint

step "stage (strip, man pages, completions)"
rm -rf "$STAGE" "$OUT"
mkdir -p "$STAGE/usr/bin" "$STAGE/man" "$STAGE/completions" "$OUT"
cp "$BIN" "$STAGE/usr/bin/mesos-maint"
strip --strip-all "$STAGE/usr/bin/mesos-maint"
"$STAGE/usr/bin/mesos-maint" generate man "$STAGE/man"
gzip -9n "$STAGE"/man/*.1
"$STAGE/usr/bin/mesos-maint" generate completions bash "$STAGE/completions"
"$STAGE/usr/bin/mesos-maint" generate completions zsh "$STAGE/completions"

# File times and build dates from the last commit: rebuilding the same commit gives the same
# packages.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

step "cargo deb"
# xz: dpkg reads zstd only from Debian 12 / Ubuntu 21.10 on.
cargo deb --no-build --no-strip --target "$TARGET" --compress-type xz --output "$OUT/" >/dev/null

step "cargo generate-rpm"
# xz: rpm 4.11 (CentOS/RHEL 7) cannot read the default zstd payload.
cargo generate-rpm --target "$TARGET" --auto-req no --payload-compress xz --output "$OUT/"

step ""
ls -l "$OUT"/*.deb "$OUT"/*.rpm >&2
