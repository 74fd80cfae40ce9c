//! `mesos-maint self-test` on a node as it runs in production: a real systemd manager and a real
//! systemd-logind (reading the package's logind.conf.d drop-in) on a private bus (see
//! `tests/support/sandbox.rs`), a stand-in `mesos-maint.service` and fake agent and docker units,
//! and the in-process Mesos simulator as master and agent. Needs root and `unshare`; elsewhere it
//! prints a SKIP line and passes.
//!
//! (Without a bus and without the package, `self-test --image-build` is exercised in a scratch
//! root made from the .deb by `packaging/check.sh`.)

mod support;

use std::process::Output;

use mesos_sim::{Sim, SimConfig};
use serde_json::Value;
use support::fake::FakeService;
use support::node::{json_check as check, scrub_env, BIN};
use support::sandbox::{run_isolated_requiring, Sandbox};
use support::sim::runtime;

/// These tests read logind's InhibitDelayMaxUSec: skip (not fail) where it is not installed.
const LOGIND: &str = "/lib/systemd/systemd-logind";

fn run(sb: &Sandbox, state_dir: &std::path::Path, args: &[&str]) -> (Output, Value) {
    let mut cmd = sb.command(BIN);
    cmd.arg("--json")
        .arg("--state-dir")
        .arg(state_dir)
        .args(args);
    scrub_env(&mut cmd);
    let out = cmd.output().expect("run mesos-maint self-test");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "self-test --json printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
}

#[test]
fn self_test_passes_on_a_ready_node_and_names_what_is_unreachable() {
    run_isolated_requiring(
        "self_test_passes_on_a_ready_node_and_names_what_is_unreachable",
        &[LOGIND],
        || {
            let rt = runtime();
            let sim = rt
                .block_on(Sim::start(SimConfig::default()))
                .expect("start the simulator");
            let builder = Sandbox::builder("self-test");
            let state = builder.dir().join("state");
            std::fs::create_dir_all(&state).unwrap();
            let sb = builder
                .unit(
                    "mesos-maint.service",
                    "[Unit]\nDescription=stand-in for the packaged unit\n\n[Service]\nExecStart=/bin/true\n",
                )
                .service(FakeService::agent("dcos-mesos-slave.service").with_socket())
                .service(FakeService::docker())
                .logind_conf(
                    "mesos-maint.conf",
                    include_str!("../systemd/logind-mesos-maint.conf"),
                )
                .build()
                .expect("sandbox");
            let master = sim.master_url();
            let agent = sim.agent_url();

            // Everything reachable: exit 0, every check passes.
            let (out, r) = run(
                &sb,
                &state,
                &["--master", &master, "--agent", &agent, "self-test"],
            );
            assert_eq!(out.status.code(), Some(0), "{r:#}");
            assert_eq!(r["ok"], true);
            assert_eq!(r["image_build"], false);
            for name in [
                "binary",
                "config",
                "credentials",
                "hooks",
                "state-dir",
                "units",
                "dbus",
                "logind",
                "agent-units",
                "agent-api",
                "master-api",
            ] {
                assert_eq!(check(&r, name).0, "pass", "{name}: {r:#}");
            }
            assert!(check(&r, "logind").1.contains("15m"), "{r:#}");
            assert!(
                check(&r, "agent-units")
                    .1
                    .contains("dcos-mesos-slave.service (with dcos-mesos-slave.socket)"),
                "{r:#}"
            );
            assert!(check(&r, "agent-api").1.contains(&sim.agent_id()), "{r:#}");
            assert!(
                check(&r, "master-api")
                    .1
                    .contains(&format!("knows agent {}", sim.agent_id())),
                "{r:#}"
            );

            // The agent does not answer: exit 3, and the report says which check failed.
            let (out, r) = run(
                &sb,
                &state,
                &[
                    "--master",
                    &master,
                    "--agent",
                    "http://127.0.0.1:1",
                    "self-test",
                ],
            );
            assert_eq!(out.status.code(), Some(3), "{r:#}");
            assert_eq!(check(&r, "agent-api").0, "fail");
            assert!(check(&r, "agent-api").1.contains("127.0.0.1:1"), "{r:#}");
            // Without an agent id the master is only asked whether it answers.
            assert_eq!(check(&r, "master-api").0, "pass", "{r:#}");

            // Neither answers, but this is an image build: not asked, exit 0.
            let (out, r) = run(
                &sb,
                &state,
                &[
                    "--master",
                    "http://127.0.0.1:1",
                    "--agent",
                    "http://127.0.0.1:1",
                    "self-test",
                    "--image-build",
                ],
            );
            assert_eq!(out.status.code(), Some(0), "{r:#}");
            assert_eq!(check(&r, "agent-api").0, "skip");
            assert_eq!(check(&r, "dbus").0, "pass");

            // None of the configured agent units exists: a configuration error, exit 2.
            let cfg = sb.dir().join("units-missing.toml");
            std::fs::write(&cfg, "[units]\nagent = [\"nomad-agent.service\"]\n").unwrap();
            let (out, r) = run(
                &sb,
                &state,
                &[
                    "--config",
                    cfg.to_str().unwrap(),
                    "--master",
                    &master,
                    "--agent",
                    &agent,
                    "self-test",
                ],
            );
            assert_eq!(out.status.code(), Some(2), "{r:#}");
            assert_eq!(check(&r, "agent-units").0, "fail");

            // A configuration that does not load: exit 2 and still one JSON report.
            std::fs::write(&cfg, "[units]\nstop_docker = \"yes\"\n").unwrap();
            let (out, r) = run(
                &sb,
                &state,
                &["--config", cfg.to_str().unwrap(), "self-test"],
            );
            assert_eq!(out.status.code(), Some(2), "{r:#}");
            let (status, detail) = check(&r, "config");
            assert_eq!(status, "fail");
            assert!(detail.contains("units.stop_docker"), "{detail}");
            drop(sb);
            drop(sim);
        },
    );
}
