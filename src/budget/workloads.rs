//! Which workloads the local agent runs, from its GET_TASKS: Marathon apps (their ids read from
//! the task ids) and DC/OS SDK services (named by their framework). Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::mesos::{FrameworkName, Task, TaskBuckets};

/// The framework whose tasks are Marathon app instances.
pub const MARATHON_FRAMEWORK: &str = "marathon";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum WorkloadId {
    /// A Marathon app id, `/prod/api`.
    App(String),
    /// An SDK service: its framework's name.
    Service(String),
}

impl WorkloadId {
    /// The znode under `<chroot>/budgets` that holds this workload's intents: `/prod/api` is
    /// `prod_api`, a service `service-<name>`.
    pub fn znode(&self) -> String {
        match self {
            WorkloadId::App(id) => id.trim_start_matches('/').replace('/', "_"),
            WorkloadId::Service(name) => format!("service-{name}"),
        }
    }
}

impl std::fmt::Display for WorkloadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkloadId::App(id) => f.write_str(id),
            WorkloadId::Service(name) => write!(f, "service {name}"),
        }
    }
}

/// One workload with instances on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub id: WorkloadId,
    /// Its live tasks here.
    pub local_tasks: Vec<String>,
    /// The labels of its first local task (Marathon gives every instance the app's labels).
    pub labels: Vec<(String, String)>,
}

/// The Marathon app id of a task id: `prod_api.instance-<uuid>._app.1` or the legacy
/// `prod_api.<uuid>` give `/prod/api` (Marathon path segments never hold `_`).
pub fn marathon_app_id(task_id: &str) -> Option<String> {
    let head = match task_id.find(".instance-") {
        Some(i) => &task_id[..i],
        None => task_id.split_once('.')?.0,
    };
    if head.is_empty() {
        return None;
    }
    Some(format!("/{}", head.replace('_', "/")))
}

/// The workloads of the live tasks in `tasks`. `services`: the framework names that are SDK
/// services with a configured budget (other frameworks are nobody's business here).
pub fn from_tasks(
    tasks: &TaskBuckets,
    frameworks: &[FrameworkName],
    services: &[&str],
) -> Vec<Workload> {
    let name_of = |fid: &str| {
        frameworks
            .iter()
            .find(|f| f.id == fid)
            .map(|f| f.name.as_str())
    };
    let mut out: BTreeMap<WorkloadId, Workload> = BTreeMap::new();
    for t in tasks.not_terminal() {
        let Some(id) = workload_of(t, name_of(&t.framework_id), services) else {
            continue;
        };
        let w = out.entry(id.clone()).or_insert_with(|| Workload {
            id,
            local_tasks: Vec::new(),
            labels: t.labels.clone(),
        });
        w.local_tasks.push(t.task_id.clone());
    }
    out.into_values().collect()
}

fn workload_of(t: &Task, framework: Option<&str>, services: &[&str]) -> Option<WorkloadId> {
    match framework? {
        MARATHON_FRAMEWORK => marathon_app_id(&t.task_id).map(WorkloadId::App),
        name if services.contains(&name) => Some(WorkloadId::Service(name.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, fw: &str, labels: &[(&str, &str)]) -> Task {
        Task {
            task_id: id.into(),
            framework_id: fw.into(),
            name: id.into(),
            state: "TASK_RUNNING".into(),
            status_update_state: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn app_ids_from_task_ids() {
        assert_eq!(
            marathon_app_id("prod_api.instance-7f3e0a51-1c2d-11ee-9b5f-0242ac110002._app.1"),
            Some("/prod/api".into())
        );
        assert_eq!(
            marathon_app_id("prod_api.7f3e0a51-1c2d-11ee-9b5f-0242ac110002"),
            Some("/prod/api".into())
        );
        assert_eq!(marathon_app_id("web.x"), Some("/web".into()));
        assert_eq!(marathon_app_id("no-dot"), None);
        assert_eq!(marathon_app_id(".x"), None);
    }

    #[test]
    fn znode_names() {
        assert_eq!(WorkloadId::App("/prod/api".into()).znode(), "prod_api");
        assert_eq!(WorkloadId::Service("kafka".into()).znode(), "service-kafka");
    }

    #[test]
    fn workloads_group_live_tasks_by_app_and_service() {
        let fws = vec![
            FrameworkName {
                id: "M".into(),
                name: "marathon".into(),
            },
            FrameworkName {
                id: "K".into(),
                name: "kafka".into(),
            },
            FrameworkName {
                id: "S".into(),
                name: "spark".into(),
            },
        ];
        let tasks = TaskBuckets {
            launched: vec![
                task(
                    "prod_api.instance-1._app.1",
                    "M",
                    &[("MESOS_MAINT_MAX_UNAVAILABLE", "1")],
                ),
                task("prod_api.instance-2._app.1", "M", &[]),
                task("web.u1", "M", &[]),
                task("kafka-0-broker__u", "K", &[]),
                task("driver-1", "S", &[]),
            ],
            // Terminal tasks are gone already: no instance of anything.
            terminated: vec![task("old.instance-3._app.1", "M", &[])],
            ..TaskBuckets::default()
        };
        let w = from_tasks(&tasks, &fws, &["kafka"]);
        let ids: Vec<_> = w.iter().map(|w| w.id.clone()).collect();
        assert_eq!(
            ids,
            vec![
                WorkloadId::App("/prod/api".into()),
                WorkloadId::App("/web".into()),
                WorkloadId::Service("kafka".into()),
            ]
        );
        assert_eq!(w[0].local_tasks.len(), 2);
        assert_eq!(w[0].labels[0].0, "MESOS_MAINT_MAX_UNAVAILABLE");
    }
}
