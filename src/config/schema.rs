//! The public configuration keys and their types: the single list that validation, unknown-key
//! warnings and documentation share.

/// The type a key must have in a TOML fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Path,
    Url,
    Duration,
    Bool,
    StrList,
    Signal,
    SocketAddr,
    /// `CONTINUE` or `ABANDON` (a lifecycle action result).
    ActionResult,
    /// A percentage from 0 to 100, written `"5%"`.
    Percent,
    /// A whole number.
    Int,
    Table(&'static [(&'static str, Kind)]),
}

impl Kind {
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Str => "expected a string",
            Kind::Path => "expected an absolute path string",
            Kind::Url => "expected a URL string like \"http://leader.mesos:5050\"",
            Kind::Duration => "expected a duration string like \"90s\", \"10m\" or \"1h30m\"",
            Kind::Bool => "expected true or false",
            Kind::StrList => "expected a list of strings",
            Kind::Signal => "expected a signal name like \"SIGUSR1\"",
            Kind::SocketAddr => "expected an address like \"127.0.0.1:9464\"",
            Kind::ActionResult => "expected \"CONTINUE\" or \"ABANDON\"",
            Kind::Percent => "expected a percentage from 0 to 100 like \"5%\"",
            Kind::Int => "expected a whole number",
            Kind::Table(_) => "expected a table",
        }
    }
}

pub const AUTH: &[(&str, Kind)] = &[
    ("principal", Kind::Str),
    ("secret_file", Kind::Path),
    ("token_file", Kind::Path),
    ("ca_file", Kind::Path),
];

pub const DRAIN: &[(&str, Kind)] = &[
    ("max_grace_period", Kind::Duration),
    ("deadline", Kind::Duration),
    ("hooks_dir", Kind::Path),
    ("hook_timeout", Kind::Duration),
];

pub const UNITS: &[(&str, Kind)] = &[
    ("agent", Kind::StrList),
    ("docker", Kind::Str),
    ("docker_signal", Kind::Signal),
    ("stop_docker", Kind::Bool),
    ("job_timeout", Kind::Duration),
];

pub const DAEMON: &[(&str, Kind)] = &[
    ("delay_inhibitor", Kind::Bool),
    ("block_inhibitor", Kind::Bool),
    ("metrics_listen", Kind::SocketAddr),
];

/// Auto Scaling termination lifecycle hook and spot interruption handling (`cloud::aws`).
pub const AWS: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("imds_endpoint", Kind::Url),
    ("autoscaling_endpoint", Kind::Url),
    ("lifecycle_hook", Kind::Str),
    ("auto_scaling_group", Kind::Str),
    ("poll_interval", Kind::Duration),
    ("heartbeat_interval", Kind::Duration),
    ("stuck_after", Kind::Duration),
    ("on_stuck", Kind::ActionResult),
    ("spot", Kind::Bool),
];

/// Node health checks and repairs (`health`).
pub const HEALTH: &[(&str, Kind)] = &[
    ("interval", Kind::Duration),
    ("auto_repair", Kind::Bool),
    ("docker_socket", Kind::Path),
    ("docker_config", Kind::Path),
    ("min_free", Kind::Percent),
    ("repair_interval", Kind::Duration),
];

/// Fleet coordination (`fleet::settings`, which parses and checks each value).
pub const FLEET: &[(&str, Kind)] = &[
    ("backend", Kind::Str),
    ("group", Kind::Str),
    ("max_unavailable", Kind::Int),
    ("wait", Kind::Duration),
    ("id", Kind::Str),
    ("zookeeper", Kind::Str),
    ("zookeeper_digest_file", Kind::Path),
    ("fleetlock_url", Kind::Url),
];

pub const ROOT: &[(&str, Kind)] = &[
    ("master", Kind::Url),
    ("agent", Kind::Url),
    ("state_dir", Kind::Path),
    ("auth", Kind::Table(AUTH)),
    ("drain", Kind::Table(DRAIN)),
    ("units", Kind::Table(UNITS)),
    ("daemon", Kind::Table(DAEMON)),
    ("aws", Kind::Table(AWS)),
    ("health", Kind::Table(HEALTH)),
    ("fleet", Kind::Table(FLEET)),
    // `[budget]` has user-named sub-tables: parsed whole by `budget::settings`.
    ("budget", Kind::Table(&[])),
];

/// Top-level keys with an environment twin (`MESOS_MAINT_<KEY>`).
pub const ENV_KEYS: &[&str] = &["master", "agent", "state_dir"];
