//! logind as the tests see it independently of the code under test: through `busctl` on the
//! sandbox's bus.

use super::sandbox::Sandbox;

/// The inhibitor locks of `who` as `ListInhibitors` lists them, one JSON array
/// `[what, who, why, mode, uid, pid]` per lock.
pub fn inhibitors_of(sb: &Sandbox, who: &str) -> Vec<serde_json::Value> {
    let out = sb.busctl(&[
        "--json=short",
        "call",
        "org.freedesktop.login1",
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager",
        "ListInhibitors",
    ]);
    assert!(
        out.status.success(),
        "busctl ListInhibitors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("busctl JSON");
    v["data"][0]
        .as_array()
        .expect("a(ssssuu)")
        .iter()
        .filter(|row| row[1] == who)
        .cloned()
        .collect()
}

/// logind's `Reboot(false)` (as `systemctl reboot` would ask for it); asserts logind took it.
pub fn reboot(sb: &Sandbox) {
    let out = sb.busctl(&[
        "call",
        "org.freedesktop.login1",
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager",
        "Reboot",
        "b",
        "false",
    ]);
    assert!(
        out.status.success(),
        "busctl Reboot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
