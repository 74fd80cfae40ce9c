//! Layered configuration: package defaults, `/usr/lib` < `/run` < `/etc` fragments, `--config FILE`,
//! `MESOS_MAINT_*` environment, then command-line flags; validated once into [`Settings`].

mod error;
pub mod schema;
mod settings;
pub mod sources;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ConfigError;
pub use settings::*;

use schema::Kind;
use url::Url;

/// What the command line says about configuration (it wins over everything else).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub master: Option<Url>,
    pub agent: Option<Url>,
    pub state_dir: Option<PathBuf>,
}

/// Where configuration comes from; injected so tests never read the host's /etc.
#[derive(Debug, Clone)]
pub struct Loader {
    pub dirs: Vec<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl Loader {
    /// The real system: the three drop-in directories and this process's environment.
    pub fn system() -> Loader {
        Loader {
            dirs: sources::DEFAULT_DIRS.iter().map(PathBuf::from).collect(),
            env: std::env::vars()
                .filter(|(k, _)| k.starts_with("MESOS_MAINT_"))
                .collect(),
        }
    }

    /// Load and validate. Unknown keys do not fail; they come back as warnings to log.
    pub fn load(&self, overrides: &Overrides) -> Result<(Settings, Vec<String>), ConfigError> {
        let mut settings = Settings::default();
        let mut warnings = Vec::new();
        for file in sources::fragments(&self.dirs, overrides.config.as_deref())? {
            let text = std::fs::read_to_string(&file).map_err(|e| ConfigError::Read {
                file: file.clone(),
                detail: e.to_string(),
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Syntax {
                        file: file.clone(),
                        detail: one_line_toml_error(&text, &e),
                    })?;
            let name = file.display().to_string();
            apply_table(
                &mut settings,
                &table,
                schema::ROOT,
                "",
                &name,
                &mut warnings,
            )?;
            settings.sources.push(file);
        }
        for (key, value) in &self.env {
            let Some(name) = key.strip_prefix("MESOS_MAINT_") else {
                continue;
            };
            // `MESOS_MAINT_MASTER=` in an EnvironmentFile or a lifecycle hook's environment
            // means "not set", as shells and systemd treat an empty assignment.
            if value.is_empty() {
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if schema::ENV_KEYS.contains(&lower.as_str()) {
                let kind = schema::ROOT
                    .iter()
                    .find(|(k, _)| *k == lower)
                    .map(|(_, k)| *k)
                    .expect("env key in schema");
                apply_value(
                    &mut settings,
                    &lower,
                    kind,
                    &toml::Value::String(value.clone()),
                    key,
                )?;
            }
        }
        if let Some(m) = &overrides.master {
            settings.master = Some(m.clone());
        }
        if let Some(a) = &overrides.agent {
            settings.agent = a.clone();
        }
        if let Some(s) = &overrides.state_dir {
            settings.state_dir = s.clone();
        }
        validate(&settings)?;
        Ok((settings, warnings))
    }
}

/// Cross-key rules that no single key can check.
fn validate(s: &Settings) -> Result<(), ConfigError> {
    if s.auth.secret_file.is_some() && s.auth.principal.is_none() {
        return Err(ConfigError::Invalid(
            "config: auth.secret_file is set but auth.principal is not".into(),
        ));
    }
    if s.auth.principal.is_some() && s.auth.token_file.is_some() {
        return Err(ConfigError::Invalid(
            "config: set either auth.principal/secret_file (Mesos basic auth) or auth.token_file (DC/OS), not both".into(),
        ));
    }
    if s.units.agent.is_empty() {
        return Err(ConfigError::Invalid(
            "config: units.agent must name at least one unit".into(),
        ));
    }
    s.fleet.validate().map_err(ConfigError::Invalid)?;
    s.budget.validate().map_err(ConfigError::Invalid)?;
    validate_aws(&s.aws)
}

fn validate_aws(aws: &AwsSettings) -> Result<(), ConfigError> {
    if !aws.enabled {
        return Ok(());
    }
    if !crate::cloud::aws::SUPPORTED {
        return Err(ConfigError::Invalid(
            "config: aws.enabled = true, but this mesos-maint was built without AWS support (cargo feature `aws`)".into(),
        ));
    }
    let missing: Vec<&str> = [
        ("aws.lifecycle_hook", aws.lifecycle_hook.is_none()),
        ("aws.auto_scaling_group", aws.auto_scaling_group.is_none()),
    ]
    .into_iter()
    .filter_map(|(k, m)| m.then_some(k))
    .collect();
    if !missing.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "config: aws.enabled = true needs {} (the termination lifecycle hook and its Auto Scaling group)",
            missing.join(" and ")
        )));
    }
    if aws.heartbeat_interval >= aws.stuck_after {
        return Err(ConfigError::Invalid(format!(
            "config: aws.heartbeat_interval ({}) must be shorter than aws.stuck_after ({}), or no heartbeat is ever sent",
            humantime::format_duration(aws.heartbeat_interval),
            humantime::format_duration(aws.stuck_after)
        )));
    }
    Ok(())
}

fn one_line_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {msg}")
        }
        None => msg,
    }
}

fn apply_table(
    settings: &mut Settings,
    table: &toml::Table,
    schema: &[(&str, Kind)],
    prefix: &str,
    source: &str,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if path == "budget" {
            let t = value
                .as_table()
                .ok_or_else(|| bad(source, &path, value, Kind::Table(&[])))?;
            settings
                .budget
                .apply(t, source, warnings)
                .map_err(|(key, value, expected)| ConfigError::Value {
                    source_name: source.to_string(),
                    key,
                    value,
                    expected,
                })?;
            continue;
        }
        match schema.iter().find(|(k, _)| k == key) {
            None => warnings.push(format!("config {source}: unknown key '{path}' ignored")),
            Some((_, Kind::Table(inner))) => match value {
                toml::Value::Table(t) => apply_table(settings, t, inner, &path, source, warnings)?,
                other => return Err(bad(source, &path, other, Kind::Table(inner))),
            },
            Some((_, kind)) => apply_value(settings, &path, *kind, value, source)?,
        }
    }
    Ok(())
}

fn bad(source: &str, key: &str, value: &toml::Value, kind: Kind) -> ConfigError {
    ConfigError::Value {
        source_name: source.to_string(),
        key: key.to_string(),
        value: value.to_string(),
        expected: kind.expected().to_string(),
    }
}

fn apply_value(
    s: &mut Settings,
    key: &str,
    kind: Kind,
    value: &toml::Value,
    source: &str,
) -> Result<(), ConfigError> {
    if let Some(fleet_key) = key.strip_prefix("fleet.") {
        return s
            .fleet
            .apply(fleet_key, value)
            .map_err(|expected| ConfigError::Value {
                source_name: source.to_string(),
                key: key.to_string(),
                value: value.to_string(),
                expected,
            });
    }
    let err = || bad(source, key, value, kind);
    let string = || value.as_str().ok_or_else(err);
    let path = || -> Result<PathBuf, ConfigError> {
        let p = PathBuf::from(string()?);
        if p.is_absolute() {
            Ok(p)
        } else {
            Err(err())
        }
    };
    let duration = || -> Result<Duration, ConfigError> {
        parse_duration(string()?).map_err(|detail| ConfigError::Value {
            source_name: source.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            expected: detail,
        })
    };
    let url = || -> Result<Url, ConfigError> {
        parse_url(string()?).map_err(|detail| ConfigError::Value {
            source_name: source.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            expected: detail,
        })
    };
    let boolean = || value.as_bool().ok_or_else(err);
    // A name sent to an API: not empty, no surrounding blanks.
    let name = || -> Result<String, ConfigError> {
        let v = string()?;
        if v.trim().is_empty() || v.trim() != v {
            return Err(err());
        }
        Ok(v.to_string())
    };
    let nonzero = |d: Duration| -> Result<Duration, ConfigError> {
        if d.is_zero() {
            Err(ConfigError::Value {
                source_name: source.to_string(),
                key: key.to_string(),
                value: value.to_string(),
                expected: "expected a duration above zero".into(),
            })
        } else {
            Ok(d)
        }
    };
    match key {
        "master" => s.master = Some(url()?),
        "agent" => s.agent = url()?,
        "state_dir" => s.state_dir = path()?,
        "auth.principal" => s.auth.principal = Some(string()?.to_string()),
        "auth.secret_file" => s.auth.secret_file = Some(path()?),
        "auth.token_file" => s.auth.token_file = Some(path()?),
        "auth.ca_file" => s.auth.ca_file = Some(path()?),
        "drain.max_grace_period" => s.drain.max_grace_period = Some(duration()?),
        "drain.deadline" => s.drain.deadline = Some(duration()?),
        "drain.hooks_dir" => s.drain.hooks_dir = path()?,
        "drain.hook_timeout" => s.drain.hook_timeout = duration()?,
        "units.agent" => {
            let list = value.as_array().ok_or_else(err)?;
            s.units.agent = list
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(err))
                .collect::<Result<_, _>>()?;
            if s.units.agent.iter().any(|u| !is_unit_name(u)) {
                return Err(err());
            }
        }
        "units.docker" => {
            let u = string()?;
            if !is_unit_name(u) {
                return Err(err());
            }
            s.units.docker = u.to_string();
        }
        "units.docker_signal" => {
            s.units.docker_signal = Some(parse_signal(string()?).ok_or_else(err)?);
        }
        "units.stop_docker" => s.units.stop_docker = boolean()?,
        "units.job_timeout" => s.units.job_timeout = duration()?,
        "daemon.delay_inhibitor" => s.daemon.delay_inhibitor = boolean()?,
        "daemon.block_inhibitor" => s.daemon.block_inhibitor = boolean()?,
        "daemon.metrics_listen" => {
            s.daemon.metrics_listen = Some(string()?.parse().map_err(|_| err())?);
        }
        "aws.enabled" => s.aws.enabled = boolean()?,
        "aws.imds_endpoint" => s.aws.imds_endpoint = url()?,
        "aws.autoscaling_endpoint" => s.aws.autoscaling_endpoint = Some(url()?),
        "aws.lifecycle_hook" => s.aws.lifecycle_hook = Some(name()?),
        "aws.auto_scaling_group" => s.aws.auto_scaling_group = Some(name()?),
        "aws.poll_interval" => s.aws.poll_interval = nonzero(duration()?)?,
        "aws.heartbeat_interval" => s.aws.heartbeat_interval = nonzero(duration()?)?,
        "aws.stuck_after" => s.aws.stuck_after = nonzero(duration()?)?,
        "aws.on_stuck" => {
            s.aws.on_stuck =
                crate::cloud::aws::LifecycleActionResult::parse(string()?).ok_or_else(err)?;
        }
        "aws.spot" => s.aws.spot = boolean()?,
        "health.interval" => s.health.interval = duration()?,
        "health.auto_repair" => s.health.auto_repair = boolean()?,
        "health.docker_socket" => s.health.docker_socket = path()?,
        "health.docker_config" => s.health.docker_config = path()?,
        "health.min_free" => {
            s.health.min_free_percent = parse_percent(string()?).ok_or_else(err)?
        }
        "health.repair_interval" => s.health.repair_interval = nonzero(duration()?)?,
        other => unreachable!("schema key {other} has no setter"),
    }
    Ok(())
}

fn is_unit_name(u: &str) -> bool {
    u.contains('.') && !u.contains('/') && !u.starts_with('.')
}

/// Human durations (`90s`, `10m`, `1h30m`); the message names what was wrong.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("not a duration ({e}); use a form like \"90s\", \"10m\" or \"1h30m\""))
}

/// An http(s) URL with a host; anything else is refused before a request is built.
pub use crate::http_url::parse_url;

/// `"5%"` (or `"2.5%"`) as 5.0; `None` unless it is a percentage from 0 to 100.
pub fn parse_percent(s: &str) -> Option<f64> {
    let n: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
    (n.is_finite() && (0.0..=100.0).contains(&n)).then_some(n)
}

pub fn parse_signal(s: &str) -> Option<nix::sys::signal::Signal> {
    let upper = s.trim().to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse().ok()
}

/// Used by tests and `self-test`: load from a single directory and an explicit environment.
pub fn load_from(
    dirs: &[&Path],
    env: &[(&str, &str)],
    overrides: &Overrides,
) -> Result<(Settings, Vec<String>), ConfigError> {
    Loader {
        dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
    .load(overrides)
}

#[cfg(test)]
mod tests;
