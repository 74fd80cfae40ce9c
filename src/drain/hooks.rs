//! Site hooks: executables in `<hooks_dir>/<stage>/`, run in name order with a timeout, told the
//! agent id, trigger and stage through the environment (e.g. move a Kafka broker away first).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookStage {
    PreDrain,
    PostDrain,
}

impl HookStage {
    pub fn dir_name(self) -> &'static str {
        match self {
            HookStage::PreDrain => "pre-drain",
            HookStage::PostDrain => "post-drain",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Hooks {
    pub dir: PathBuf,
    pub timeout: Duration,
}

/// What a hook is told about the drain.
#[derive(Debug, Clone)]
pub struct HookEnv {
    pub agent_id: String,
    pub trigger: String,
    pub master: String,
    pub decommission: bool,
}

impl Hooks {
    /// The executables for a stage, in name order. A missing directory means no hooks.
    pub fn list(&self, stage: HookStage) -> Vec<PathBuf> {
        let dir = self.dir.join(stage.dir_name());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_executable(p))
            .collect();
        out.sort();
        out
    }

    /// Runs every hook of the stage; the first failure stops the rest and is returned.
    pub async fn run(&self, stage: HookStage, env: &HookEnv) -> Result<usize, String> {
        let hooks = self.list(stage);
        for hook in &hooks {
            tracing::info!(target: crate::logging::PROGRESS, hook = %hook.display(), "running {} hook", stage.dir_name());
            let mut cmd = Command::new(hook);
            cmd.env("MESOS_MAINT_AGENT_ID", &env.agent_id)
                .env("MESOS_MAINT_TRIGGER", &env.trigger)
                .env("MESOS_MAINT_STAGE", stage.dir_name())
                .env("MESOS_MAINT_MASTER", &env.master)
                .env(
                    "MESOS_MAINT_DECOMMISSION",
                    if env.decommission { "1" } else { "0" },
                )
                .stdin(std::process::Stdio::null())
                // Its own process group, so a timed-out hook is killed with everything it started.
                .process_group(0)
                .kill_on_drop(true);
            let child = cmd
                .spawn()
                .map_err(|e| format!("{}: cannot start: {e}", hook.display()))?;
            let pgid = child.id();
            match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
                Err(_) => {
                    if let Some(pgid) = pgid {
                        let _ = nix::sys::signal::killpg(
                            nix::unistd::Pid::from_raw(pgid as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    return Err(format!(
                        "{}: timed out after {}",
                        hook.display(),
                        humantime::format_duration(self.timeout)
                    ));
                }
                Ok(Err(e)) => return Err(format!("{}: {e}", hook.display())),
                Ok(Ok(out)) if !out.status.success() => {
                    return Err(format!("{}: exited with {}", hook.display(), out.status))
                }
                Ok(Ok(_)) => {}
            }
        }
        Ok(hooks.len())
    }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(dir: &Path, name: &str, body: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn env() -> HookEnv {
        HookEnv {
            agent_id: "S1".into(),
            trigger: "manual".into(),
            master: "http://m".into(),
            decommission: false,
        }
    }

    #[tokio::test]
    async fn runs_in_name_order_with_environment() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("pre-drain");
        let log = tmp.path().join("log");
        hook(
            &d,
            "20-b",
            &format!("echo b $MESOS_MAINT_STAGE >> {}", log.display()),
        );
        hook(
            &d,
            "10-a",
            &format!("echo a $MESOS_MAINT_AGENT_ID >> {}", log.display()),
        );
        std::fs::write(d.join("30-not-executable"), "exit 1").unwrap();
        let hooks = Hooks {
            dir: tmp.path().to_path_buf(),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(hooks.run(HookStage::PreDrain, &env()).await, Ok(2));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "a S1\nb pre-drain\n"
        );
        assert_eq!(hooks.run(HookStage::PostDrain, &env()).await, Ok(0));
    }

    #[tokio::test]
    async fn failure_and_timeout_stop_the_stage() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("pre-drain");
        hook(&d, "10-fail", "exit 3");
        hook(
            &d,
            "20-never",
            &format!("touch {}/ran", tmp.path().display()),
        );
        let hooks = Hooks {
            dir: tmp.path().to_path_buf(),
            timeout: Duration::from_secs(5),
        };
        let err = hooks.run(HookStage::PreDrain, &env()).await.unwrap_err();
        assert!(err.contains("10-fail"), "{err}");
        assert!(!tmp.path().join("ran").exists());

        let tmp2 = tempfile::tempdir().unwrap();
        hook(&tmp2.path().join("post-drain"), "10-slow", "sleep 5");
        let hooks = Hooks {
            dir: tmp2.path().to_path_buf(),
            timeout: Duration::from_millis(200),
        };
        let err = hooks.run(HookStage::PostDrain, &env()).await.unwrap_err();
        assert!(err.contains("timed out"), "{err}");
    }
}
