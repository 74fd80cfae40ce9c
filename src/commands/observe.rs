//! Gathering what `status` and `check` report: the local agent, the master's view of this agent,
//! the units and this tool's marker, asked concurrently and each failing on its own.

use crate::context::Ctx;
use crate::drain::identity;
use crate::local_work;
use crate::mesos::{AgentClient, AgentLookup};
use crate::node::{drain_state_name, Exceptions, LocalObs, MasterObs};
use crate::report::{AwsReport, Observed, UnitReport};

pub async fn observe(ctx: &Ctx) -> anyhow::Result<(Observed, Exceptions)> {
    let agent = ctx.agent()?;
    let marker = ctx.markers().load_or_warn();
    let (info, local) = tokio::join!(agent.get_agent(), observe_local(&agent));
    let (agent_id, hostname) = match &info {
        Ok(i) => (i.id.clone(), Some(i.hostname.clone())),
        // A stopped agent cannot name itself; the marker of our own drain can.
        Err(_) => (
            identity::report_fallback(marker.as_ref()).map(|m| m.agent_id.clone()),
            None,
        ),
    };
    let master_client = ctx
        .master(&agent, crate::context::REPORT_RETRY_BUDGET)
        .await?;
    let (master, machine) = match &agent_id {
        Some(id) => match master_client.agent(id).await {
            Ok(lookup) => (
                MasterObs::from_lookup(&lookup),
                match &lookup {
                    AgentLookup::Registered(a) => super::maintenance::machine_of(a),
                    _ => None,
                },
            ),
            Err(e) => (MasterObs::Unreachable(e.to_string()), None),
        },
        None => (
            MasterObs::Unreachable(match &info {
                Err(e) => format!("the agent id is unknown (local agent: {e})"),
                Ok(_) => "the local agent has no id yet (not registered)".into(),
            }),
            None,
        ),
    };
    let decommission_finished = match (&marker, &agent_id) {
        (Some(m), Some(id)) => m.decommission_finished(id),
        _ => false,
    };
    let ((units, agent_unit_stopped), inhibitors, aws, maintenance, fleet, budgets) = tokio::join!(
        observe_units(ctx),
        observe_inhibitors(),
        observe_aws(ctx),
        async {
            // An unreachable master would only make the report wait a second time.
            match master {
                MasterObs::Unreachable(_) => None,
                _ => super::maintenance::report(ctx, &master_client, machine).await,
            }
        },
        observe_fleet(ctx, &master_client, agent_id.as_deref()),
        async {
            match &agent_id {
                Some(id) => observe_budgets(ctx, &agent, &master_client, id).await,
                None => None,
            }
        },
    );
    let machine_down = maintenance
        .as_ref()
        .is_some_and(|m| m.mode == crate::mesos::maintenance::Mode::Down);
    let observed = Observed {
        agent_id,
        hostname,
        master_url: Some(master_client.leader_text()),
        drain_state: drain_state_name(&master, decommission_finished),
        master,
        local,
        units,
        marker,
        inhibitors,
        maintenance,
        aws,
        fleet,
        budgets,
    };
    Ok((
        observed,
        Exceptions {
            agent_unit_stopped,
            decommission_finished,
            machine_down,
        },
    ))
}

/// This node's fleet slot (`None` with `fleet.backend = "none"`), and what kept the lock from
/// answering. `agent_id`: the master backend counts agents.
pub async fn observe_fleet(
    ctx: &Ctx,
    master: &crate::mesos::MasterClient,
    agent_id: Option<&str>,
) -> Option<(crate::fleet::FleetReport, Option<String>)> {
    use crate::fleet::{self, FleetReport, SlotView};
    let settings = &ctx.settings.fleet;
    if settings.backend == fleet::Backend::None {
        return None;
    }
    let id = settings.holder_id();
    let mut report = FleetReport {
        backend: settings.backend.as_str(),
        group: settings.group.clone(),
        id: id.clone(),
        slot: None,
    };
    let asked = async {
        let lock = fleet::open(settings, Some((master.transport(), master.leader_url())))?;
        lock.status().await
    };
    // The report must not wait on a lock that does not answer.
    let answer = tokio::time::timeout(crate::context::REPORT_RETRY_BUDGET, asked)
        .await
        .unwrap_or_else(|_| {
            Err(fleet::FleetError::Unavailable(
                "the fleet lock did not answer in time".into(),
            ))
        });
    match answer {
        Ok(status) => {
            report.slot = Some(SlotView::of(&status, &id, agent_id.unwrap_or("")));
            Some((report, None))
        }
        Err(e) => Some((report, Some(e.to_string()))),
    }
}

/// The disruption budgets of the local workloads, read only (no intent is written): `None` when
/// none applies (nothing is asked then), `Err` for a malformed budget or a local agent that
/// cannot be asked.
pub async fn observe_budgets(
    ctx: &Ctx,
    agent: &AgentClient,
    master: &crate::mesos::MasterClient,
    agent_id: &str,
) -> Option<Result<crate::budget::round::Look, crate::budget::round::LookError>> {
    use crate::budget::round::LookError;
    use crate::budget::{self, round};
    let settings = &ctx.settings.budget;
    if !settings.any() {
        return None;
    }
    let (tasks, frameworks) = match tokio::join!(agent.get_tasks(), agent.get_frameworks()) {
        (Ok(t), Ok(f)) => (t, f),
        (Err(e), _) | (_, Err(e)) => {
            return Some(Err(LookError::Undetermined(format!(
                "the local agent's tasks: {e}"
            ))))
        }
    };
    let services: Vec<&str> = settings.services.keys().map(String::as_str).collect();
    let local = budget::workloads::from_tasks(&tasks, &frameworks, &services);
    let planned = match budget::plan(settings, local) {
        Ok(p) if p.is_empty() => return None,
        Ok(p) => p,
        Err(e) => return Some(Err(LookError::Config(e))),
    };
    let transport = match ctx.budget_transport() {
        Ok(t) => t,
        Err(e) => return Some(Err(LookError::Config(e.to_string()))),
    };
    let sources = budget::Sources {
        transport,
        settings: settings.clone(),
        agents: Box::new(crate::fleet::master::MasterCensus::new(
            master.transport(),
            master.leader_url(),
        )),
    };
    let lock = match ctx.settings.fleet.backend {
        crate::fleet::Backend::ZooKeeper => crate::fleet::open(&ctx.settings.fleet, None).ok(),
        _ => None,
    };
    let holder = ctx.settings.fleet.holder_id();
    let store = lock
        .as_deref()
        .and_then(|l| l.zookeeper())
        .map(|zk| round::IntentStore {
            zk,
            holder_id: &holder,
            record: false,
        });
    // A report must not wait on sources that do not answer (each request has its own bound too).
    let evaluated = tokio::time::timeout(
        crate::context::REPORT_RETRY_BUDGET,
        round::evaluate_round(&sources, agent_id, &planned, store.as_ref()),
    )
    .await;
    Some(match evaluated {
        Ok(round) => Ok(round::Look {
            round,
            unknown: settings.unknown,
        }),
        Err(_) => Err(LookError::Undetermined(
            "the disruption budgets' sources did not answer in time".into(),
        )),
    })
}

/// The work on the local agent: tasks by framework (with names) and non-terminal operations.
pub async fn observe_local(agent: &AgentClient) -> LocalObs {
    local_work::observe(agent, local_work::Names::Cached(&mut Vec::new())).await
}

/// With `[aws] enabled = true`: the instance's lifecycle state and spot notice from the metadata
/// service (bounded by the client's own short timeouts), and the first error.
async fn observe_aws(ctx: &Ctx) -> Option<(AwsReport, Option<String>)> {
    let aws = &ctx.settings.aws;
    if !aws.enabled {
        return None;
    }
    let mut report = AwsReport {
        auto_scaling_group: aws.auto_scaling_group.clone(),
        lifecycle_hook: aws.lifecycle_hook.clone(),
        ..AwsReport::default()
    };
    let read = async {
        let imds = crate::cloud::aws::Imds::new(&aws.imds_endpoint)?;
        report.instance_id = Some(imds.instance_id().await?);
        report.target_lifecycle_state = imds.target_lifecycle_state().await?.map(|s| s.to_string());
        if aws.spot {
            report.spot_instance_action = imds.spot_instance_action().await?.map(|n| n.to_string());
        }
        Ok::<(), crate::cloud::aws::AwsError>(())
    };
    let error = read.await.err().map(|e| e.to_string());
    Some((report, error))
}

/// The logind locks the daemon holds (`who` = mesos-maint); empty when logind is not reachable.
async fn observe_inhibitors() -> Vec<String> {
    let listed = tokio::time::timeout(crate::context::SYSTEMD_CONNECT_TIMEOUT, async {
        crate::systemd::Logind::connect()
            .await?
            .list_inhibitors()
            .await
    })
    .await;
    match listed {
        Ok(Ok(list)) => list
            .into_iter()
            .filter(|i| i.who == crate::systemd::login::WHO)
            .map(|i| format!("{} {} (pid {})", i.mode, i.what, i.pid))
            .collect(),
        Ok(Err(e)) => {
            tracing::debug!("logind not available: {e}");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}

/// The agent and docker units as systemd sees them; empty when the bus is not reachable.
/// systemd reports `unit` stopped; false when that cannot be read.
pub async fn unit_stopped(ctx: &Ctx, unit: &str) -> bool {
    match ctx.systemd_if_available().await {
        Some(sd) => sd.unit_state(unit).await.is_ok_and(|st| st.is_stopped()),
        None => false,
    }
}

async fn observe_units(ctx: &Ctx) -> (Vec<UnitReport>, bool) {
    let Some(sd) = ctx.systemd_if_available().await else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let mut agent_stopped = false;
    match sd.detect_agent_units(&ctx.settings.units.agent).await {
        Ok(Some(units)) => {
            let names = std::iter::once(units.service.clone()).chain(units.socket.clone());
            for name in names {
                if let Ok(st) = sd.unit_state(&name).await {
                    if name == units.service {
                        agent_stopped = st.is_stopped();
                    }
                    out.push(UnitReport {
                        name: st.name.clone(),
                        active_state: st.active_state.clone(),
                        sub_state: st.sub_state.clone(),
                    });
                }
            }
        }
        Ok(None) => {}
        Err(e) => tracing::debug!("cannot detect agent units: {e}"),
    }
    if let Ok(st) = sd.unit_state(&ctx.settings.units.docker).await {
        if st.is_loaded() {
            out.push(UnitReport {
                name: st.name.clone(),
                active_state: st.active_state.clone(),
                sub_state: st.sub_state.clone(),
            });
        }
    }
    (out, agent_stopped)
}
