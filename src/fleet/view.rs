//! What a group's status means for one holder: the slot `status`/`check` show and the one
//! `drain --dry-run` previews. Pure; the commands ask the lock (`FleetLock::status`) and hand the
//! answer here.

use serde::Serialize;

use super::{GroupStatus, Holder};

/// This node's slot as a group's status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "slot", rename_all = "snake_case")]
pub enum SlotView {
    /// `id` holds a slot (since the time in `holder`).
    Held { holder: Holder },
    /// `id` holds none; `in_use` of `max` are taken, so a drain would get one now.
    Free { in_use: usize, max: u32 },
    /// `id` holds none and every slot is taken: a drain would wait (or exit 5).
    Full { holders: Vec<Holder> },
    /// The server decides (FleetLock) or cannot list its holders: only taking one would tell.
    Unknown,
}

impl SlotView {
    /// `id`: this node's holder id; `agent_id` (may be empty): its agent, which is how the
    /// master backend names the agents out.
    pub fn of(status: &GroupStatus, id: &str, agent_id: &str) -> SlotView {
        let Some(holders) = &status.holders else {
            return SlotView::Unknown;
        };
        let ours = |h: &&Holder| h.id == id || (!agent_id.is_empty() && h.agent_id == agent_id);
        if let Some(h) = holders.iter().find(ours) {
            return SlotView::Held { holder: h.clone() };
        }
        match status.max_unavailable {
            Some(max) if holders.len() >= max as usize => SlotView::Full {
                holders: holders.clone(),
            },
            Some(max) => SlotView::Free {
                in_use: holders.len(),
                max,
            },
            None => SlotView::Unknown,
        }
    }

    /// One line for the text reports.
    pub fn line(&self) -> String {
        match self {
            SlotView::Held { holder } => format!(
                "held since {}",
                humantime::format_rfc3339_seconds(holder.since)
            ),
            SlotView::Free { in_use, max } => format!("not held; free ({in_use} of {max} in use)"),
            SlotView::Full { holders } => format!(
                "not held; none free (held by {})",
                super::describe_holders(holders)
            ),
            SlotView::Unknown => "unknown without taking one (the server decides)".into(),
        }
    }
}

/// This node's place in the fleet budget, for `status`/`check` (the `fleet` JSON field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetReport {
    pub backend: &'static str,
    pub group: String,
    /// This node's holder id.
    pub id: String,
    /// `None`: the lock could not be asked (the reason is in the report's errors).
    #[serde(flatten)]
    pub slot: Option<SlotView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(max: Option<u32>, ids: Option<&[&str]>) -> GroupStatus {
        GroupStatus {
            backend: "zookeeper",
            group: "kafka-a".into(),
            max_unavailable: max,
            holders: ids.map(|ids| {
                ids.iter()
                    .map(|i| Holder::new(i, "S", i, "manual"))
                    .collect()
            }),
        }
    }

    #[test]
    fn held_free_full_or_unknown() {
        assert!(matches!(
            SlotView::of(&status(Some(1), Some(&["me"])), "me", ""),
            SlotView::Held { .. }
        ));
        // Held even over budget (a never-refused drain's count is not ours to judge).
        assert!(matches!(
            SlotView::of(&status(Some(1), Some(&["a", "me"])), "me", ""),
            SlotView::Held { .. }
        ));
        assert_eq!(
            SlotView::of(&status(Some(2), Some(&["a"])), "me", ""),
            SlotView::Free { in_use: 1, max: 2 }
        );
        assert!(matches!(
            SlotView::of(&status(Some(1), Some(&["a"])), "me", ""),
            SlotView::Full { ref holders } if holders.len() == 1
        ));
        assert_eq!(
            SlotView::of(&status(None, None), "me", ""),
            SlotView::Unknown
        );
        assert_eq!(
            SlotView::of(&status(None, Some(&[])), "me", ""),
            SlotView::Unknown
        );
        // The master backend names agents: this node's agent out is its slot.
        assert!(matches!(
            SlotView::of(&status(Some(1), Some(&["host-b"])), "host-a", "S"),
            SlotView::Held { .. }
        ));
    }
}
