//! Errors of the systemd client, and the mapping from zbus errors.

use std::time::Duration;

use zbus::DBusError as _;

/// D-Bus error names this module recognises.
pub(crate) mod names {
    pub const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
    pub const INTERACTIVE_AUTH: &str =
        "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired";
    pub const SERVICE_UNKNOWN: &str = "org.freedesktop.DBus.Error.ServiceUnknown";
    pub const NAME_HAS_NO_OWNER: &str = "org.freedesktop.DBus.Error.NameHasNoOwner";
    pub const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
    pub const NO_SUCH_PROCESS: &str = "org.freedesktop.systemd1.NoSuchProcess";
}

/// Why a systemd operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    /// The system bus cannot be reached, or systemd is not on it.
    #[error(
        "cannot reach systemd on the system bus at {address}: {detail} \
         (is dbus running? DBUS_SYSTEM_BUS_ADDRESS overrides the address)"
    )]
    BusUnavailable { address: String, detail: String },

    /// systemd (or polkit) refused the request.
    #[error("systemd refused the request: {detail} (not root?)")]
    AccessDenied { detail: String },

    /// The unit does not exist (or, for a kill, is not loaded).
    #[error("unit {unit} not found")]
    NoSuchUnit { unit: String },

    /// The job finished with a result other than `done`.
    #[error(
        "{action} job for {unit} finished with result '{result}' \
         (see `systemctl status {unit}` and `journalctl -u {unit}`)"
    )]
    JobFailed {
        unit: String,
        action: &'static str,
        result: String,
    },

    /// The job did not finish in time; it is left queued or running in systemd.
    #[error("{action} job for {unit} did not finish within {}", humantime::format_duration(*.after))]
    JobTimeout {
        unit: String,
        action: &'static str,
        after: Duration,
    },

    /// Any other D-Bus failure, with context.
    #[error("D-Bus: {0}")]
    DBus(String),
}

/// The D-Bus error name and message carried by a zbus error, if it is a D-Bus error reply.
pub(crate) fn dbus_error_name(err: &zbus::Error) -> Option<(String, String)> {
    match err {
        zbus::Error::MethodError(name, detail, _) => {
            Some((name.to_string(), detail.clone().unwrap_or_default()))
        }
        zbus::Error::FDO(fdo) => match fdo.as_ref() {
            zbus::fdo::Error::ZBus(inner) => dbus_error_name(inner),
            other => Some((
                other.name().to_string(),
                other.description().unwrap_or_default().to_owned(),
            )),
        },
        _ => None,
    }
}

/// Map an error of a call on an established connection.
///
/// `unit` names the unit the call was about (for `NoSuchUnit`), `what` describes the call for
/// the catch-all `DBus` variant, and `address` is the bus address (for `BusUnavailable` when
/// systemd is not on the bus at all).
pub(crate) fn map_call_error(
    err: zbus::Error,
    address: &str,
    unit: Option<&str>,
    what: &str,
) -> SystemdError {
    if let Some((name, message)) = dbus_error_name(&err) {
        match name.as_str() {
            names::ACCESS_DENIED | names::INTERACTIVE_AUTH => {
                return SystemdError::AccessDenied {
                    detail: format!("{what}: {message}"),
                }
            }
            names::NO_SUCH_UNIT => {
                return SystemdError::NoSuchUnit {
                    unit: unit.map_or_else(|| message.clone(), str::to_owned),
                }
            }
            names::SERVICE_UNKNOWN | names::NAME_HAS_NO_OWNER => {
                return SystemdError::BusUnavailable {
                    address: address.to_owned(),
                    detail: format!("org.freedesktop.systemd1 is not on this bus ({message})"),
                }
            }
            _ => {}
        }
        // The bus tried to start systemd on demand and could not (a bus whose
        // org.freedesktop.systemd1 activation file runs /bin/false: systemd is not PID 1).
        if name.starts_with("org.freedesktop.DBus.Error.Spawn.") {
            return SystemdError::BusUnavailable {
                address: address.to_owned(),
                detail: format!("systemd is not running on this bus ({name}: {message})"),
            };
        }
        if name.ends_with(".AccessDenied") {
            return SystemdError::AccessDenied {
                detail: format!("{what}: {name}: {message}"),
            };
        }
        return SystemdError::DBus(format!("{what}: {name}: {message}"));
    }
    SystemdError::DBus(format!("{what}: {err}"))
}

/// Map an error while establishing the connection: `AccessDenied` when the bus socket may not
/// be opened by this user, otherwise `BusUnavailable`.
pub(crate) fn map_connect_error(err: zbus::Error, address: &str) -> SystemdError {
    let io_kind = match &err {
        zbus::Error::Connection(io, _) | zbus::Error::InputOutput(io) => Some(io.kind()),
        _ => None,
    };
    if io_kind == Some(std::io::ErrorKind::PermissionDenied) {
        return SystemdError::AccessDenied {
            detail: format!("connecting to the system bus at {address}: {err}"),
        };
    }
    SystemdError::BusUnavailable {
        address: address.to_owned(),
        detail: err.to_string(),
    }
}

/// A real D-Bus error reply to a call of `member` on `path` (unit tests of the error mapping).
#[cfg(test)]
pub(crate) fn error_reply(path: &str, member: &str, name: &str, message: &str) -> zbus::Error {
    use zbus::message::Message;
    let call = Message::method_call(path, member)
        .unwrap()
        .build(&())
        .unwrap();
    let reply = Message::error(&call.header(), name)
        .unwrap()
        .build(&(message,))
        .unwrap();
    zbus::Error::from(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method_error(name: &str, message: &str) -> zbus::Error {
        error_reply("/org/freedesktop/systemd1", "StopUnit", name, message)
    }

    const ADDR: &str = "unix:path=/run/dbus/system_bus_socket";

    #[test]
    fn reply_error_name_is_extracted() {
        let err = method_error(names::NO_SUCH_UNIT, "Unit foo.service not loaded.");
        assert_eq!(
            dbus_error_name(&err),
            Some((
                names::NO_SUCH_UNIT.to_owned(),
                "Unit foo.service not loaded.".to_owned()
            ))
        );
        assert_eq!(dbus_error_name(&zbus::Error::InvalidReply), None);
    }

    #[test]
    fn no_such_unit_names_the_unit() {
        let err = method_error(names::NO_SUCH_UNIT, "Unit foo.service not loaded.");
        match map_call_error(err, ADDR, Some("foo.service"), "stopping foo.service") {
            SystemdError::NoSuchUnit { unit } => assert_eq!(unit, "foo.service"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn access_denied_in_both_forms() {
        let reply = method_error(names::ACCESS_DENIED, "Access denied");
        let fdo = zbus::Error::from(zbus::fdo::Error::AccessDenied("Permission denied".into()));
        let interactive = zbus::Error::from(zbus::fdo::Error::InteractiveAuthorizationRequired(
            "Interactive authentication required.".into(),
        ));
        for err in [reply, fdo, interactive] {
            let mapped = map_call_error(err, ADDR, Some("x.service"), "stopping x.service");
            assert!(
                matches!(mapped, SystemdError::AccessDenied { .. }),
                "{mapped:?}"
            );
            assert!(mapped.to_string().contains("not root?"), "{mapped}");
        }
    }

    #[test]
    fn systemd_missing_from_bus_is_bus_unavailable() {
        let err = zbus::Error::from(zbus::fdo::Error::ServiceUnknown(
            "The name org.freedesktop.systemd1 was not provided by any .service files".into(),
        ));
        match map_call_error(err, ADDR, None, "reading Version") {
            SystemdError::BusUnavailable { address, detail } => {
                assert_eq!(address, ADDR);
                assert!(detail.contains("not on this bus"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn failed_activation_is_bus_unavailable() {
        let err = method_error(
            "org.freedesktop.DBus.Error.Spawn.ChildExited",
            "Process org.freedesktop.systemd1 exited with status 1",
        );
        match map_call_error(err, ADDR, None, "reading the systemd version") {
            SystemdError::BusUnavailable { detail, .. } => {
                assert!(detail.contains("not running"), "{detail}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn other_errors_keep_context() {
        let err = method_error(
            "org.freedesktop.DBus.Error.InvalidArgs",
            "Signal number out of range.",
        );
        let mapped = map_call_error(err, ADDR, Some("docker.service"), "killing docker.service");
        match &mapped {
            SystemdError::DBus(s) => {
                assert!(s.contains("killing docker.service"), "{s}");
                assert!(s.contains("InvalidArgs"), "{s}");
                assert!(s.contains("out of range"), "{s}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let mapped = map_call_error(zbus::Error::InvalidReply, ADDR, None, "loading x");
        assert!(matches!(mapped, SystemdError::DBus(_)));
    }

    #[test]
    fn connect_errors_are_bus_unavailable() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let err = zbus::Error::InputOutput(std::sync::Arc::new(io));
        match map_connect_error(err, "unix:path=/nonexistent") {
            SystemdError::BusUnavailable { address, .. } => {
                assert_eq!(address, "unix:path=/nonexistent")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_bus_socket_we_may_not_open_is_access_denied() {
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let addr: zbus::Address = "unix:path=/run/x/bus".try_into().unwrap();
        let err = zbus::Error::Connection(std::sync::Arc::new(io), addr);
        let mapped = map_connect_error(err, "unix:path=/run/x/bus");
        assert!(
            matches!(&mapped, SystemdError::AccessDenied { detail } if detail.contains("unix:path=/run/x/bus")),
            "{mapped:?}"
        );
        assert!(mapped.to_string().contains("not root?"), "{mapped}");
    }

    #[test]
    fn messages_are_readable() {
        let e = SystemdError::JobTimeout {
            unit: "dcos-mesos-slave.service".into(),
            action: "stop",
            after: Duration::from_secs(300),
        };
        assert_eq!(
            e.to_string(),
            "stop job for dcos-mesos-slave.service did not finish within 5m"
        );
        let e = SystemdError::JobFailed {
            unit: "docker.service".into(),
            action: "start",
            result: "failed".into(),
        };
        assert!(e
            .to_string()
            .starts_with("start job for docker.service finished with result 'failed'"));
    }
}
