//! The `status` / `check` report: one structure, printed as text for people or as exactly one
//! JSON object for scripts.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::drain::Marker;
use crate::mesos::maintenance::{Mode, Window};
use crate::node::{DrainStateName, FrameworkWork, LocalObs, MasterObs, PendingOperation, Verdict};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnitReport {
    pub name: String,
    pub active_state: String,
    pub sub_state: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MarkerReport {
    pub stage: String,
    pub trigger: String,
    pub decommission: bool,
    pub started_at: u64,
    pub updated_at: u64,
    pub reason: Option<String>,
}

impl From<&Marker> for MarkerReport {
    fn from(m: &Marker) -> Self {
        MarkerReport {
            stage: m.stage.name().to_string(),
            trigger: format!("{:?}", m.trigger).to_lowercase(),
            decommission: m.policy.decommission,
            started_at: m.started_at,
            updated_at: m.updated_at,
            reason: m.reason.clone(),
        }
    }
}

/// The AWS side, with `[aws] enabled = true`: the instance and what its Auto Scaling group and
/// EC2 say is about to happen to it.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct AwsReport {
    pub instance_id: Option<String>,
    pub auto_scaling_group: Option<String>,
    pub lifecycle_hook: Option<String>,
    /// `autoscaling/target-lifecycle-state` (`InService`, `Terminated`, …); `None` when the
    /// instance is in no group or the metadata could not be read (then `errors` says why).
    pub target_lifecycle_state: Option<String>,
    /// `spot/instance-action`, e.g. `terminate at 2026-05-01T08:22:00Z`; `None`: no notice.
    pub spot_instance_action: Option<String>,
}

/// One maintenance window of this machine.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowReport {
    /// RFC 3339, UTC, whole seconds.
    pub start: String,
    pub start_unix_nanos: i64,
    /// `None`: no end.
    pub duration_seconds: Option<f64>,
}

impl From<Window> for WindowReport {
    fn from(w: Window) -> WindowReport {
        let t = UNIX_EPOCH + Duration::from_nanos(w.start_unix_nanos.max(0) as u64);
        WindowReport {
            start: humantime::format_rfc3339_seconds(t).to_string(),
            start_unix_nanos: w.start_unix_nanos,
            duration_seconds: w.duration_nanos.map(|d| d as f64 / 1e9),
        }
    }
}

impl std::fmt::Display for WindowReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.duration_seconds {
            Some(d) => write!(
                f,
                "from {} for {}",
                self.start,
                humantime::format_duration(Duration::from_secs_f64(d.max(0.0)))
            ),
            None => write!(f, "from {} (no end)", self.start),
        }
    }
}

/// This machine in the Mesos maintenance primitives.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MaintenanceReport {
    pub mode: Mode,
    pub windows: Vec<WindowReport>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub agent_id: Option<String>,
    pub hostname: Option<String>,
    /// The leading master's URL (after following redirects).
    pub master: Option<String>,
    pub drain_state: DrainStateName,
    pub deactivated: Option<bool>,
    pub live_tasks: Option<usize>,
    pub frameworks: Vec<FrameworkWork>,
    pub pending_operations: Option<usize>,
    pub operations: Vec<PendingOperation>,
    pub units: Vec<UnitReport>,
    pub inhibitors: Vec<String>,
    pub marker: Option<MarkerReport>,
    /// The machine's maintenance mode and windows; `None` when the master could not say.
    pub maintenance: Option<MaintenanceReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsReport>,
    /// This node's fleet slot (absent with `fleet.backend = "none"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<crate::fleet::FleetReport>,
    /// The local workloads' disruption budgets (absent when none applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budgets: Option<Vec<crate::budget::Verdict>>,
    /// What could not be asked, and why.
    pub errors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    /// `check` could not tell (exit 3): the text says so instead of "not safe".
    #[serde(skip)]
    pub undetermined: bool,
    /// Why the drain state is UNKNOWN, for the text report.
    #[serde(skip)]
    pub unknown_because: Option<&'static str>,
}

/// Everything observed about the node, gathered by the `status`/`check` commands.
#[derive(Debug, Clone)]
pub struct Observed {
    pub agent_id: Option<String>,
    pub hostname: Option<String>,
    pub master_url: Option<String>,
    pub master: MasterObs,
    pub local: LocalObs,
    pub units: Vec<UnitReport>,
    pub marker: Option<Marker>,
    pub drain_state: DrainStateName,
    /// This tool's logind locks, e.g. "delay shutdown (pid 123)".
    pub inhibitors: Vec<String>,
    pub maintenance: Option<MaintenanceReport>,
    /// With `[aws] enabled = true`: the report, and what could not be read.
    pub aws: Option<(AwsReport, Option<String>)>,
    /// With a fleet backend: this node's slot, and what could not be asked.
    pub fleet: Option<(crate::fleet::FleetReport, Option<String>)>,
    /// When a budget applies to a local workload: its verdicts, or why they cannot be read.
    pub budgets: Option<Result<crate::budget::round::Look, crate::budget::round::LookError>>,
}

impl Report {
    pub fn build(o: &Observed, verdict: Option<&Verdict>) -> Report {
        let mut errors = Vec::new();
        if let MasterObs::Unreachable(e) = &o.master {
            errors.push(format!("master: {e}"));
        }
        let (live_tasks, frameworks, ops) = match &o.local {
            LocalObs::Seen(w) => (
                Some(w.live_tasks()),
                w.frameworks.clone(),
                Some(w.pending_operations.clone()),
            ),
            LocalObs::Unreachable(e) => {
                errors.push(format!("agent: {e}"));
                (None, Vec::new(), None)
            }
        };
        if let Some((_, Some(e))) = &o.aws {
            errors.push(format!("aws: {e}"));
        }
        if let Some((_, Some(e))) = &o.fleet {
            errors.push(e.clone());
        }
        match &o.budgets {
            Some(Err(e)) => errors.push(format!("disruption budgets: {e}")),
            Some(Ok(look)) => errors.extend(
                look.round
                    .unknown
                    .iter()
                    .map(|u| format!("disruption budgets: {u}")),
            ),
            None => {}
        }
        Report {
            agent_id: o.agent_id.clone(),
            hostname: o.hostname.clone(),
            master: o.master_url.clone(),
            drain_state: o.drain_state,
            deactivated: o.master.deactivated(),
            live_tasks,
            frameworks,
            pending_operations: ops.as_ref().map(Vec::len),
            operations: ops.unwrap_or_default(),
            units: o.units.clone(),
            inhibitors: o.inhibitors.clone(),
            marker: o.marker.as_ref().map(MarkerReport::from),
            maintenance: o.maintenance.clone(),
            aws: o.aws.as_ref().map(|(r, _)| r.clone()),
            fleet: o.fleet.as_ref().map(|(r, _)| r.clone()),
            budgets: match &o.budgets {
                Some(Ok(look)) => Some(look.round.verdicts.clone()),
                Some(Err(_)) => Some(Vec::new()),
                None => None,
            },
            errors,
            safe: verdict.map(|v| *v == Verdict::Safe),
            reasons: verdict.map(|v| v.reasons().to_vec()),
            undetermined: matches!(verdict, Some(Verdict::Undetermined(_))),
            unknown_because: match &o.master {
                _ if o.drain_state != DrainStateName::Unknown => None,
                MasterObs::Unreachable(_) => Some("the master cannot be asked"),
                MasterObs::Absent => Some("the master does not list this agent"),
                MasterObs::Recovered => Some("not re-registered since a master failover"),
                MasterObs::Registered { .. } => Some("a drain state this tool does not know"),
            },
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
        if let Some(safe) = self.safe {
            s.push_str(if safe {
                "SAFE: this node can be rebooted or powered off\n"
            } else if self.undetermined {
                "CANNOT TELL whether this node can be rebooted or powered off: treat it as not safe\n"
            } else {
                "NOT SAFE to reboot or power off\n"
            });
            for r in self.reasons.iter().flatten() {
                s.push_str(&format!("  - {r}\n"));
            }
            s.push('\n');
        }
        s.push_str(&format!("agent id:       {}\n", or_unknown(&self.agent_id)));
        s.push_str(&format!("hostname:       {}\n", or_unknown(&self.hostname)));
        s.push_str(&format!("leading master: {}\n", or_unknown(&self.master)));
        match self.unknown_because {
            Some(why) => s.push_str(&format!(
                "drain state:    {} ({why})\n",
                self.drain_state.as_str()
            )),
            None => s.push_str(&format!("drain state:    {}\n", self.drain_state.as_str())),
        }
        s.push_str(&format!(
            "deactivated:    {}\n",
            self.deactivated.map_or("unknown".into(), |d| d.to_string())
        ));
        match self.live_tasks {
            Some(n) => s.push_str(&format!("live tasks:     {n}\n")),
            None => s.push_str("live tasks:     unknown\n"),
        }
        for f in &self.frameworks {
            s.push_str(&format!(
                "  {}: {} task(s){}\n",
                crate::node::framework_label(&f.id, &f.name),
                f.live_tasks,
                if f.unacknowledged > 0 {
                    format!(", {} unacknowledged terminal update(s)", f.unacknowledged)
                } else {
                    String::new()
                }
            ));
        }
        match self.pending_operations {
            Some(n) => s.push_str(&format!("pending operations: {n}\n")),
            None => s.push_str("pending operations: unknown\n"),
        }
        for op in &self.operations {
            s.push_str(&format!(
                "  {} {} {}\n",
                op.id.as_deref().unwrap_or("<no id>"),
                op.kind.as_deref().unwrap_or("?"),
                op.state.as_deref().unwrap_or("?")
            ));
        }
        if !self.units.is_empty() {
            s.push_str("units:\n");
            for u in &self.units {
                s.push_str(&format!(
                    "  {}: {} ({})\n",
                    u.name, u.active_state, u.sub_state
                ));
            }
        }
        for i in &self.inhibitors {
            s.push_str(&format!("inhibitor:      {i}\n"));
        }
        if let Some(m) = &self.marker {
            s.push_str(&format!(
                "marker:         {} drain{}, stage {}\n",
                m.trigger,
                if m.decommission {
                    " (decommission)"
                } else {
                    ""
                },
                m.stage
            ));
        }
        if let Some(m) = &self.maintenance {
            s.push_str(&format!("maintenance:    {}\n", m.mode));
            for w in &m.windows {
                s.push_str(&format!("  window {w}\n"));
            }
        }
        if let Some(f) = &self.fleet {
            s.push_str(&format!(
                "fleet slot:     {} (group {}, {} backend, holder {})\n",
                f.slot
                    .as_ref()
                    .map_or("unknown (the lock cannot be asked)".into(), |v| v.line()),
                f.group,
                f.backend,
                f.id
            ));
        }
        for v in self.budgets.iter().flatten() {
            s.push_str(&format!("budget:         {}\n", v.line()));
        }
        if let Some(a) = &self.aws {
            s.push_str(&format!(
                "aws lifecycle:  {} (instance {}, group {}, hook {})\n",
                a.target_lifecycle_state
                    .as_deref()
                    .unwrap_or("unknown or not in an Auto Scaling group"),
                or_unknown(&a.instance_id),
                or_unknown(&a.auto_scaling_group),
                or_unknown(&a.lifecycle_hook)
            ));
            if let Some(n) = &a.spot_instance_action {
                s.push_str(&format!("spot notice:    {n}\n"));
            }
        }
        for e in &self.errors {
            s.push_str(&format!("error: {e}\n"));
        }
        s
    }
}
