#!/bin/sh
# Packer provisioner: install mesos-maint into an agent image and check the result. Runs as root
# in the build VM (or chroot). Never starts the service: an image build must not drain anything.
#
#   MESOS_MAINT_PACKAGE  the .deb or .rpm copied into the build (required)
#   MESOS_MAINT_CONFIG   optional TOML fragment to install into /etc/mesos-maint/config.d/
set -eu

pkg=${MESOS_MAINT_PACKAGE:?set MESOS_MAINT_PACKAGE to the .deb or .rpm}
log() { echo "mesos-maint provisioner: $*"; }

case "$pkg" in
    *.deb)
        # apt resolves the package's dependencies; a path containing a slash names a file.
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y "$(cd "$(dirname "$pkg")" && pwd)/$(basename "$pkg")"
        ;;
    *.rpm)
        if command -v dnf >/dev/null 2>&1; then dnf install -y "$pkg"; else yum install -y "$pkg"; fi
        ;;
    *)
        log "not a .deb or .rpm: $pkg"
        exit 1
        ;;
esac

if [ -n "${MESOS_MAINT_CONFIG:-}" ]; then
    install -D -m 0644 "$MESOS_MAINT_CONFIG" "/etc/mesos-maint/config.d/$(basename "$MESOS_MAINT_CONFIG")"
    log "installed $MESOS_MAINT_CONFIG"
fi

# Enabled for the next boot, not running now (systemctl works offline in a chroot too).
state=$(systemctl is-enabled mesos-maint.service 2>/dev/null || true)
if [ "$state" != enabled ]; then
    log "mesos-maint.service is '$state', expected 'enabled' (an administrator preset may disable it)"
    exit 1
fi
if systemctl is-active --quiet mesos-maint.service 2>/dev/null; then
    log "mesos-maint.service is running during the image build; it must not be"
    exit 1
fi

# Configuration valid, binary runs, units present, no drain marker baked in. No agent, master
# or bus is expected here. Exit 2: configuration/installation; 3: something unreachable.
mesos-maint self-test --image-build

# An agent identity captured in the image would make every instance the same agent.
for f in /var/lib/mesos/slave/meta/slaves/latest /var/lib/mesos/meta/slaves/latest; do
    if [ -e "$f" ]; then
        log "warning: $f exists: the image carries a Mesos agent id; remove the agent's work_dir metadata before capturing it"
    fi
done
log "done"
