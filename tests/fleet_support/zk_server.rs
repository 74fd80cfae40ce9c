//! A real ZooKeeper server for tests: Debian's `zookeeper` package (3.8) run with a JRE as
//! `org.apache.zookeeper.server.ZooKeeperServerMain` on 127.0.0.1, a free port and a temporary data
//! dir; no systemd. Stopped by PID when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package puts the server jar; its manifest's Class-Path names the rest.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Optional: an SLF4J binding so the server's log lands in `server.log` (else SLF4J NOP).
pub const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
pub const MAIN_CLASS: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
/// tickTime: negotiated session timeouts fall in [2, 20] x this, so [1 s, 10 s].
pub const TICK_MS: u64 = 500;

pub struct ZkServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// Why the tests cannot run here, when they cannot (no JRE, no ZooKeeper jar).
pub fn unavailable_reason() -> Option<String> {
    if java().is_none() {
        return Some("no java on PATH (tests/run-all.sh installs default-jre-headless)".into());
    }
    if !Path::new(ZOOKEEPER_JAR).exists() {
        return Some(format!(
            "{ZOOKEEPER_JAR} missing (tests/run-all.sh installs the Debian package zookeeper)"
        ));
    }
    None
}

/// Starts a server, or prints why it cannot and returns `None` (the caller skips).
pub fn start_or_skip(test: &str) -> Option<ZkServer> {
    if let Some(why) = unavailable_reason() {
        eprintln!("SKIP {test}: {why}");
        return None;
    }
    Some(ZkServer::start().unwrap_or_else(|e| panic!("{test}: {e}")))
}

fn java() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("java"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl ZkServer {
    pub fn start() -> Result<ZkServer, String> {
        let mut last = String::new();
        // A port picked free can be taken before the server binds it: try a few.
        for _ in 0..3 {
            let mut server = ZkServer {
                child: None,
                port: free_port(),
                dir: tempfile::Builder::new()
                    .prefix("mesos-maint-zk-")
                    .tempdir()
                    .map_err(|e| format!("temp dir: {e}"))?,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(format!("ZooKeeper did not start: {last}"))
    }

    fn spawn(&mut self) -> Result<(), String> {
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        let cfg = self.dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime={TICK_MS}\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\nmaxClientCnxns=0\n",
                data.display(),
                self.port
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut cp = ZOOKEEPER_JAR.to_string();
        if Path::new(SLF4J_SIMPLE_JAR).exists() {
            cp.push(':');
            cp.push_str(SLF4J_SIMPLE_JAR);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .map_err(|e| e.to_string())?;
        let child = Command::new(java().ok_or("no java")?)
            .args(["-Xmx256m", "-XX:+UseSerialGC", "-Xshare:auto", "-cp", &cp])
            .arg("-Dzookeeper.admin.enableServer=false")
            .arg(MAIN_CLASS)
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run java: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "server exited with {status}; log: {}",
                    self.log_tail()
                ));
            }
            if self.ruok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.stop();
        Err(format!(
            "no answer to ruok within 30 s; log: {}",
            self.log_tail()
        ))
    }

    /// `ruok` answered `imok`.
    pub fn ruok(&self) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            Duration::from_millis(500),
        ) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"ruok").is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer == "imok"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL by PID and reap (as a crashed server).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port with the same data (after [`ZkServer::stop`]).
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(8).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        self.stop();
    }
}
