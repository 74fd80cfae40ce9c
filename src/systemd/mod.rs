//! systemd (org.freedesktop.systemd1) over D-Bus: unit lookup, stop/start/kill with job tracking.
