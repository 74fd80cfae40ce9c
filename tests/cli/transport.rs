use mesos_sim::{LoggedRequest, Server, Sim, SimAuth, SimConfig};

use crate::common::*;

/// The busy simulator, asking for basic auth as principal "maintenance" with `secret`.
fn basic_auth_sim(secret: &str) -> SimConfig {
    SimConfig {
        auth: SimAuth::Basic {
            principal: "maintenance".into(),
            secret: secret.into(),
        },
        ..busy_config()
    }
}

/// Writes `secret` to a 0600 file and a config naming it for principal "maintenance";
/// returns the config's path.
fn basic_auth_config(run: &Run, secret: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = run.state_dir().join("secret");
    std::fs::write(&p, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    run.config_file(&format!(
        "[auth]\nprincipal = \"maintenance\"\nsecret_file = \"{}\"\n",
        p.display()
    ))
}

/// The first `call_type` call that `server` received.
fn call_on<'a>(
    reqs: &'a [LoggedRequest],
    server: Server,
    call_type: &str,
) -> Option<&'a LoggedRequest> {
    reqs.iter()
        .find(|r| r.server == server && r.call_type().as_deref() == Some(call_type))
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_from_a_follower_keeps_body_and_basic_auth() {
    let sim = Sim::start(basic_auth_sim("s3cret")).await.unwrap();
    let run = Run::new();
    let conf = basic_auth_config(&run, "s3cret");
    // DEACTIVATE_AGENT is the first master call of `deactivate`: the POST itself gets the 307.
    let (code, _, err) = run
        .run_at(
            &sim.follower_url(),
            &sim.agent_url(),
            &["deactivate", "--config", &conf],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let reqs = sim.requests();
    let follower = call_on(&reqs, Server::Follower, "DEACTIVATE_AGENT")
        .expect("DEACTIVATE_AGENT sent to the follower first");
    assert_eq!(follower.status, 307);
    let leader = call_on(&reqs, Server::Leader, "DEACTIVATE_AGENT")
        .expect("DEACTIVATE_AGENT replayed on the leader");
    assert_eq!(leader.status, 200);
    assert_eq!(leader.body, follower.body, "same body replayed");
    assert_eq!(
        leader.header("authorization"),
        follower.header("authorization")
    );
    assert!(leader
        .header("authorization")
        .unwrap()
        .starts_with("Basic "));
    assert_eq!(leader.header("content-type"), Some("application/json"));
    assert!(sim.is_deactivated());

    // A drain through the follower: after the first redirect the client talks to the leader.
    let (code, _, err) = run
        .run_at(
            &sim.follower_url(),
            &sim.agent_url(),
            &["drain", "--no-stop", "--config", &conf],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sim.count_calls_on(Server::Leader, "DRAIN_AGENT"), 1);
    assert!(sim
        .requests()
        .iter()
        .filter(|r| r.server == Server::Leader)
        .all(|r| r
            .header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secret_is_undetermined() {
    let sim = Sim::start(basic_auth_sim("right")).await.unwrap();
    let run = Run::new();
    let conf = basic_auth_config(&run, "wrong");
    let (code, out, _) = run
        .run_against(&sim, &["check", "--json", "--config", &conf])
        .await;
    assert_eq!(code, 3, "{out}");
    let (code, _, err) = run
        .run_against(&sim, &["drain", "--no-stop", "--config", &conf])
        .await;
    assert_eq!(code, 3, "{err}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_with_a_colon_is_rejected_before_any_request() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let run = Run::new();
    let conf = basic_auth_config(&run, "pass:word");
    let (code, _, err) = run
        .run_against(&sim, &["drain", "--no-stop", "--config", &conf])
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("secret contains ':'"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn dcos_token_auth() {
    let cfg = SimConfig {
        auth: SimAuth::Token("eyJhbGciOi.token.sig".into()),
        ..busy_config()
    };
    let sim = Sim::start(cfg).await.unwrap();
    let run = Run::new();
    let token = run.state_dir().join("token");
    std::fs::write(&token, "eyJhbGciOi.token.sig\n").unwrap();
    let conf = run.config_file(&format!("[auth]\ntoken_file = \"{}\"\n", token.display()));
    let (code, _, err) = run
        .run_against(&sim, &["drain", "--no-stop", "--config", &conf])
        .await;
    assert_eq!(code, 0, "{err}");
    let r = first_call(&sim, "DRAIN_AGENT");
    assert_eq!(
        r.header("authorization"),
        Some("token=eyJhbGciOi.token.sig")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_leader_and_recovery_503s_are_retried() {
    let sim = Sim::start(busy_config()).await.unwrap();
    sim.set_no_leader(2);
    sim.set_recovering(2);
    let run = Run::new();
    let (code, _, err) = run
        .run_at(
            &sim.follower_url(),
            &sim.agent_url(),
            &["drain", "--no-stop"],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
    assert!(sim.requests().iter().any(|r| r.status == 503));
}

#[tokio::test(flavor = "multi_thread")]
async fn master_is_discovered_from_the_local_agent() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, out, err) = run
        .run(&["check", "--json", "--agent", &sim.agent_url()])
        .await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert_eq!(json(&out)["live_tasks"], 3);
    assert!(sim.requests().iter().any(|r| r.server == Server::Leader));
}

#[tokio::test(flavor = "multi_thread")]
async fn unfiltered_slaves_endpoint_falls_back_to_streaming_get_agents() {
    let cfg = SimConfig {
        ignore_slave_id_filter: true,
        filler_agents: 200,
        ..busy_config()
    };
    let sim = Sim::start(cfg).await.unwrap();
    let run = Run::new();
    let (code, _, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(sim.count_calls("GET_AGENTS") >= 1);
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unfiltered_answer_is_cut_off_at_one_mebibyte() {
    // 2,000 agents of about 1 KB in /master/slaves: past the cap of a one-agent answer, far
    // below the 16 MiB transport cap, so only the small cap can end the read.
    let cfg = SimConfig {
        ignore_slave_id_filter: true,
        filler_agents: 2000,
        ..busy_config()
    };
    let sim = Sim::start(cfg).await.unwrap();
    let run = Run::new();
    let (code, out, err) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert_eq!(json(&out)["live_tasks"], 3, "{out}");
    assert!(err.contains("larger than 1048576 bytes"), "{err}");
    assert_eq!(sim.count_calls("GET_AGENTS"), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_filtered_endpoint_is_used_when_it_works() {
    let cfg = SimConfig {
        filler_agents: 200,
        ..busy_config()
    };
    let sim = Sim::start(cfg).await.unwrap();
    let run = Run::new();
    let (code, _, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sim.count_calls("GET_AGENTS"), 0);
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/master/slaves?slave_id=")));
}
