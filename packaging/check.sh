#!/usr/bin/env bash
# Packaging checks (tests/run-all.sh runs this; so does CI):
#
#  1. build the release binary and both packages (packaging/build.sh: one zigbuild, no other
#     release build);
#  2. the binary needs at most GLIBC_2.17 and only libraries every target distribution has;
#  3. the .deb and the .rpm contain exactly the expected files, with the same binary, modes,
#     conffiles and metadata;
#  4. their maintainer scripts, run against stub systemctl/deb-systemd-helper with and without a
#     running systemd, enable the unit but never start it, restart it only after an upgrade and
#     only if it was running, stop it only on removal;
#  5. systemd-analyze verify on the units, and systemd-analyze security --offline on the
#     service, whose exposure must be 2.5 or lower and match docs/benchmarks.md;
#  6. the .deb's files unpacked into a scratch root, where the installed binary's
#     `self-test --image-build` passes (and fails with exit 2 when a drain marker is baked in);
#  7. the Packer snippet validates (packer from Debian) against the built package.
#
# Needs root for the scratch-root chroot and the namespaces (CI is root); without it those parts
# print SKIP. Prints a timing summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${MESOS_MAINT_TARGET:-x86_64-unknown-linux-gnu}
MAX_GLIBC=2.17
MAX_EXPOSURE=2.5
PKG=target/packaging
OUT=$PKG/out
WORK=$PKG/check
t0=$(date +%s)

log() { printf '==> packaging: %s\n' "$*" >&2; }
fail() {
    printf 'FAIL packaging: %s\n' "$*" >&2
    exit 1
}
skip() { printf 'SKIP packaging: %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }

# Debian tools to look into the packages (rpm, rpm2cpio, cpio) and to validate the Packer snippet.
need=()
command -v rpm >/dev/null 2>&1 || need+=(rpm)
command -v rpm2cpio >/dev/null 2>&1 || need+=(rpm2cpio)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v packer >/dev/null 2>&1 || need+=(packer)
command -v objdump >/dev/null 2>&1 || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
        log "installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        skip "missing ${need[*]} (install them, or run as root with apt): no packaging checks"
        exit 0
    fi
fi

# 1 -------------------------------------------------------------------------------------------
# MESOS_MAINT_PACKAGING_SKIP_BUILD=1 reuses target/packaging/ (when iterating on these checks).
if [ "${MESOS_MAINT_PACKAGING_SKIP_BUILD:-}" != 1 ]; then
    bash packaging/build.sh
fi
t_build=$(date +%s)
DEB=$(ls "$OUT"/mesos-maint_*_amd64.deb)
RPM=$(ls "$OUT"/mesos-maint-*.x86_64.rpm)
BIN=$PKG/stage/usr/bin/mesos-maint
rm -rf "$WORK"
mkdir -p "$WORK"

# 2 -------------------------------------------------------------------------------------------
log "glibc symbol versions and libraries of $BIN"
max_glibc=$(objdump -T "$BIN" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)
[ -n "$max_glibc" ] || fail "no GLIBC symbol versions found (not a glibc binary?)"
if [ "$(printf '%s\n%s\n' "$max_glibc" "$MAX_GLIBC" | sort -V | tail -n1)" != "$MAX_GLIBC" ]; then
    fail "the binary needs GLIBC_$max_glibc, more than GLIBC_$MAX_GLIBC (CentOS 7):
$(objdump -T "$BIN" | grep "GLIBC_$max_glibc")"
fi
if objdump -T "$BIN" | grep -q 'GLIBCXX\|CXXABI'; then
    fail "the binary needs libstdc++"
fi
needed=$(objdump -p "$BIN" | awk '/NEEDED/ {print $2}' | sort | tr '\n' ' ')
for lib in $needed; do
    case "$lib" in
    libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | librt.so.1 | libgcc_s.so.1 | ld-linux-x86-64.so.2) ;;
    *) fail "unexpected shared library dependency $lib (needed: $needed)" ;;
    esac
done
"$BIN" --version >/dev/null || fail "the staged binary does not run"
echo "    highest GLIBC symbol version: GLIBC_$max_glibc (limit GLIBC_$MAX_GLIBC); needs: $needed" >&2

# 3 -------------------------------------------------------------------------------------------
log "package contents"
man_pages=$(cd "$PKG/stage/man" && ls)
for page in mesos-maint.1.gz mesos-maint-drain.1.gz mesos-maint-self-test.1.gz mesos-maint-daemon.1.gz; do
    grep -qx "$page" <<<"$man_pages" || fail "man page $page was not generated"
done
expected() { # ZSH_COMPLETIONS_DIR
    cat <<EOF
/etc/mesos-maint/config.d/README
/etc/mesos-maint/hooks.d/README
/usr/bin/mesos-maint
/usr/lib/mesos-maint/config.d/10-package.toml
/usr/lib/systemd/logind.conf.d/mesos-maint.conf
/usr/lib/systemd/system-preset/80-mesos-maint.preset
/usr/lib/systemd/system/mesos-maint.service
/usr/lib/tmpfiles.d/mesos-maint.conf
/usr/share/bash-completion/completions/mesos-maint
$1/_mesos-maint
/usr/share/doc/mesos-maint/README.md
/usr/share/doc/mesos-maint/examples/cloud/60-aws-lifecycle.toml
/usr/share/doc/mesos-maint/examples/cloud/aws-lifecycle-hook.sh
/usr/share/doc/mesos-maint/examples/cloud/cloud-init-user-data.yaml
/usr/share/doc/mesos-maint/examples/cloud/iam-policy.json
/usr/share/doc/mesos-maint/examples/hooks/post-drain/50-notify
/usr/share/doc/mesos-maint/examples/hooks/pre-drain/50-kafka-replace-broker
/usr/share/doc/mesos-maint/examples/packer/mesos-maint.pkr.hcl
/usr/share/doc/mesos-maint/examples/packer/provision-mesos-maint.sh
EOF
    sed 's|^|/usr/share/man/man1/|' <<<"$man_pages"
}
# The .deb also carries the copyright file cargo-deb writes (Debian policy).
{
    expected /usr/share/zsh/vendor-completions
    echo /usr/share/doc/mesos-maint/copyright
} | sort >"$WORK/deb.expected"
expected /usr/share/zsh/site-functions | sort >"$WORK/rpm.expected"
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}' | sort >"$WORK/deb.files"
rpm -qlp "$RPM" 2>/dev/null | sort >"$WORK/rpm.files"
diff -u "$WORK/deb.expected" "$WORK/deb.files" || fail ".deb contents differ from the expected list (above)"
diff -u "$WORK/rpm.expected" "$WORK/rpm.files" || fail ".rpm contents differ from the expected list (above)"

# Modes and owners: the binary 0755, everything else 0644, all root.
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $1, $2, $6}' >"$WORK/deb.modes"
grep -qx -- '-rwxr-xr-x 0/0 /usr/bin/mesos-maint' "$WORK/deb.modes" || fail ".deb: /usr/bin/mesos-maint is not 0755 root"
if grep -v ' /usr/bin/mesos-maint$' "$WORK/deb.modes" | grep -v '^-rw-r--r-- 0/0 '; then
    fail ".deb: files above are not 0644 root"
fi
rpm -qp --queryformat '[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} %{FILENAMES}\n]' "$RPM" 2>/dev/null >"$WORK/rpm.modes"
grep -qx -- '-rwxr-xr-x root/root /usr/bin/mesos-maint' "$WORK/rpm.modes" || fail ".rpm: /usr/bin/mesos-maint is not 0755 root"
if grep -v ' /usr/bin/mesos-maint$' "$WORK/rpm.modes" | grep -v '^-rw-r--r-- root/root '; then
    fail ".rpm: files above are not 0644 root"
fi

# Configuration files: the /etc READMEs (dpkg conffiles; rpm %config(noreplace)), nothing else.
mkdir -p "$WORK/deb-control"
dpkg-deb -e "$DEB" "$WORK/deb-control"
printf '/etc/mesos-maint/config.d/README\n/etc/mesos-maint/hooks.d/README\n' >"$WORK/conf.expected"
sort "$WORK/deb-control/conffiles" | diff -u "$WORK/conf.expected" - || fail ".deb conffiles"
rpm -qcp "$RPM" 2>/dev/null | sort | diff -u "$WORK/conf.expected" - || fail ".rpm config files"

# Metadata.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
control=$(dpkg-deb -f "$DEB" Package Version Architecture Depends)
grep -qx "Version: $version-1" <<<"$control" || fail ".deb version: $control"
grep -qx "Architecture: amd64" <<<"$control" || fail ".deb architecture: $control"
grep -q "^Depends: .*libc6 (>= 2.17)" <<<"$control" || fail ".deb depends: $control"
[ "$(rpm -qp --queryformat '%{NAME} %{VERSION} %{RELEASE} %{ARCH}' "$RPM" 2>/dev/null)" = "mesos-maint $version 1 x86_64" ] ||
    fail ".rpm name/version/arch: $(rpm -qip "$RPM" 2>/dev/null | head -n5)"
rpm -qp --requires "$RPM" 2>/dev/null | grep -qx 'glibc >= 2.17' || fail ".rpm requires: $(rpm -qp --requires "$RPM" 2>/dev/null)"
# Compressions the oldest targets read: xz (dpkg before 1.21.18 and rpm 4.11 know no zstd).
ar t "$DEB" | grep -qx data.tar.xz || fail ".deb data is not xz: $(ar t "$DEB" | tr '\n' ' ')"
[ "$(rpm -qp --queryformat '%{PAYLOADCOMPRESSOR}' "$RPM" 2>/dev/null)" = xz ] || fail ".rpm payload is not xz"

# Both packages carry the same binary, the staged one.
mkdir -p "$WORK/deb-root" "$WORK/rpm-root"
dpkg-deb -x "$DEB" "$WORK/deb-root"
rpm -K "$RPM" >/dev/null 2>&1 || fail ".rpm digests: $(rpm -Kv "$RPM" 2>&1)"
# rpm2cpio exits 1 on these packages (it compares the bytes it copied with a payload size tag
# that cargo-generate-rpm leaves out); the digests above and the checksums below are the check.
(cd "$WORK/rpm-root" && { rpm2cpio "$OLDPWD/$RPM" || true; } | cpio -idm --quiet)
sums=$(sha256sum "$BIN" "$WORK/deb-root/usr/bin/mesos-maint" "$WORK/rpm-root/usr/bin/mesos-maint" | awk '{print $1}' | sort -u | wc -l)
[ "$sums" = 1 ] || fail "the .deb, the .rpm and the staged binary differ"
for f in systemd/mesos-maint.service systemd/logind-mesos-maint.conf systemd/config.d/10-package.toml; do
    case "$f" in
    *logind*) dest=usr/lib/systemd/logind.conf.d/mesos-maint.conf ;;
    *.service) dest=usr/lib/systemd/system/mesos-maint.service ;;
    *) dest=usr/lib/mesos-maint/config.d/10-package.toml ;;
    esac
    cmp -s "$f" "$WORK/deb-root/$dest" && cmp -s "$f" "$WORK/rpm-root/$dest" || fail "$dest differs from $f"
done

# 4 -------------------------------------------------------------------------------------------
log "maintainer scripts (stub systemctl, deb-systemd-helper, deb-systemd-invoke, systemd-tmpfiles, rm)"
for s in "$WORK"/deb-control/{postinst,prerm,postrm} packaging/rpm/*.sh; do
    sh -n "$s" || fail "syntax: $s"
done
for pair in "post.sh:%{POSTIN}" "preun.sh:%{PREUN}" "postun.sh:%{POSTUN}"; do
    file=packaging/rpm/${pair%%:*}
    rpm -qp --queryformat "${pair#*:}" "$RPM" 2>/dev/null >"$WORK/rpm-script"
    diff -q <(sed -e '$a\' "$file") <(sed -e '$a\' "$WORK/rpm-script") >/dev/null || fail "the .rpm's ${pair#*:} is not $file"
done
stubs=$WORK/stubs
mkdir -p "$stubs"
for cmd in systemctl deb-systemd-helper deb-systemd-invoke systemd-tmpfiles rm; do
    printf '#!/bin/sh\necho "%s $*" >>"$CALLS"\nexit 0\n' "$cmd" >"$stubs/$cmd"
    chmod +x "$stubs/$cmd"
done
# run_script SYSTEMD_RUNNING(yes|no) SCRIPT ARGS...: the commands it ran, one per line.
run_script() {
    local running=$1
    shift
    export CALLS=$WORK/calls
    : >"$CALLS"
    if [ "$running" = yes ]; then
        # A private mount namespace where /run/systemd/system exists, as on a booted host.
        unshare -m --propagation private sh -c \
            'mount -t tmpfs tmpfs /run/systemd 2>/dev/null || { mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd; }
             mkdir -p /run/systemd/system && PATH="$0:$PATH" exec sh "$@"' "$stubs" "$@"
    else
        PATH="$stubs:$PATH" sh "$@"
    fi >/dev/null 2>&1 || fail "$* exited non-zero"
    sed 's/ *$//' "$CALLS"
}
expect_calls() { # NAME EXPECTED ACTUAL
    [ "$2" = "$3" ] || fail "$1: expected
$2
got
$3"
}
if [ -d /run/systemd/system ]; then
    skip "maintainer scripts without systemd (this machine runs systemd)"
else
    # Image build (chroot, or a machine without a running systemd): enable, nothing else.
    expect_calls "deb postinst, image build" "deb-systemd-helper unmask mesos-maint.service
deb-systemd-helper --quiet was-enabled mesos-maint.service
deb-systemd-helper enable mesos-maint.service" \
        "$(run_script no "$WORK/deb-control/postinst" configure)"
    expect_calls "rpm post, image build" "systemd-tmpfiles --create /usr/lib/tmpfiles.d/mesos-maint.conf
systemctl --no-reload preset mesos-maint.service" "$(run_script no packaging/rpm/post.sh 1)"
fi
if is_root && command -v unshare >/dev/null 2>&1 && unshare -m true 2>/dev/null; then
    D=$WORK/deb-control
    expect_calls "deb postinst, install" "systemd-tmpfiles --create mesos-maint.conf
deb-systemd-helper unmask mesos-maint.service
deb-systemd-helper --quiet was-enabled mesos-maint.service
deb-systemd-helper enable mesos-maint.service
systemctl --system daemon-reload" "$(run_script yes "$D/postinst" configure)"
    expect_calls "deb postinst, upgrade" "systemd-tmpfiles --create mesos-maint.conf
deb-systemd-helper unmask mesos-maint.service
deb-systemd-helper --quiet was-enabled mesos-maint.service
deb-systemd-helper enable mesos-maint.service
systemctl --system daemon-reload
deb-systemd-invoke try-restart mesos-maint.service" "$(run_script yes "$D/postinst" configure 0.0.1-1)"
    expect_calls "deb prerm, upgrade" "" "$(run_script yes "$D/prerm" upgrade "$version-1")"
    expect_calls "deb prerm, remove" "deb-systemd-invoke stop mesos-maint.service" "$(run_script yes "$D/prerm" remove)"
    expect_calls "deb postrm, upgrade" "systemctl --system daemon-reload" "$(run_script yes "$D/postrm" upgrade "$version-1")"
    # The helper exists on a Debian host; the stub answers in its place.
    if [ -x /usr/bin/deb-systemd-helper ]; then
        # (daemon-reload first: the order dh_installsystemd's snippets have in a postrm too)
        expect_calls "deb postrm, remove" "systemctl --system daemon-reload
deb-systemd-helper mask mesos-maint.service" "$(run_script yes "$D/postrm" remove)"
        expect_calls "deb postrm, purge" "systemctl --system daemon-reload
deb-systemd-helper purge mesos-maint.service
deb-systemd-helper unmask mesos-maint.service
rm -rf /var/lib/mesos-maint" "$(run_script yes "$D/postrm" purge)"
    fi
    R=packaging/rpm
    expect_calls "rpm post, install" "systemd-tmpfiles --create /usr/lib/tmpfiles.d/mesos-maint.conf
systemctl --no-reload preset mesos-maint.service
systemctl daemon-reload" "$(run_script yes $R/post.sh 1)"
    expect_calls "rpm post, upgrade" "systemd-tmpfiles --create /usr/lib/tmpfiles.d/mesos-maint.conf
systemctl daemon-reload" "$(run_script yes $R/post.sh 2)"
    expect_calls "rpm preun, upgrade" "" "$(run_script yes $R/preun.sh 1)"
    expect_calls "rpm preun, remove" "systemctl --no-reload disable mesos-maint.service
systemctl stop mesos-maint.service" "$(run_script yes $R/preun.sh 0)"
    expect_calls "rpm postun, upgrade" "systemctl daemon-reload
systemctl try-restart mesos-maint.service" "$(run_script yes $R/postun.sh 1)"
    expect_calls "rpm postun, remove" "systemctl daemon-reload" "$(run_script yes $R/postun.sh 0)"
else
    skip "maintainer scripts with a running systemd (needs root and unshare)"
fi
# Never a start (nor a plain restart, which starts a stopped unit), in any script; comments
# and messages aside.
if grep -nHv -e '^[[:space:]]*#' -e 'echo ' "$WORK"/deb-control/{postinst,prerm,postrm} packaging/rpm/*.sh |
    grep -E 'invoke (start|restart)|systemctl (start|restart)|--now'; then
    fail "a maintainer script starts the service (above)"
fi

# 5 -------------------------------------------------------------------------------------------
log "systemd-analyze verify and security"
root=$WORK/deb-root
# The unit as installed, checked against a root holding this machine's stock units (the
# targets it is ordered against), /bin/kill (ExecReload) and, through MANPATH, the package's man
# pages (Documentation=). Any message at all fails.
vroot=$WORK/verify-root
cp -a "$root" "$vroot"
cp -an /lib/systemd/system/. "$vroot/usr/lib/systemd/system/"
cp /bin/kill "$vroot/usr/bin/kill"
ln -s usr/bin "$vroot/bin"
if ! MANPATH=$vroot/usr/share/man systemd-analyze verify --root="$vroot" \
    /usr/lib/systemd/system/mesos-maint.service >"$WORK/verify.log" 2>&1 ||
    grep -q . "$WORK/verify.log"; then
    cat "$WORK/verify.log" >&2
    fail "systemd-analyze verify reported the problems above"
fi
# The tmpfiles.d entry, applied to the scratch root: it must create the state directory 0700.
systemd-tmpfiles --root="$root" --create mesos-maint.conf ||
    fail "systemd-tmpfiles rejected usr/lib/tmpfiles.d/mesos-maint.conf"
[ "$(stat -c %a "$root/var/lib/mesos-maint")" = 700 ] || fail "tmpfiles did not create /var/lib/mesos-maint 0700"
security=$(systemd-analyze security --offline=true --root="$root" mesos-maint.service 2>&1 | tail -n1)
exposure=$(sed -n 's/.*Overall exposure level for mesos-maint.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' <<<"$security")
[ -n "$exposure" ] || fail "no exposure level in: $security"
awk -v e="${exposure% *}" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' ||
    fail "exposure $exposure is above $MAX_EXPOSURE"
grep -q "exposure level: \*\*$exposure\*\*" docs/benchmarks.md ||
    fail "docs/benchmarks.md does not record the exposure level **$exposure** (Packaging section)"
echo "    systemd-analyze security --offline=true: $exposure (limit $MAX_EXPOSURE)" >&2

# 6 -------------------------------------------------------------------------------------------
log "self-test of the installed binary in a scratch root"
if is_root && command -v chroot >/dev/null 2>&1; then
    # The binary's loader and libraries, from this machine, so it runs inside the root.
    for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    chroot "$root" /usr/bin/mesos-maint --json self-test --image-build >"$WORK/self-test.json" 2>"$WORK/self-test.err" ||
        { cat "$WORK/self-test.json" "$WORK/self-test.err" >&2; fail "self-test --image-build in the scratch root exited $?"; }
    python3 - "$WORK/self-test.json" <<'EOF' || fail "self-test report (above)"
import json, sys
r = json.load(open(sys.argv[1]))
c = {x["name"]: x for x in r["checks"]}
def want(name, status, text=""):
    got = c[name]
    assert got["status"] == status and text in got["detail"], f"{name}: {got}"
want("config", "pass", "/usr/lib/mesos-maint/config.d/10-package.toml")
want("units", "pass", "/usr/lib/systemd/system/mesos-maint.service")
want("dbus", "skip")
want("agent-api", "skip")
want("master-api", "skip")
assert r["ok"] and r["exit_code"] == 0 and r["image_build"], r
EOF
    # A drain marker baked into an image is an installation error: exit 2.
    mkdir -p "$root/var/lib/mesos-maint"
    printf '{"version":1,"agent_id":"a1","boot_id":"b","trigger":"manual","policy":{"decommission":false,"stop_units":true,"stop_docker":true,"force":false},"stage":"Done","master":"http://m:5050","reason":null,"max_grace_period_secs":null,"started_at":1,"updated_at":1,"deadline_at":null}\n' \
        >"$root/var/lib/mesos-maint/drain.json"
    set +e
    chroot "$root" /usr/bin/mesos-maint self-test --image-build >"$WORK/self-test-marker.txt" 2>&1
    rc=$?
    set -e
    [ "$rc" = 2 ] && grep -q 'FAIL  state-dir .*drain marker' "$WORK/self-test-marker.txt" ||
        { cat "$WORK/self-test-marker.txt" >&2; fail "self-test with a baked-in drain marker exited $rc, expected 2"; }
    rm -f "$root/var/lib/mesos-maint/drain.json"
else
    skip "self-test in a scratch root (needs root for chroot)"
fi

# 7 -------------------------------------------------------------------------------------------
log "packer validate"
P=$WORK/packer
mkdir -p "$P"
cp packaging/packer/mesos-maint.pkr.hcl packaging/packer/provision-mesos-maint.sh "$P/"
# The snippet names the user's own source; a null source stands in for it here.
sed -i 's/source\.amazon-ebs\.agent/source.null.agent/' "$P/mesos-maint.pkr.hcl"
printf 'source "null" "agent" {\n  communicator = "none"\n}\n' >"$P/source.pkr.hcl"
(cd "$P" && packer validate -var "mesos_maint_package=$OLDPWD/$DEB" . >/dev/null) ||
    (cd "$P" && packer validate -var "mesos_maint_package=$OLDPWD/$DEB" .) || fail "packer validate"
sh -n packaging/packer/provision-mesos-maint.sh

t1=$(date +%s)
{
    echo "packaging: all checks passed in $((t1 - t0))s (build.sh $((t_build - t0))s, checks $((t1 - t_build))s)"
    cat "$PKG/timings.txt"
    echo "    $(basename "$DEB") $(stat -c %s "$DEB") bytes, $(basename "$RPM") $(stat -c %s "$RPM") bytes, exposure $exposure, GLIBC_$max_glibc"
} >&2
