//! Typed, validated settings: what the rest of the program reads. Built once by `load`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::cloud::aws::LifecycleActionResult;

pub const DEFAULT_AGENT_URL: &str = "http://127.0.0.1:5051";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/mesos-maint";
pub const DEFAULT_HOOKS_DIR: &str = "/etc/mesos-maint/hooks.d";
pub const DEFAULT_DRAIN_DEADLINE: Duration = Duration::from_secs(3600);
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(300);
/// Stopping an agent with many executors can take minutes; a stuck stop must still end.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_DOCKER_UNIT: &str = "docker.service";
pub const DEFAULT_AGENT_UNITS: [&str; 4] = [
    "dcos-mesos-slave.service",
    "dcos-mesos-slave-public.service",
    "mesos-slave.service",
    "mesos-agent.service",
];

/// The metadata service on every EC2 instance (link-local).
pub const DEFAULT_IMDS_ENDPOINT: &str = crate::cloud::aws::imds::DEFAULT_ENDPOINT;
/// How often `autoscaling/target-lifecycle-state` and `spot/instance-action` are read: a spot
/// notice leaves two minutes, so a few seconds matter; a metadata GET is cheap and local.
pub const DEFAULT_AWS_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// One `RecordLifecycleActionHeartbeat` a minute while the drain progresses: well inside any
/// sensible hook heartbeat timeout (the group default is one hour, the minimum 30 s) at a
/// negligible API cost.
pub const DEFAULT_AWS_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);
/// Ten minutes without a task leaving or a drain-state change: longer than a typical kill grace
/// period and the unit stop timeout, far shorter than the group's 48 h cap on a lifecycle action.
pub const DEFAULT_AWS_STUCK_AFTER: Duration = Duration::from_secs(600);
/// For a termination hook both results terminate the instance; `CONTINUE` lets the group's
/// other termination hooks (log shipping, deregistration) still run, `ABANDON` would cancel them.
pub const DEFAULT_AWS_ON_STUCK: LifecycleActionResult = LifecycleActionResult::Continue;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `None`: discover (the local agent's view, then `leader.mesos:5050`).
    pub master: Option<Url>,
    pub agent: Url,
    pub state_dir: PathBuf,
    pub auth: AuthSettings,
    pub drain: DrainSettings,
    pub units: UnitSettings,
    pub daemon: DaemonSettings,
    pub aws: AwsSettings,
    pub health: HealthSettings,
    /// `[fleet]`: the cluster-wide budget of nodes out.
    pub fleet: crate::fleet::FleetSettings,
    /// `[budget]`: disruption budgets of the workloads on this node.
    pub budget: crate::budget::BudgetSettings,
    /// Files that were merged, in order (for `self-test` and `-v`).
    pub sources: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthSettings {
    pub principal: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DrainSettings {
    /// `None`: each task's own kill grace period (the field is left out of DRAIN_AGENT).
    pub max_grace_period: Option<Duration>,
    /// `None`: no deadline.
    pub deadline: Option<Duration>,
    pub hooks_dir: PathBuf,
    pub hook_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnitSettings {
    pub agent: Vec<String>,
    pub docker: String,
    pub docker_signal: Option<nix::sys::signal::Signal>,
    pub stop_docker: bool,
    pub job_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    pub delay_inhibitor: bool,
    pub block_inhibitor: bool,
    pub metrics_listen: Option<SocketAddr>,
}

/// `[aws]`: act on an Auto Scaling termination lifecycle hook and on spot interruption notices.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    pub enabled: bool,
    pub imds_endpoint: Url,
    /// `None`: `https://autoscaling.<region>.amazonaws.com/` for the instance's region.
    pub autoscaling_endpoint: Option<Url>,
    /// Required when enabled.
    pub lifecycle_hook: Option<String>,
    /// Required when enabled.
    pub auto_scaling_group: Option<String>,
    pub poll_interval: Duration,
    pub heartbeat_interval: Duration,
    pub stuck_after: Duration,
    pub on_stuck: LifecycleActionResult,
    /// Also drain on a spot interruption notice.
    pub spot: bool,
}

impl AwsSettings {
    /// Where the cloud clients find this instance's lifecycle action.
    pub fn target(&self) -> crate::cloud::aws::AwsTarget {
        crate::cloud::aws::AwsTarget {
            imds_endpoint: self.imds_endpoint.clone(),
            autoscaling_endpoint: self.autoscaling_endpoint.clone(),
            auto_scaling_group: self.auto_scaling_group.clone(),
            lifecycle_hook: self.lifecycle_hook.clone(),
        }
    }

    /// What the lifecycle watch needs from the settings.
    pub fn watch_config(&self) -> crate::cloud::aws::lifecycle::WatchConfig {
        crate::cloud::aws::lifecycle::WatchConfig {
            heartbeat_interval: self.heartbeat_interval,
            stuck_after: self.stuck_after,
            on_stuck: self.on_stuck,
        }
    }
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            enabled: false,
            imds_endpoint: Url::parse(DEFAULT_IMDS_ENDPOINT).expect("valid default"),
            autoscaling_endpoint: None,
            lifecycle_hook: None,
            auto_scaling_group: None,
            poll_interval: DEFAULT_AWS_POLL_INTERVAL,
            heartbeat_interval: DEFAULT_AWS_HEARTBEAT_INTERVAL,
            stuck_after: DEFAULT_AWS_STUCK_AFTER,
            on_stuck: DEFAULT_AWS_ON_STUCK,
            spot: true,
        }
    }
}

/// `[health]`: the node health checks (`mesos-maint health`, the daemon's periodic checks).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSettings {
    /// How often the daemon runs the checks; zero turns them off.
    pub interval: Duration,
    /// The daemon repairs what it may (same rules and limits as `health --repair`).
    pub auto_repair: bool,
    pub docker_socket: PathBuf,
    /// Read for `live-restore` when the Docker API does not answer.
    pub docker_config: PathBuf,
    /// Minimum free share of the work dir's space and inodes, in percent.
    pub min_free_percent: f64,
    /// At most one repair per unit within this long.
    pub repair_interval: Duration,
}

pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";
pub const DEFAULT_DOCKER_CONFIG: &str = "/etc/docker/daemon.json";
pub const DEFAULT_MIN_FREE_PERCENT: f64 = 5.0;
pub const DEFAULT_REPAIR_INTERVAL: Duration = Duration::from_secs(600);

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            interval: DEFAULT_HEALTH_INTERVAL,
            auto_repair: false,
            docker_socket: PathBuf::from(DEFAULT_DOCKER_SOCKET),
            docker_config: PathBuf::from(DEFAULT_DOCKER_CONFIG),
            min_free_percent: DEFAULT_MIN_FREE_PERCENT,
            repair_interval: DEFAULT_REPAIR_INTERVAL,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            master: None,
            agent: Url::parse(DEFAULT_AGENT_URL).expect("valid default"),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            auth: AuthSettings::default(),
            drain: DrainSettings {
                max_grace_period: None,
                deadline: Some(DEFAULT_DRAIN_DEADLINE),
                hooks_dir: PathBuf::from(DEFAULT_HOOKS_DIR),
                hook_timeout: DEFAULT_HOOK_TIMEOUT,
            },
            units: UnitSettings {
                agent: DEFAULT_AGENT_UNITS.iter().map(|s| s.to_string()).collect(),
                docker: DEFAULT_DOCKER_UNIT.to_string(),
                docker_signal: None,
                stop_docker: true,
                job_timeout: DEFAULT_JOB_TIMEOUT,
            },
            daemon: DaemonSettings {
                delay_inhibitor: true,
                block_inhibitor: false,
                metrics_listen: None,
            },
            aws: AwsSettings::default(),
            health: HealthSettings::default(),
            fleet: crate::fleet::FleetSettings::default(),
            budget: crate::budget::BudgetSettings::default(),
            sources: Vec::new(),
        }
    }
}
