//! System tests of `drain` and `reactivate`: the built binary, run against the in-process Mesos
//! simulator (`tests/mesos-sim`) and a real systemd manager on a private bus (see
//! `tests/support/sandbox.rs`), with fake agent and docker units. They assert the units' real
//! states afterwards. They need root and `unshare`; elsewhere they print a SKIP line and pass.
//!
//! The fake agent is wired to the simulator so its unit and the simulated agent live and die
//! together: starting the unit (re)starts the simulated agent (`/__sim/agent/start`), stopping it
//! stops it (`/__sim/agent/stop`), and SIGUSR1 makes it unregister (`/__sim/unregister`), which
//! is what SIGUSR1 does to a real Mesos agent.

mod support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use mesos_maint::drain::{DrainOptions, Marker, Stage, Trigger};
use mesos_sim::{AckMode, FrameworkSpec, Sim, SimConfig, TaskSpec};
use support::fake::FakeService;
use support::node::Node;
use support::proc::wait_until;
use support::sandbox::{run_isolated, Sandbox, SandboxBuilder};
use support::sim::{
    curl_post, never_ack_config, runtime, sim_tied_agent, AGENT, AGENT_SOCKET, DOCKER,
};

const PUBLIC: &str = "dcos-mesos-slave-public.service";
const PUBLIC_SOCKET: &str = "dcos-mesos-slave-public.socket";
const MESOS_SLAVE: &str = "mesos-slave.service";
const CANDIDATES: [&str; 4] = [
    "dcos-mesos-slave.service",
    "dcos-mesos-slave-public.service",
    "mesos-slave.service",
    "mesos-agent.service",
];

/// What the agent's socket unit writes into the agent's record file when it has stopped.
const SOCKET_STOPPED: &str = "SOCKET-STOPPED";

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

fn start_sim(rt: &tokio::runtime::Runtime, cfg: SimConfig) -> Sim {
    rt.block_on(Sim::start(cfg)).expect("start the simulator")
}

/// Two frameworks whose tasks die within a few hundred ms and acknowledge at once.
fn quick_config() -> SimConfig {
    let ack = AckMode::After(Duration::from_millis(20));
    SimConfig {
        frameworks: vec![
            FrameworkSpec::new("fw-marathon", "marathon", ack)
                .task(TaskSpec::new("web-1", Duration::from_millis(100)))
                .task(TaskSpec::new("web-2", Duration::from_millis(150))),
            FrameworkSpec::new("fw-cassandra", "cassandra", ack)
                .task(TaskSpec::new("node-1", Duration::from_millis(100))),
        ],
        ..SimConfig::default()
    }
}

/// A fake agent service tied to the simulator (see the module comment). The SIGUSR1 hook ignores
/// SIGTERM so a stop that follows at once cannot cut its POST short.
fn fake_agent(name: &str, sim: &Sim) -> FakeService {
    let master = sim.master_url();
    sim_tied_agent(name, &master).on_sigusr1(&format!(
        "trap '' TERM; {}",
        curl_post(&format!("{master}/__sim/unregister"))
    ))
}

/// `service` with a `.socket` twin that, once stopped, appends `SOCKET-STOPPED <time>` to the
/// service's record file: the order of the lines there is the order of the stops.
fn with_recording_socket(b: SandboxBuilder, service: FakeService) -> SandboxBuilder {
    let name = service.name().to_owned();
    let stem = name
        .strip_suffix(".service")
        .expect("a .service")
        .to_owned();
    let record = b.dir().join("records").join(&name);
    let script = b.dir().join("bin").join(format!("{stem}.socket-stopped"));
    write_executable(
        &script,
        &format!(
            "#!/bin/sh\necho \"{SOCKET_STOPPED} $(date +%s.%N)\" >> '{}'\n",
            record.display()
        ),
    );
    let listen = b.dir().join("s").join(format!("{stem}.sock"));
    let socket = format!(
        "[Unit]\nDescription=mesos-maint sandbox: recording socket of {name}\n\n\
         [Socket]\nListenStream={}\nExecStopPost=/bin/sh {}\n",
        listen.display(),
        script.display()
    );
    b.service(service).unit(&format!("{stem}.socket"), &socket)
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The standard node: agent (+ recording socket) and docker, all running.
fn standard_node(name: &str, sim: &Sim) -> Sandbox {
    let b = Sandbox::builder(name);
    let b = with_recording_socket(b, fake_agent(AGENT, sim));
    let sb = b
        .service(FakeService::docker())
        .start(DOCKER)
        .start(AGENT_SOCKET)
        .start(AGENT)
        .build()
        .expect("sandbox");
    assert_eq!(
        sb.record_path(AGENT),
        sb.dir().join("records").join(AGENT),
        "the recording socket writes where the sandbox reads"
    );
    assert_all(&sb, &[DOCKER, AGENT_SOCKET, AGENT], true);
    sb
}

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

fn assert_all(sb: &Sandbox, units: &[&str], active: bool) {
    for unit in units {
        let st = sb.unit_state(unit);
        let ok = if active {
            st.is_active()
        } else {
            st.is_stopped()
        };
        assert!(
            ok,
            "{unit} should be {}, is {st:?}\n{}",
            if active { "active" } else { "stopped" },
            sb.status_text(unit)
        );
    }
}

/// Agent socket, agent and docker still running, never signalled or stopped: the fake daemons'
/// records hold their start only.
fn assert_untouched(sb: &Sandbox) {
    assert_all(sb, &[AGENT_SOCKET, AGENT, DOCKER], true);
    assert_eq!(sb.recorded(AGENT), strings(&["START"]));
    assert_eq!(sb.recorded(DOCKER), strings(&["START"]));
}

/// The marker: at `stage`, with exactly the unit actions `actions`, in that order.
fn assert_marker(node: &Node, stage: Stage, actions: &[&str]) -> Marker {
    let marker = node.marker().expect("marker");
    assert_eq!(marker.stage, stage, "{marker:?}");
    assert_eq!(marker.actions, strings(actions), "{marker:?}");
    marker
}

fn count(events: &[String], event: &str) -> usize {
    events.iter().filter(|e| *e == event).count()
}

/// Position of the `nth` (0-based) `event` in a record.
fn position(events: &[String], event: &str, nth: usize) -> Option<usize> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| *e == event)
        .nth(nth)
        .map(|(i, _)| i)
}

fn actions(node: &Node) -> Vec<String> {
    node.marker().map(|m| m.actions).unwrap_or_default()
}

/// Write the marker of an interrupted drain of the simulated agent (this boot) at `stage`.
fn seed_marker(node: &Node, sim: &Sim, stage: Stage, actions: &[&str], forced: bool) {
    let mut marker = Marker::new(
        &sim.agent_id(),
        Trigger::Manual,
        DrainOptions {
            decommission: false,
            stop_units: true,
            stop_docker: true,
            force: forced,
        },
        &sim.master_url(),
        None,
        None,
        None,
    );
    marker.stage = stage;
    marker.actions = strings(actions);
    marker.forced = forced;
    node.markers().save(&mut marker).expect("seed the marker");
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// (a) drain: socket, service, docker; the docker signal only when configured
// ---------------------------------------------------------------------------------------------

#[test]
fn drain_stops_socket_then_agent_then_docker_without_a_signal_by_default() {
    run_isolated(
        "drain_stops_socket_then_agent_then_docker_without_a_signal_by_default",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, quick_config());
            let sb = standard_node("drain-default", &sim);
            let node = Node::new("", "");

            let ran = node.run(&sb, &sim, &["drain", "--deadline", "60s"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert!(ran.stdout.contains("DRAINED"), "{}", ran.context());
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
            assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));

            assert_all(&sb, &[AGENT_SOCKET, AGENT, DOCKER], false);
            let agent = sb.recorded(AGENT);
            let docker = sb.recorded(DOCKER);
            // Socket fully stopped before the service got its SIGTERM.
            let sock = position(&agent, SOCKET_STOPPED, 0).expect("socket stop recorded");
            let term = position(&agent, "SIGTERM", 0).expect("agent SIGTERM recorded");
            assert!(
                sock < term,
                "socket must stop before the service: {agent:?}"
            );
            assert_eq!(count(&agent, "SIGUSR1"), 0, "no SIGUSR1 without --force");
            // Docker: no signal by default, stopped after the agent.
            assert_eq!(count(&docker, "SIGUSR1"), 0, "{docker:?}");
            assert_eq!(count(&docker, "SIGTERM"), 1, "{docker:?}");
            // The record times (bash's $EPOCHREALTIME) give the order of the stops.
            let agent_term = sb
                .record_time(AGENT, "SIGTERM", 0)
                .expect("agent SIGTERM time");
            let docker_term = sb
                .record_time(DOCKER, "SIGTERM", 0)
                .expect("docker SIGTERM time");
            assert!(
                agent_term <= docker_term,
                "docker stopped ({docker_term}) before the agent ({agent_term})"
            );
            // The simulated agent went down with its unit (the master still lists it DRAINED).
            let state = sim.state_json();
            assert_eq!(state["agent_up"], false, "{state}");
            assert_eq!(state["link"], "DISCONNECTED", "{state}");

            // Every action is logged and recorded.
            let marker = assert_marker(
                &node,
                Stage::Done,
                &[
                    "stop dcos-mesos-slave.socket",
                    "stop dcos-mesos-slave.service",
                    "stop docker.service",
                ],
            );
            for a in &marker.actions {
                assert!(
                    ran.stderr.contains(a.as_str()),
                    "{a} not logged:\n{}",
                    ran.stderr
                );
            }
        },
    );
}

#[test]
fn drain_sends_the_configured_signal_to_docker_before_stopping_it() {
    run_isolated(
        "drain_sends_the_configured_signal_to_docker_before_stopping_it",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, quick_config());
            let sb = standard_node("drain-docker-signal", &sim);
            let node = Node::new("", "docker_signal = \"SIGUSR1\"");

            let ran = node.run(&sb, &sim, &["drain"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_all(&sb, &[AGENT_SOCKET, AGENT, DOCKER], false);
            let docker = sb.recorded(DOCKER);
            assert_eq!(
                docker,
                strings(&["START", "SIGUSR1", "SIGTERM"]),
                "one SIGUSR1, then the stop"
            );
            // The agent gets no signal in a verified drain.
            assert_eq!(sb.sigusr1_count(AGENT), 0);
            assert_eq!(
                actions(&node),
                strings(&[
                    "stop dcos-mesos-slave.socket",
                    "stop dcos-mesos-slave.service",
                    "signal SIGUSR1 docker.service",
                    "stop docker.service"
                ])
            );
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (b) the public agent variant
// ---------------------------------------------------------------------------------------------

#[test]
fn drain_stops_the_public_agent_and_its_socket() {
    run_isolated("drain_stops_the_public_agent_and_its_socket", || {
        let rt = runtime();
        let sim = start_sim(&rt, quick_config());
        // mesos-slave.service is installed and running too, but comes later in the detection
        // order: it must be left alone.
        let sb = Sandbox::builder("drain-public")
            .service(fake_agent(PUBLIC, &sim).with_socket())
            .service(FakeService::agent(MESOS_SLAVE))
            .service(FakeService::docker())
            .start(DOCKER)
            .start(PUBLIC_SOCKET)
            .start(PUBLIC)
            .start(MESOS_SLAVE)
            .build()
            .expect("sandbox");
        let node = Node::new("", "");

        let ran = node.run(&sb, &sim, &["drain"]);
        assert_eq!(ran.code, 0, "{}", ran.context());
        assert_all(&sb, &[PUBLIC_SOCKET, PUBLIC, DOCKER], false);
        assert_all(&sb, &[MESOS_SLAVE], true);
        assert_eq!(sb.recorded(MESOS_SLAVE), strings(&["START"]));
        assert_eq!(
            actions(&node),
            strings(&[
                "stop dcos-mesos-slave-public.socket",
                "stop dcos-mesos-slave-public.service",
                "stop docker.service"
            ])
        );
        // And reactivate finds the same unit again.
        let ran = node.run(&sb, &sim, &["reactivate"]);
        assert_eq!(ran.code, 0, "{}", ran.context());
        assert_all(&sb, &[DOCKER, PUBLIC_SOCKET, PUBLIC, MESOS_SLAVE], true);
    });
}

// ---------------------------------------------------------------------------------------------
// (c) no agent unit
// ---------------------------------------------------------------------------------------------

#[test]
fn drain_without_an_agent_unit_fails_before_drain_agent() {
    run_isolated(
        "drain_without_an_agent_unit_fails_before_drain_agent",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, quick_config());
            let sb = Sandbox::builder("drain-no-agent")
                .service(FakeService::docker())
                .start(DOCKER)
                .build()
                .expect("sandbox");
            let node = Node::new("", "");

            let ran = node.run(&sb, &sim, &["drain"]);
            assert_eq!(ran.code, 2, "{}", ran.context());
            for name in CANDIDATES {
                assert!(
                    ran.stderr.contains(name),
                    "{name} not listed:\n{}",
                    ran.context()
                );
            }
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
            assert_eq!(sim.drain_state(), None);
            assert_all(&sb, &[DOCKER], true);
            assert_eq!(sb.recorded(DOCKER), strings(&["START"]));
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (d) deadline: units untouched; (e) --force: SIGUSR1 to the agent, then stop
// ---------------------------------------------------------------------------------------------

#[test]
fn drain_that_hits_its_deadline_leaves_the_units_running() {
    run_isolated(
        "drain_that_hits_its_deadline_leaves_the_units_running",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, never_ack_config());
            let sb = standard_node("drain-deadline", &sim);
            let node = Node::new("", "docker_signal = \"SIGUSR1\"");

            let ran = node.run(&sb, &sim, &["drain", "--deadline", "2s"]);
            assert_eq!(ran.code, 4, "{}", ran.context());
            assert!(ran.stderr.contains("dead-scheduler"), "{}", ran.context());
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
            assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));

            assert_untouched(&sb);
            let marker = assert_marker(&node, Stage::DeadlineExceeded, &[]);
            assert!(!marker.forced);
        },
    );
}

#[test]
fn forced_drain_signals_the_agent_then_stops_the_units() {
    run_isolated(
        "forced_drain_signals_the_agent_then_stops_the_units",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, never_ack_config());
            let sb = standard_node("drain-force", &sim);
            let node = Node::new("", "");

            let ran = node.run(&sb, &sim, &["drain", "--deadline", "2s", "--force"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert!(ran.stdout.contains("escalated"), "{}", ran.context());
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);

            // SIGUSR1 reached the agent unit's main process, before its stop.
            let agent = sb.recorded(AGENT);
            assert_eq!(count(&agent, "SIGUSR1"), 1, "{agent:?}");
            let usr1 = position(&agent, "SIGUSR1", 0).unwrap();
            let sock = position(&agent, SOCKET_STOPPED, 0).expect("socket stop recorded");
            let term = position(&agent, "SIGTERM", 0).expect("agent SIGTERM recorded");
            assert!(usr1 < sock && sock < term, "{agent:?}");
            // ... and the simulated master saw the agent unregister: removed, drain state erased.
            assert!(!sim.is_listed(), "{}", sim.state_json());
            assert_eq!(sim.drain_state(), None);
            assert_eq!(sim.task_counts().launched, 0);

            assert_all(&sb, &[AGENT_SOCKET, AGENT, DOCKER], false);
            assert_eq!(sb.sigusr1_count(DOCKER), 0, "no docker signal configured");
            let marker = assert_marker(
                &node,
                Stage::Done,
                &[
                    "signal SIGUSR1 dcos-mesos-slave.service",
                    "stop dcos-mesos-slave.socket",
                    "stop dcos-mesos-slave.service",
                    "stop docker.service",
                ],
            );
            assert!(marker.forced);
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (f) reactivate
// ---------------------------------------------------------------------------------------------

#[test]
fn reactivate_starts_docker_then_the_agent_and_reactivates_once() {
    run_isolated(
        "reactivate_starts_docker_then_the_agent_and_reactivates_once",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, quick_config());
            let sb = standard_node("reactivate", &sim);
            let node = Node::new("", "");

            let ran = node.run(&sb, &sim, &["drain"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_all(&sb, &[AGENT_SOCKET, AGENT, DOCKER], false);
            assert!(sim.is_deactivated());

            let ran = node.run(&sb, &sim, &["reactivate", "--json"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_all(&sb, &[DOCKER, AGENT_SOCKET, AGENT], true);
            assert_eq!(
                ran.json()["started_units"],
                serde_json::json!([DOCKER, AGENT_SOCKET, AGENT])
            );
            assert_eq!(sim.count_calls("REACTIVATE_AGENT"), 1);
            assert!(!sim.is_deactivated());
            assert!(sim.is_listed());
            assert!(node.marker().is_none(), "marker cleared");
            let state = sim.state_json();
            assert_eq!(state["agent_up"], true, "{state}");
            assert_eq!(state["link"], "CONNECTED", "{state}");
            // Docker came up before the agent.
            let docker_start = sb
                .record_time(DOCKER, "START", 1)
                .expect("docker restarted");
            let agent_start = sb.record_time(AGENT, "START", 1).expect("agent restarted");
            assert!(
                docker_start <= agent_start,
                "{docker_start} > {agent_start}"
            );
        },
    );
}

#[test]
fn drain_run_again_after_it_stopped_the_units_is_done_without_a_second_drain() {
    run_isolated(
        "drain_run_again_after_it_stopped_the_units_is_done_without_a_second_drain",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, quick_config());
            let sb = standard_node("drain-twice", &sim);
            let node = Node::new("", "");

            let ran = node.run(&sb, &sim, &["drain", "--deadline", "60s"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_all(&sb, &[AGENT_SOCKET, AGENT, DOCKER], false);

            // The agent is down now: its id comes from the marker, and its stopped unit stands in
            // for the local verification (as in `check`).
            let dry = node.run(&sb, &sim, &["drain", "--dry-run", "--json"]);
            assert_eq!(dry.code, 0, "{}", dry.context());
            assert_eq!(dry.json()["agent_id"], sim.agent_id(), "{}", dry.context());
            let again = node.run(&sb, &sim, &["drain", "--deadline", "20s"]);
            assert_eq!(again.code, 0, "{}", again.context());
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1, "no second DRAIN_AGENT");
            assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
            assert_all(&sb, &[AGENT_SOCKET, AGENT, DOCKER], false);
            assert_eq!(node.marker().expect("marker").stage, Stage::Done);
            let check = node.run(&sb, &sim, &["check"]);
            assert_eq!(check.code, 0, "{}", check.context());

            // The marker of the second run still says docker was ours to stop.
            let ran = node.run(&sb, &sim, &["reactivate", "--json"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_eq!(
                ran.json()["started_units"],
                serde_json::json!([DOCKER, AGENT_SOCKET, AGENT])
            );
            assert_all(&sb, &[DOCKER, AGENT_SOCKET, AGENT], true);
        },
    );
}

#[test]
fn maintenance_after_a_drain_that_stopped_the_agent_names_the_machine_from_the_master() {
    run_isolated(
        "maintenance_after_a_drain_that_stopped_the_agent_names_the_machine_from_the_master",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, quick_config());
            let sb = standard_node("maintenance", &sim);
            let node = Node::new("", "");
            let machine =
                serde_json::json!({"hostname": sim.state_json()["hostname"], "ip": "127.0.0.1"});

            // The agent is busy: `down` is refused before anything is sent.
            let busy = node.run(&sb, &sim, &["maintenance", "down"]);
            assert_eq!(busy.code, 5, "{}", busy.context());
            assert_eq!(sim.count_calls("START_MAINTENANCE"), 0);

            let ran = node.run(&sb, &sim, &["drain", "--deadline", "60s"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_all(&sb, &[AGENT_SOCKET, AGENT, DOCKER], false);
            // Nothing recorded by `maintenance` yet on this run's state dir: only the master's
            // entry for the marker's agent id can name the machine now.
            std::fs::remove_file(node.state_dir().join("machine.json")).expect("recorded by down");

            let ran = node.run(&sb, &sim, &["maintenance", "schedule", "--json"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_eq!(ran.json()["machine"], machine, "{}", ran.context());
            // The unit is stopped (systemd says so), so `down` needs no --force.
            let ran = node.run(&sb, &sim, &["maintenance", "down"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_eq!(sim.count_calls("START_MAINTENANCE"), 1);
            assert_eq!(
                sim.state_json()["down_machines"],
                serde_json::json!([machine])
            );
            // The master removed the agent: only the record names the machine for `up`.
            let ran = node.run(&sb, &sim, &["maintenance", "up"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert!(ran.stderr.contains("recorded"), "{}", ran.context());
            assert_eq!(sim.state_json()["down_machines"], serde_json::json!([]));
            let schedule = &sim.state_json()["maintenance_schedule"];
            assert!(
                schedule["windows"].as_array().is_none_or(|w| w.is_empty()),
                "{schedule}"
            );
        },
    );
}

#[test]
fn reactivate_leaves_docker_alone_when_configured_not_to_stop_it() {
    run_isolated(
        "reactivate_leaves_docker_alone_when_configured_not_to_stop_it",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, quick_config());
            let sb = standard_node("reactivate-docker", &sim);
            // This node does not stop docker; an administrator stops it by hand afterwards.
            let node = Node::new("", "stop_docker = false");

            let ran = node.run(&sb, &sim, &["drain"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_all(&sb, &[AGENT_SOCKET, AGENT], false);
            assert_all(&sb, &[DOCKER], true);
            sb.stop_unit(DOCKER);

            let ran = node.run(&sb, &sim, &["reactivate"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_all(&sb, &[AGENT_SOCKET, AGENT], true);
            assert_all(&sb, &[DOCKER], false);
            assert_eq!(sim.count_calls("REACTIVATE_AGENT"), 1);
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (g) a resumed drain does not repeat finished unit actions
// ---------------------------------------------------------------------------------------------

#[test]
fn drain_killed_while_stopping_docker_resumes_without_repeating() {
    run_isolated(
        "drain_killed_while_stopping_docker_resumes_without_repeating",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, quick_config());
            // Docker takes 2 s to stop, a window to kill the drain in.
            let b = Sandbox::builder("drain-killed");
            let b = with_recording_socket(b, fake_agent(AGENT, &sim));
            let sb = b
                .service(FakeService::docker().exec_stop("/bin/sleep 2"))
                .start(DOCKER)
                .start(AGENT_SOCKET)
                .start(AGENT)
                .build()
                .expect("sandbox");
            let node = Node::new("", "docker_signal = \"SIGUSR1\"");

            let running = node.spawn(
                &mut node.command(Some(&sb), &sim, &["drain"]),
                "first-drain",
            );
            let signalled = "signal SIGUSR1 docker.service".to_owned();
            let in_stop_docker =
                wait_until(Duration::from_secs(30), || {
                    node.markers().load().ok().flatten().is_some_and(|m| {
                        m.stage == Stage::StopDocker && m.actions.contains(&signalled)
                    })
                });
            let first = running.kill();
            assert!(
                in_stop_docker,
                "the drain never reached StopDocker:\n{}",
                first.context()
            );
            assert_eq!(sb.sigusr1_count(DOCKER), 1, "{:?}", sb.recorded(DOCKER));
            let before = node.marker().expect("marker of the killed drain");
            assert_eq!(before.stage, Stage::StopDocker);

            let ran = node.run(&sb, &sim, &["drain", "--json"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_eq!(ran.json()["resumed_from"], "StopDocker");
            assert_eq!(
                sim.count_calls("DRAIN_AGENT"),
                1,
                "DRAIN_AGENT not sent again"
            );
            assert_all(&sb, &[AGENT_SOCKET, AGENT, DOCKER], false);
            assert_eq!(sb.sigusr1_count(DOCKER), 1, "{:?}", sb.recorded(DOCKER));
            let agent = sb.recorded(AGENT);
            assert_eq!(count(&agent, "SIGTERM"), 1, "{agent:?}");
            assert_eq!(count(&agent, SOCKET_STOPPED), 1, "{agent:?}");
            assert_marker(
                &node,
                Stage::Done,
                &[
                    "stop dcos-mesos-slave.socket",
                    "stop dcos-mesos-slave.service",
                    "signal SIGUSR1 docker.service",
                    "stop docker.service",
                ],
            );
        },
    );
}

#[test]
fn resumed_drain_skips_the_unit_actions_its_marker_records() {
    run_isolated(
        "resumed_drain_skips_the_unit_actions_its_marker_records",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, quick_config());
            let sb = standard_node("drain-preseeded", &sim);
            let node = Node::new("", "docker_signal = \"SIGUSR1\"");
            // An interrupted drain of this agent, this boot, that (per its marker) already
            // stopped the agent units and signalled docker. The units are running again: if
            // the resumed drain repeated those actions, they would be stopped or signalled.
            seed_marker(
                &node,
                &sim,
                Stage::StopDocker,
                &[
                    "stop dcos-mesos-slave.socket",
                    "stop dcos-mesos-slave.service",
                    "signal SIGUSR1 docker.service",
                ],
                false,
            );

            let ran = node.run(&sb, &sim, &["drain", "--json"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_eq!(ran.json()["resumed_from"], "StopDocker");
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
            assert_all(&sb, &[AGENT_SOCKET, AGENT], true);
            assert_eq!(sb.recorded(AGENT), strings(&["START"]));
            assert_all(&sb, &[DOCKER], false);
            assert_eq!(sb.recorded(DOCKER), strings(&["START", "SIGTERM"]));
            assert_marker(
                &node,
                Stage::Done,
                &[
                    "stop dcos-mesos-slave.socket",
                    "stop dcos-mesos-slave.service",
                    "signal SIGUSR1 docker.service",
                    "stop docker.service",
                ],
            );
        },
    );
}

#[test]
fn resumed_forced_drain_still_signals_the_agent_before_stopping_it() {
    run_isolated(
        "resumed_forced_drain_still_signals_the_agent_before_stopping_it",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, never_ack_config());
            let sb = standard_node("drain-forced-resume", &sim);
            let node = Node::new("", "");
            // Killed right after it escalated at its deadline, before any unit action.
            seed_marker(&node, &sim, Stage::StopAgent, &[], true);

            let ran = node.run(&sb, &sim, &["drain", "--json"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            let out = ran.json();
            assert_eq!(out["resumed_from"], "StopAgent");
            assert_eq!(out["forced"], true);
            let agent = sb.recorded(AGENT);
            assert_eq!(count(&agent, "SIGUSR1"), 1, "{agent:?}");
            assert!(
                position(&agent, "SIGUSR1", 0) < position(&agent, "SIGTERM", 0),
                "{agent:?}"
            );
            assert!(!sim.is_listed(), "the agent unregistered");
            assert_all(&sb, &[AGENT_SOCKET, AGENT, DOCKER], false);
        },
    );
}

#[test]
fn resumed_drain_with_no_stop_skips_the_remaining_unit_actions() {
    run_isolated(
        "resumed_drain_with_no_stop_skips_the_remaining_unit_actions",
        || {
            let rt = runtime();
            let sim = start_sim(&rt, quick_config());
            let sb = standard_node("drain-resume-no-stop", &sim);
            let node = Node::new("", "");
            seed_marker(&node, &sim, Stage::StopAgent, &[], false);

            let ran = node.run(&sb, &sim, &["drain", "--no-stop", "--json"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_eq!(ran.json()["resumed_from"], "StopAgent");
            assert_untouched(&sb);
            assert_marker(&node, Stage::Done, &[]);
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (h) --no-stop
// ---------------------------------------------------------------------------------------------

#[test]
fn drain_with_no_stop_leaves_every_unit_running() {
    run_isolated("drain_with_no_stop_leaves_every_unit_running", || {
        let rt = runtime();
        let sim = start_sim(&rt, quick_config());
        let sb = standard_node("drain-no-stop", &sim);
        let node = Node::new("", "docker_signal = \"SIGUSR1\"");

        let ran = node.run(&sb, &sim, &["drain", "--no-stop"]);
        assert_eq!(ran.code, 0, "{}", ran.context());
        assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
        assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
        assert_untouched(&sb);
        assert_marker(&node, Stage::Done, &[]);
    });
}

// ---------------------------------------------------------------------------------------------
// (i) systemd cannot be reached, or refuses
// ---------------------------------------------------------------------------------------------

#[test]
fn unreachable_bus_is_exit_3_and_nothing_is_sent() {
    run_isolated("unreachable_bus_is_exit_3_and_nothing_is_sent", || {
        let rt = runtime();
        let sim = start_sim(&rt, quick_config());
        let node = Node::new("", "");
        let nowhere = "unix:path=/nonexistent/mesos-maint-test-bus";
        let run = |args: &[&str], tag: &str| {
            let mut cmd = node.command(None, &sim, args);
            cmd.env("DBUS_SYSTEM_BUS_ADDRESS", nowhere);
            node.spawn(&mut cmd, tag).wait()
        };

        let ran = run(&["drain"], "drain");
        assert_eq!(ran.code, 3, "{}", ran.context());
        assert!(
            ran.stderr.contains("cannot reach systemd") && ran.stderr.contains(nowhere),
            "{}",
            ran.context()
        );
        assert!(ran.stderr.contains("--no-stop"), "{}", ran.context());
        assert!(
            sim.requests().is_empty(),
            "nothing may be sent: {:?}",
            sim.requests()
        );
        assert_eq!(
            ran.stderr.lines().count(),
            1,
            "one clear line:\n{}",
            ran.stderr
        );

        let ran = run(&["reactivate"], "reactivate");
        assert_eq!(ran.code, 3, "{}", ran.context());
        assert!(
            ran.stderr.contains("cannot reach systemd"),
            "{}",
            ran.context()
        );
        assert_eq!(sim.count_calls("REACTIVATE_AGENT"), 0);

        // Without unit actions the bus is not needed.
        let ran = run(&["drain", "--no-stop"], "no-stop");
        assert_eq!(ran.code, 0, "{}", ran.context());
        assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
    });
}

#[test]
fn unprivileged_caller_is_exit_3_with_a_clear_message() {
    run_isolated("unprivileged_caller_is_exit_3_with_a_clear_message", || {
        use std::os::unix::process::CommandExt;
        let rt = runtime();
        let sim = start_sim(&rt, quick_config());
        let sb = standard_node("drain-nobody", &sim);
        let node = Node::new("", "");
        // The unprivileged user must be able to read the config and write its state dir.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(node.dir.path(), fs::Permissions::from_mode(0o777)).unwrap();

        let mut cmd = node.command(Some(&sb), &sim, &["drain"]);
        cmd.uid(65534).gid(65534);
        let ran = node.spawn(&mut cmd, "nobody").wait();
        assert_eq!(ran.code, 3, "{}", ran.context());
        assert!(ran.stderr.contains("not root?"), "{}", ran.context());
        assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
        assert_all(&sb, &[AGENT_SOCKET, AGENT, DOCKER], true);
    });
}
