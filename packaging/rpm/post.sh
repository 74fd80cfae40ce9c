# mesos-maint %post ($1: 1 first install, 2+ upgrade). As %tmpfiles_create and %systemd_post:
# enable through the preset (80-mesos-maint.preset says enable; an administrator's preset wins),
# never start (an image build must not start the service).
systemd-tmpfiles --create /usr/lib/tmpfiles.d/mesos-maint.conf >/dev/null 2>&1 || :
if [ "$1" -eq 1 ]; then
    systemctl --no-reload preset mesos-maint.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
