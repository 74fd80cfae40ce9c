//! No repair in the middle of a drain: a drain stops the agent and Docker on purpose, and a
//! restart from `health --repair` or the daemon's `auto_repair` would bring back what it just
//! stopped (or restart the agent under a drain still waiting for its tasks). A drain is under
//! way while a process holds the drain lock, or while the marker records a stage that is not
//! final (a drain killed mid-way is resumed, not forgotten). Read-only: nothing is created.

use std::path::Path;

use crate::drain::{lock, Marker, MarkerStore};

/// Why no repair may run now (`Some`: a one-line reason), from what the state dir says.
pub fn drain_under_way(state_dir: &Path) -> Option<String> {
    drain_reason(lock::holder(state_dir), MarkerStore::new(state_dir).load())
}

/// The decision of [`drain_under_way`]: the drain lock's holder (a pid) and the marker as read.
/// A marker that cannot be read counts as a drain: the rule must not be lost silently.
pub fn drain_reason(
    lock_holder: Option<String>,
    marker: std::io::Result<Option<Marker>>,
) -> Option<String> {
    if let Some(pid) = lock_holder {
        return Some(format!(
            "a drain is running on this node (mesos-maint pid {pid} holds the drain lock)"
        ));
    }
    match marker {
        Ok(Some(m)) if m.unfinished() => Some(format!(
            "a {} drain of agent {} is in progress on this node (marker at stage {}); finish \
             it or `mesos-maint reactivate` first",
            format!("{:?}", m.trigger).to_lowercase(),
            m.agent_id,
            m.stage
        )),
        Ok(_) => None,
        Err(e) => Some(format!(
            "the drain marker cannot be read ({e}), so a drain in progress cannot be ruled out"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::{DrainOptions, Stage, Trigger};

    fn marker(stage: Stage) -> Marker {
        let mut m = Marker::new(
            "S1",
            Trigger::Manual,
            DrainOptions {
                decommission: false,
                stop_units: true,
                stop_docker: true,
                force: false,
            },
            "http://m:5050/",
            None,
            None,
            None,
        );
        m.stage = stage;
        m
    }

    #[test]
    fn the_lock_or_an_unfinished_marker_is_a_drain_under_way() {
        assert_eq!(drain_reason(None, Ok(None)), None, "nothing: no drain");
        let held = drain_reason(Some("4242".into()), Ok(None)).unwrap();
        assert!(held.contains("pid 4242"), "{held}");
        let mid = drain_reason(None, Ok(Some(marker(Stage::AwaitDrained)))).unwrap();
        assert!(mid.contains("stage AwaitDrained"), "{mid}");
        assert!(mid.contains("agent S1"), "{mid}");
        for done in [Stage::Done, Stage::Failed, Stage::DeadlineExceeded] {
            assert_eq!(
                drain_reason(None, Ok(Some(marker(done)))),
                None,
                "{done:?} is final"
            );
        }
        let unreadable = drain_reason(
            None,
            Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "bad")),
        )
        .unwrap();
        assert!(unreadable.contains("cannot be read"), "{unreadable}");
    }
}
