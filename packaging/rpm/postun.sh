# mesos-maint %postun ($1: 0 removal, 1+ upgrade). As %systemd_postun_with_restart: reload the
# units, and after an upgrade restart the service only if it was running (try-restart).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -ge 1 ]; then
    systemctl try-restart mesos-maint.service >/dev/null 2>&1 || :
fi
