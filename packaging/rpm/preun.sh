# mesos-maint %preun ($1: 0 removal, 1+ upgrade). As %systemd_preun on EL7 (systemd 219 has no
# `disable --now`): on removal only, disable and stop the service.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable mesos-maint.service >/dev/null 2>&1 || :
    systemctl stop mesos-maint.service >/dev/null 2>&1 || :
fi
