//! Hand-written D-Bus proxy for the parts of `org.freedesktop.login1.Manager` this tool uses.
//!
//! Only the members actually called are declared; see `org.freedesktop.login1(5)` for the full
//! interface.

use zbus::zvariant::OwnedFd;

/// One row of `ListInhibitors`: `(what, who, why, mode, uid, pid)`.
pub type InhibitorRow = (String, String, String, String, u32, u32);

/// `org.freedesktop.login1.Manager` on `/org/freedesktop/login1`.
#[zbus::proxy(
    interface = "org.freedesktop.login1.Manager",
    default_service = "org.freedesktop.login1",
    default_path = "/org/freedesktop/login1",
    gen_blocking = false
)]
pub trait LoginManager {
    /// Take an inhibitor lock. `what` is a colon-separated list (`shutdown`, `sleep`, `idle`,
    /// `handle-power-key`, ...), `mode` is `block` or `delay`. The lock lasts as long as the
    /// returned file descriptor (the write end of a FIFO logind watches) stays open.
    fn inhibit(&self, what: &str, who: &str, why: &str, mode: &str) -> zbus::Result<OwnedFd>;

    /// All inhibitor locks currently held, by anyone.
    fn list_inhibitors(&self) -> zbus::Result<Vec<InhibitorRow>>;

    /// Reboot the machine (through `reboot.target`), after the delay inhibitors are released
    /// or `InhibitDelayMaxUSec` passed. `interactive` allows a polkit authentication dialog.
    fn reboot(&self, interactive: bool) -> zbus::Result<()>;

    /// How long logind waits for delay inhibitors before it goes ahead, in microseconds.
    #[zbus(property, name = "InhibitDelayMaxUSec")]
    fn inhibit_delay_max_usec(&self) -> zbus::Result<u64>;

    /// True between `PrepareForShutdown(true)` and the end of the operation.
    #[zbus(property)]
    fn preparing_for_shutdown(&self) -> zbus::Result<bool>;

    /// Sent with `start = true` when a shutdown or reboot begins (delay inhibitors now have up
    /// to `InhibitDelayMaxUSec` to finish their work and close their lock), and with
    /// `start = false` when the operation finished or was cancelled.
    #[zbus(signal)]
    fn prepare_for_shutdown(&self, start: bool) -> zbus::Result<()>;
}
