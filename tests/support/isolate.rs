//! Running one test in a private mount namespace: the test binary re-executes itself for just
//! that test under `unshare -m`, holding the machine-wide system-test lock, and the outer process
//! forwards its output and its verdict. The systemd sandbox (`sandbox.rs`) is built inside.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use super::sandbox::SYSTEMD;

/// Set in the re-executed test process, which runs inside the private mount namespace.
pub const SANDBOX_ENV: &str = "MESOS_MAINT_SANDBOXED";
/// The inner process creates this file when the body returned (guards against a test filter
/// that matched nothing, which libtest reports as success).
pub const DONE_ENV: &str = "MESOS_MAINT_SANDBOX_DONE";
/// The outer process's mount namespace (`mnt:[…]`), so the inner one can check it has its own.
pub const OUTER_MNTNS_ENV: &str = "MESOS_MAINT_SANDBOX_OUTER_MNTNS";
/// Override the whole-test time limit in seconds (default [`TEST_TIMEOUT`]).
pub const TIMEOUT_ENV: &str = "MESOS_MAINT_SANDBOX_TIMEOUT_SECS";
/// Machine-wide lock serialising system tests (all test binaries, all runners).
pub const LOCK_FILE: &str = "/tmp/mesos-maint-systemtests.lock";
/// Time limit for one isolated test, including waiting for the lock.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Run `body` inside a private mount namespace, holding the machine-wide system-test lock.
///
/// Outside (the normal `cargo test` / `cargo nextest run` process): check the prerequisites
/// (root, `unshare`, systemd, `busctl`, `systemctl`) and, when one is missing, print
/// `SKIP <test_name>: <reason>` and return (the test passes as skipped); otherwise re-execute
/// this test binary for exactly this test under `unshare -m --propagation private`, forward its
/// output, and panic unless it succeeded. Inside (`MESOS_MAINT_SANDBOXED` set): run `body`.
///
/// `test_name` is the test function's name, or its full path (`module::name`) for a test
/// inside a module. The full path is taken from the test thread's name when libtest provides
/// it.
pub fn run_isolated(test_name: &str, body: impl FnOnce()) {
    run_isolated_requiring(test_name, &[], body)
}

/// [`run_isolated`], also skipping when one of `extra_paths` (e.g. `/lib/systemd/systemd-logind`)
/// does not exist.
pub fn run_isolated_requiring(test_name: &str, extra_paths: &[&str], body: impl FnOnce()) {
    if std::env::var_os(SANDBOX_ENV).is_some() {
        run_inside(body);
        return;
    }
    if let Some(reason) = skip_reason(extra_paths) {
        // Straight to the stderr fd, past libtest's capture, so the skip is always visible.
        let _ = writeln!(std::io::stderr(), "SKIP {test_name}: {reason}");
        return;
    }
    let path = full_test_path(test_name);
    run_outside(&path);
}

/// Why system tests cannot run here, if they cannot.
pub fn skip_reason(extra_paths: &[&str]) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (a private mount namespace and a real systemd)".into());
    }
    for tool in ["unshare", "busctl", "systemctl", "mount"] {
        if find_in_path(tool).is_none() {
            return Some(format!("`{tool}` is not on PATH"));
        }
    }
    for path in std::iter::once(&SYSTEMD).chain(extra_paths) {
        if !Path::new(path).exists() {
            return Some(format!("{path} does not exist"));
        }
    }
    unshare_refused()
}

/// Root without CAP_SYS_ADMIN (an unprivileged container) cannot unshare: find out once.
fn unshare_refused() -> Option<String> {
    static PROBE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| {
            match Command::new("unshare")
                .args(["-m", "--propagation", "private", "true"])
                .stdin(Stdio::null())
                .output()
            {
                Ok(out) if out.status.success() => None,
                Ok(out) => Some(format!(
                    "`unshare -m` is refused here: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => Some(format!("cannot run unshare: {e}")),
            }
        })
        .clone()
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// The libtest name of the running test: the thread name when it ends with `test_name`
/// (libtest names each test's thread after the test's full path, also under nextest), else
/// `test_name` itself.
fn full_test_path(test_name: &str) -> String {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name == test_name || name.ends_with(&format!("::{test_name}")) => {
            name.to_owned()
        }
        _ => test_name.to_owned(),
    }
}

fn run_outside(test_path: &str) {
    let exe = std::env::current_exe().expect("current test executable");
    let marker_dir = tempfile::Builder::new()
        .prefix("mesos-maint-isolated-")
        .tempdir()
        .expect("temp dir");
    let marker = marker_dir.path().join("done");
    let timeout = std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(TEST_TIMEOUT);

    let mut child = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(&exe)
        .args([
            "--exact",
            test_path,
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env(SANDBOX_ENV, "1")
        .env(DONE_ENV, &marker)
        .env(OUTER_MNTNS_ENV, mount_namespace(0).unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare");

    // Forward the output through print!/eprint! so libtest captures it (shown on failure or
    // with --nocapture).
    let out = child.stdout.take().map(|s| forward(s, false));
    let err = child.stderr.take().map(|s| forward(s, true));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("wait for the isolated test") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let status = match status {
        Some(status) => status,
        None => {
            // Our own child, by PID. Its sandbox processes die with their parent
            // (PR_SET_PDEATHSIG).
            let _ = child.kill();
            let _ = child.wait();
            for h in [out, err].into_iter().flatten() {
                let _ = h.join();
            }
            panic!("isolated test {test_path} did not finish within {timeout:?}; killed it");
        }
    };
    for h in [out, err].into_iter().flatten() {
        let _ = h.join();
    }
    assert!(
        status.success(),
        "isolated test {test_path} failed ({status}); its output is above"
    );
    assert!(
        marker.exists(),
        "isolated run of {test_path} did not run the test (is {test_path:?} its full libtest \
         path? for a test in a module pass `module::name`)"
    );
}

fn forward<R: std::io::Read + Send + 'static>(
    reader: R,
    to_stderr: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if to_stderr {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
    })
}

fn run_inside(body: impl FnOnce()) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,mesos_maint=debug".into()),
        )
        .with_test_writer()
        .with_ansi(false)
        .try_init();
    assert!(
        in_private_mount_namespace(),
        "{SANDBOX_ENV} is set but this process shares the host's mount namespace; \
         run system tests through run_isolated"
    );
    let lock = lock_machine_wide();
    body();
    drop(lock);
    if let Some(marker) = std::env::var_os(DONE_ENV) {
        File::create(marker).expect("create the done marker");
    }
}

/// Take the exclusive machine-wide lock for system tests (blocking).
pub fn lock_machine_wide() -> Flock<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_FILE)
        .unwrap_or_else(|e| panic!("open {LOCK_FILE}: {e}"));
    match Flock::lock(file, FlockArg::LockExclusive) {
        Ok(lock) => lock,
        Err((_, e)) => panic!("lock {LOCK_FILE}: {e}"),
    }
}

/// The mount namespace of `pid` (0: this process), e.g. `mnt:[4026532177]`.
fn mount_namespace(pid: u32) -> Option<String> {
    let link = if pid == 0 {
        "/proc/self/ns/mnt".to_owned()
    } else {
        format!("/proc/{pid}/ns/mnt")
    };
    fs::read_link(link)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// This process runs in a mount namespace of its own: not the one of the process that
/// re-executed it (`run_isolated`), nor PID 1's (when that can be read; inside some containers
/// it cannot, even as root).
pub fn in_private_mount_namespace() -> bool {
    let Some(mine) = mount_namespace(0) else {
        return false;
    };
    let Some(outer) = std::env::var(OUTER_MNTNS_ENV)
        .ok()
        .filter(|s| !s.is_empty())
    else {
        return false;
    };
    mine != outer && !matches!(mount_namespace(1), Some(init) if init == mine)
}
