//! Hand-written D-Bus proxies for the parts of `org.freedesktop.systemd1` this tool uses.
//!
//! Only the methods, properties and signals actually called are declared; see
//! `org.freedesktop.systemd1(5)` for the full interfaces.

use zbus::zvariant::{ObjectPath, OwnedObjectPath};

/// `org.freedesktop.systemd1.Manager` on `/org/freedesktop/systemd1`.
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1",
    gen_blocking = false
)]
pub trait Manager {
    /// Object path of the unit, loading it from disk first if needed. Works for units that do
    /// not exist (their `LoadState` is then `not-found`).
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    /// Object path of an already loaded unit (`NoSuchUnit` otherwise).
    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    /// Queue a start job; returns the job's object path.
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    /// Queue a stop job; returns the job's object path.
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    /// Queue a restart job (stop, then start); returns the job's object path.
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    /// Send `signal` to the unit's processes; `whom` is `main`, `control` or `all`.
    fn kill_unit(&self, name: &str, whom: &str, signal: i32) -> zbus::Result<()>;

    /// Ask the manager to emit its signals (`JobRemoved` among them) while this client is
    /// connected.
    fn subscribe(&self) -> zbus::Result<()>;

    /// The manager's version string, e.g. `252.38-1~deb12u1`.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> zbus::Result<String>;

    /// A job finished: `result` is `done`, `canceled`, `timeout`, `failed`, `dependency` or
    /// `skipped`.
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: ObjectPath<'_>,
        unit: &str,
        result: &str,
    ) -> zbus::Result<()>;
}

/// `org.freedesktop.systemd1.Unit` on a unit object (path from `LoadUnit`/`GetUnit`).
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1",
    gen_blocking = false
)]
pub trait Unit {
    /// The unit's primary name.
    #[zbus(property)]
    fn id(&self) -> zbus::Result<String>;

    /// `loaded`, `not-found`, `bad-setting`, `error` or `masked`.
    #[zbus(property)]
    fn load_state(&self) -> zbus::Result<String>;

    /// `active`, `reloading`, `inactive`, `failed`, `activating` or `deactivating`.
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;

    /// Type-specific state, e.g. `running`, `dead`, `listening`.
    #[zbus(property)]
    fn sub_state(&self) -> zbus::Result<String>;

    /// When the unit last entered `active` (µs since the epoch, 0 when never).
    #[zbus(property)]
    fn active_enter_timestamp(&self) -> zbus::Result<u64>;
}

/// `org.freedesktop.systemd1.Service` on a `.service` unit object.
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1",
    gen_blocking = false
)]
pub trait Service {
    /// PID of the main process, 0 when there is none.
    #[zbus(property, name = "MainPID")]
    fn main_pid(&self) -> zbus::Result<u32>;

    /// Automatic restarts (`Restart=`) since the unit was last started by hand (systemd 235+).
    #[zbus(property, name = "NRestarts")]
    fn n_restarts(&self) -> zbus::Result<u32>;
}
