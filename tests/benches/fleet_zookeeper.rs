//! Benchmark of the ZooKeeper fleet lock against a real ZooKeeper (Debian's 3.8 package, started
//! on 127.0.0.1 as the tests do; one server, loopback).
//!
//! ```sh
//! cargo bench --bench fleet_zookeeper                   # 100 runs, 20 racing processes
//! cargo bench --bench fleet_zookeeper -- --runs 200 --racers 50
//! ```
//!
//! 1. Latency (median, p99 of `--runs`): a granting take and its release on a warm session; a
//!    cold take (new session, as a fresh `mesos-maint drain` process: connect + read + write); a
//!    refused take (group full).
//! 2. Requests per take and release, counted by the 3.4 proxy (pings excluded).
//! 3. Racing processes: `--racers` processes of this binary (`--racer` mode), each with its own
//!    session, released at the same instant for 1 slot; the number that won (must be 1) and the
//!    holders stored.

#[path = "../fleet_support/mod.rs"]
mod fleet_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fleet_support::zk34_proxy::Zk34Proxy;
use fleet_support::zk_server::{unavailable_reason, ZkServer};
use mesos_maint::fleet::settings::ZkUrl;
use mesos_maint::fleet::zookeeper::{GroupDoc, ZkLock, ZkTimeouts};
use mesos_maint::fleet::{FleetLock, Holder, Take};

fn holder(id: &str) -> Holder {
    Holder::new(id, &format!("agent-{id}"), id, "reboot")
}

fn lock(addr: &str, group: &str, max: u32) -> ZkLock {
    ZkLock::new(
        ZkUrl::parse(&format!("zk://{addr}/mesos-maint")).unwrap(),
        group,
        max,
        None,
        ZkTimeouts::default(),
    )
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Some(addr) = arg(&args, "--racer") {
        // Child mode: connect, wait for the start instant, take once, print the answer.
        let id = arg(&args, "--id").unwrap();
        let start_ms: u64 = arg(&args, "--start-ms").unwrap().parse().unwrap();
        rt.block_on(async {
            let l = lock(&addr, "race", 1);
            l.status().await.unwrap();
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let at = Duration::from_millis(start_ms);
            if at > now {
                tokio::time::sleep(at - now).await;
            }
            match l.take(&holder(&id)).await {
                Ok(Take::Granted { .. }) => println!("won"),
                Ok(Take::Full { .. }) => println!("full"),
                Err(e) => println!("error {e}"),
            }
        });
        return;
    }
    if let Some(why) = unavailable_reason() {
        eprintln!("cannot run: {why}");
        std::process::exit(1);
    }
    let runs: usize = arg(&args, "--runs").map_or(100, |v| v.parse().unwrap());
    let racers: usize = arg(&args, "--racers").map_or(20, |v| v.parse().unwrap());
    let server = ZkServer::start().unwrap();
    let addr = server.address();
    println!("ZooKeeper 3.8.0 on {addr}, runs {runs}, racers {racers}");

    rt.block_on(async {
        // 1. Latency.
        let warm = lock(&addr, "lat", 1);
        warm.status().await.unwrap();
        let (mut take, mut release, mut refused, mut cold) = (vec![], vec![], vec![], vec![]);
        let blocker = lock(&addr, "full", 1);
        blocker.take(&holder("blocker")).await.unwrap();
        let refuser = lock(&addr, "full", 1);
        refuser.status().await.unwrap();
        for i in 0..runs {
            let h = holder(&format!("n{i}"));
            let t = Instant::now();
            assert!(matches!(warm.take(&h).await.unwrap(), Take::Granted { .. }));
            take.push(t.elapsed());
            let t = Instant::now();
            warm.release(&h.id).await.unwrap();
            release.push(t.elapsed());
            let t = Instant::now();
            assert!(matches!(refuser.take(&h).await.unwrap(), Take::Full { .. }));
            refused.push(t.elapsed());
            let t = Instant::now();
            let fresh = lock(&addr, "cold", 1);
            assert!(matches!(fresh.take(&h).await.unwrap(), Take::Granted { .. }));
            cold.push(t.elapsed());
            fresh.release(&h.id).await.unwrap();
        }
        println!("| operation | median | p99 |\n|---|---|---|");
        for (name, v) in [
            ("take, granted (warm session)", &mut take),
            ("release (warm session)", &mut release),
            ("take, refused: group full (warm session)", &mut refused),
            ("take, granted, new session (connect + read + write)", &mut cold),
        ] {
            println!("| {name} | {} | {} |", ms(pct(v, 0.5)), ms(pct(v, 0.99)));
        }

        // 2. Requests per operation, through the 3.4 proxy.
        let proxy = Zk34Proxy::start(addr.clone()).await;
        let via = lock(&proxy.address(), "count", 1);
        let count = |p: &Zk34Proxy| p.types().iter().filter(|t| **t != 11).count();
        let b0 = count(&proxy);
        via.take(&holder("c0")).await.unwrap();
        let first_take = count(&proxy) - b0;
        via.release("c0").await.unwrap();
        let before = count(&proxy);
        via.take(&holder("c1")).await.unwrap();
        let after_take = count(&proxy);
        via.release("c1").await.unwrap();
        let after_release = count(&proxy);
        let other = lock(&proxy.address(), "count", 1);
        via.take(&holder("c1")).await.unwrap();
        let b1 = count(&proxy);
        other.take(&holder("c2")).await.unwrap();
        let refused_reqs = count(&proxy) - b1;
        println!(
            "requests (pings and the connect frame excluded): first take of a new group {first_take} \
             (chroot and group created), take {}, release {}, refused take {}; violations of 3.4: {:?}",
            after_take - before,
            after_release - after_take,
            refused_reqs,
            proxy.violations()
        );
    });

    // 3. Racing processes.
    let exe = std::env::current_exe().unwrap();
    let start_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 3000;
    let children: Vec<_> = (0..racers)
        .map(|i| {
            Command::new(&exe)
                .args(["--racer", &addr, "--id", &format!("racer-{i:02}")])
                .args(["--start-ms", &start_ms.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut won = 0;
    let mut full = 0;
    let mut other = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        match String::from_utf8_lossy(&out.stdout).trim() {
            "won" => won += 1,
            "full" => full += 1,
            s => other.push(s.to_string()),
        }
    }
    let stored = rt.block_on(async {
        let z = zookeeper_client::Client::connector()
            .with_server_version(3, 4, 14)
            .connect(&addr)
            .await
            .unwrap();
        let (data, _) = z.get_data("/mesos-maint/race").await.unwrap();
        GroupDoc::parse(&data).unwrap().holders.len()
    });
    println!(
        "racing processes: {racers} for 1 slot: won {won}, refused {full}, other {other:?}; holders stored {stored}"
    );
    assert_eq!(won, 1, "exactly one racer must win");
    drop(server);
}
