//! One master, several local agents: each on its own port with its own id, hostname and tasks,
//! all registered with the one master, which routes each call to the agent it names.

mod common;

use std::time::Duration;

use common::*;
use mesos_sim::*;
use serde_json::Value;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Three agents, each with one framework "fw-1" running two tasks (100 ms grace, acks after
/// 20 ms), no registry delay to speak of.
async fn three_agents() -> Sim {
    let cfg = SimConfig {
        frameworks: vec![
            FrameworkSpec::new("fw-1", "marathon", AckMode::After(MS(20)))
                .task(TaskSpec::new("web", MS(100)))
                .task(TaskSpec::new("api", MS(100))),
        ],
        unknown_enum_task: false,
        registry_delay: MS(1),
        ..SimConfig::default()
    };
    Sim::start(cfg.with_extra_agents(2)).await.unwrap()
}

fn listed_ids(get_agents: &Value) -> Vec<String> {
    get_agents["get_agents"]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent_info"]["id"]["value"].as_str().unwrap().to_owned())
        .collect()
}

fn task_ids(get_tasks: &Value) -> Vec<String> {
    let mut ids: Vec<String> = get_tasks["get_tasks"]["launched_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"]["value"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn each_agent_has_its_own_port_id_hostname_and_tasks_under_one_master() {
    let sim = three_agents().await;
    let agents = sim.agents();
    assert_eq!(agents.len(), 3);
    let urls = sim.agent_urls();
    assert_eq!(urls[0], sim.agent_url());
    assert_eq!(
        urls,
        agents.iter().map(|a| a.url.clone()).collect::<Vec<_>>()
    );
    let mut distinct = urls.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{urls:?}");
    assert_eq!(agents[0].agent_id, DEFAULT_AGENT_ID);
    assert_eq!(agents[2].hostname, "agent-2.sim.local");

    let all = call(&sim.master_url(), r#"{"type":"GET_AGENTS"}"#)
        .await
        .json();
    let ids: Vec<String> = agents.iter().map(|a| a.agent_id.clone()).collect();
    assert_eq!(listed_ids(&all), ids);
    for (i, a) in agents.iter().enumerate() {
        // The agent answers with its own id and its own tasks.
        let ga = call(&a.url, r#"{"type":"GET_AGENT"}"#).await.json();
        assert_eq!(
            ga["get_agent"]["agent_info"]["id"]["value"],
            a.agent_id.as_str()
        );
        assert_eq!(
            ga["get_agent"]["agent_info"]["hostname"],
            a.hostname.as_str()
        );
        let want: Vec<String> = if i == 0 {
            vec!["api".into(), "web".into()]
        } else {
            vec![format!("api.a{i}"), format!("web.a{i}")]
        };
        let tasks = call(&a.url, r#"{"type":"GET_TASKS"}"#).await.json();
        assert_eq!(task_ids(&tasks), want, "agent {i}");
        // The master's entry names the agent's own port.
        let e = agent_entry(&sim.master_url(), &a.agent_id).await.unwrap();
        let port = a.url.rsplit(':').next().unwrap();
        assert_eq!(e["pid"], format!("slave(1)@127.0.0.1:{port}").as_str());
        // The slave_id filter returns that agent only.
        let s = get(
            &sim.master_url(),
            &format!("/master/slaves?slave_id={}", a.agent_id),
        )
        .await
        .json();
        let got: Vec<&str> = s["slaves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, [a.agent_id.as_str()]);
    }
    let state = get(&sim.master_url(), "/master/state").await.json();
    assert_eq!(state["slaves"].as_array().unwrap().len(), 3);
    assert_eq!(state["activated_slaves"], 3);
    // One framework, running on all three agents, listed once.
    let fws = call(&sim.master_url(), r#"{"type":"GET_FRAMEWORKS"}"#)
        .await
        .json();
    assert_eq!(
        fws["get_frameworks"]["frameworks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_drain_reaches_only_the_agent_it_names() {
    let sim = three_agents().await;
    let m = sim.master_url();
    let two = sim.agent(2).unwrap();
    let r = call(&m, &drain_body(&two.id(), "")).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(two.drain_state().as_deref(), Some("DRAINING"));
    assert!(two.is_deactivated());
    assert!(
        two.wait_drain_state(Some("DRAINED"), Duration::from_secs(3))
            .await
    );
    let c = two.task_counts();
    assert_eq!((c.launched, c.completed), (0, 2), "{c:?}");
    // The others are untouched.
    for i in [0, 1] {
        let a = sim.agent(i).unwrap();
        assert_eq!(a.drain_state(), None, "agent {i}");
        assert!(!a.is_deactivated());
        assert_eq!(a.task_counts().launched, 2, "agent {i}");
    }
    assert_eq!(sim.drain_state(), None);
    let e = agent_entry(&m, &two.id()).await.unwrap();
    assert_eq!(e["drain_info"]["state"], "DRAINED");

    let r = call(&m, &agent_call("REACTIVATE_AGENT", &two.id())).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(two.drain_state(), None);
    assert!(!two.is_deactivated());

    // DEACTIVATE names agent 1; an id no agent has is unknown, as with one agent.
    let one = sim.agent(1).unwrap();
    let r = call(&m, &agent_call("DEACTIVATE_AGENT", &one.id())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(one.is_deactivated() && !sim.is_deactivated());
    let r = call(&m, &drain_body("no-such-agent", "")).await;
    assert_eq!((r.status, r.body.as_str()), (400, "Unknown agent"));

    // One log, one clock: agent 2's own GET_TASKS is in it, with its port.
    call(&two.url(), r#"{"type":"GET_TASKS"}"#).await;
    let log = sim.requests();
    let seen = log
        .iter()
        .find(|r| r.server == Server::Agent && r.call_type().as_deref() == Some("GET_TASKS"))
        .unwrap();
    assert_eq!(seen.port, two.port());
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 2);
}

#[tokio::test]
async fn control_knobs_name_an_agent_by_id_or_hostname() {
    let sim = three_agents().await;
    let m = sim.master_url();
    let one = sim.agent(1).unwrap();
    let r = request(
        &m,
        "POST",
        "/__sim/add-task?agent=agent-1.sim.local",
        &[JSON],
        Some(r#"{"framework_id":"fw-2","id":"extra"}"#),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(one.task_counts().launched, 3);
    assert_eq!(sim.task_counts().launched, 2);

    let r = post(&m, &format!("/__sim/agent/stop?agent={}", one.id())).await;
    assert_eq!(r.status, 200);
    assert!(request(&one.url(), "GET", "/state", &[], None)
        .await
        .is_err());
    let e = agent_entry(&m, &one.id()).await.unwrap();
    assert_eq!(e["active"], false);
    // The first agent still answers.
    assert_eq!(get(&sim.agent_url(), "/state").await.status, 200);

    let r = post(&m, "/__sim/agent/stop?agent=nobody").await;
    assert_eq!(r.status, 404);

    let views = get(&m, "/__sim/agents").await.json();
    assert_eq!(views.as_array().unwrap().len(), 3);
    assert_eq!(views[1]["tasks"].as_array().unwrap().len(), 3);
    let st = get(&m, "/__sim/state?agent=agent-2.sim.local").await.json();
    assert_eq!(st["agent_id"], sim.agent(2).unwrap().id().as_str());
}

/// What a fake scheduler (Marathon) needs: which tasks run where, and launching a
/// replacement on another agent.
#[tokio::test]
async fn tasks_can_be_read_per_agent_and_placed_on_another() {
    let sim = three_agents().await;
    let views = sim.agents();
    let on_two: Vec<&TaskView> = views[2].tasks.iter().filter(|t| t.live).collect();
    assert_eq!(on_two.len(), 2);
    assert!(on_two
        .iter()
        .all(|t| t.framework_id == "fw-1" && t.state == "TASK_RUNNING"));

    let r = call(&sim.master_url(), &drain_body(&views[2].agent_id, "")).await;
    assert_eq!(r.status, 200);
    assert!(
        sim.agent(2)
            .unwrap()
            .wait_drain_state(Some("DRAINED"), Duration::from_secs(3))
            .await
    );
    for t in &on_two {
        assert!(sim.add_task_to(
            &views[0].agent_id,
            &t.framework_id,
            TaskSpec::new(format!("{}.replacement", t.id), MS(100)).with_name(t.name.clone()),
        ));
    }
    let after = sim.agents();
    assert_eq!(after[0].tasks.iter().filter(|t| t.live).count(), 4);
    assert!(after[2].tasks.iter().all(|t| !t.live));
    assert_eq!(after[2].drain_state.as_deref(), Some("DRAINED"));
    assert!(!sim.add_task_to("no-such-agent", "fw-1", TaskSpec::new("x", MS(1))));
}

#[tokio::test]
async fn teardown_reaches_the_framework_on_every_agent() {
    let sim = three_agents().await;
    let body = r#"{"type":"TEARDOWN","teardown":{"framework_id":{"value":"fw-1"}}}"#;
    let r = call(&sim.master_url(), body).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    for a in sim.agents() {
        assert!(a.tasks.iter().all(|t| !t.live), "{}", a.agent_id);
    }
}

#[test]
fn numbered_agents_have_unique_ids_and_task_ids() {
    let cfg = SimConfig::scenario("quick").unwrap().with_extra_agents(3);
    assert_eq!(cfg.extra_agents.len(), 3);
    let ids: Vec<&str> = cfg
        .extra_agents
        .iter()
        .map(|a| a.agent_id.as_str())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(!ids.contains(&DEFAULT_AGENT_ID));
    assert_eq!(cfg.extra_agents[2].frameworks[0].tasks[0].id, "quick-1.a3");
    let more = cfg.with_extra_agents(1);
    assert_eq!(more.extra_agents[3].hostname, "agent-4.sim.local");
}
