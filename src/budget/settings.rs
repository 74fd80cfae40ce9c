//! The `[budget]` settings: parsed from the whole table (its `app."<id>"` and
//! `service."<name>"` sub-tables have names chosen by the user, which the fixed schema of
//! `config` cannot list), typed and validated before anything is sent.

use std::collections::BTreeMap;
use std::time::Duration;

use url::Url;

use super::spec::{Amount, Limit, Spec};

pub const DEFAULT_WAIT: Duration = Duration::from_secs(30 * 60);

/// What a drain does when Marathon or an SDK scheduler cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unknown {
    /// Wait up to `budget.wait`, then exit 3: never 0 on a guess.
    #[default]
    Wait,
    /// Go ahead, logged.
    Proceed,
}

/// `[budget.service."<framework name>"]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceSettings {
    /// The SDK scheduler's API (`/v1/health`, `/v1/pod/status` under it).
    pub url: Option<Url>,
    pub spec: Spec,
}

/// `[budget]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetSettings {
    /// `None`: Marathon is not asked (`""`), and Marathon apps have no budget.
    pub marathon: Option<Url>,
    /// `None`: `"none"`, no budget unless one is declared.
    pub default: Option<Limit>,
    pub wait: Duration,
    pub unknown: Unknown,
    pub apps: BTreeMap<String, Spec>,
    pub services: BTreeMap<String, ServiceSettings>,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        BudgetSettings {
            marathon: None,
            default: None,
            wait: DEFAULT_WAIT,
            unknown: Unknown::Wait,
            apps: BTreeMap::new(),
            services: BTreeMap::new(),
        }
    }
}

/// A bad value: `(key, value as written, what was expected)`.
pub type BadValue = (String, String, String);

impl BudgetSettings {
    /// Whether any budget can apply at all (else the Budget stage passes without a request).
    pub fn any(&self) -> bool {
        self.default.is_some()
            || !self.apps.is_empty()
            || !self.services.is_empty()
            || self.marathon.is_some()
    }

    /// Applies one fragment's `[budget]` table over what earlier fragments set. Unknown keys
    /// are pushed to `warnings`.
    pub fn apply(
        &mut self,
        table: &toml::Table,
        source: &str,
        warnings: &mut Vec<String>,
    ) -> Result<(), BadValue> {
        for (key, value) in table {
            let bad = |expected: String| (format!("budget.{key}"), value.to_string(), expected);
            let string = || {
                value
                    .as_str()
                    .ok_or_else(|| bad("expected a string".into()))
            };
            match key.as_str() {
                "marathon" => {
                    let s = string()?;
                    self.marathon = if s.trim().is_empty() {
                        None
                    } else {
                        Some(crate::http_url::parse_url(s).map_err(bad)?)
                    };
                }
                "default" => {
                    let s = string()?;
                    self.default = if s.trim() == "none" {
                        None
                    } else {
                        Some(Limit::parse(s).map_err(bad)?)
                    };
                }
                "wait" => {
                    self.wait = humantime::parse_duration(string()?.trim()).map_err(|e| {
                        bad(format!(
                            "not a duration ({e}); use a form like \"90s\" or \"30m\""
                        ))
                    })?
                }
                "unknown" => {
                    self.unknown = match string()?.trim() {
                        "wait" => Unknown::Wait,
                        "proceed" => Unknown::Proceed,
                        _ => return Err(bad("expected \"wait\" or \"proceed\"".into())),
                    }
                }
                "app" | "service" => {
                    let entries = value
                        .as_table()
                        .ok_or_else(|| bad("expected a table of tables".into()))?;
                    for (name, body) in entries {
                        let path = format!("budget.{key}.\"{name}\"");
                        let body = body.as_table().ok_or_else(|| {
                            (path.clone(), body.to_string(), "expected a table".into())
                        })?;
                        if key == "app" {
                            if !name.starts_with('/') || name.len() < 2 {
                                return Err((
                                    path,
                                    name.clone(),
                                    "expected a Marathon app id like \"/prod/api\"".into(),
                                ));
                            }
                            let spec = self.apps.entry(name.clone()).or_default();
                            apply_spec(spec, body, &path, source, warnings, &[])?;
                        } else {
                            let svc = self.services.entry(name.clone()).or_default();
                            apply_spec(&mut svc.spec, body, &path, source, warnings, &["url"])?;
                            if let Some(u) = body.get("url") {
                                let s = u.as_str().ok_or_else(|| {
                                    (
                                        format!("{path}.url"),
                                        u.to_string(),
                                        "expected a URL string".into(),
                                    )
                                })?;
                                svc.url = Some(
                                    crate::http_url::parse_url(s)
                                        .map_err(|e| (format!("{path}.url"), u.to_string(), e))?,
                                );
                            }
                        }
                    }
                }
                _ => warnings.push(format!(
                    "config {source}: unknown key 'budget.{key}' ignored"
                )),
            }
        }
        Ok(())
    }

    /// Rules across keys: one side of a budget per workload, a service with an API to ask.
    pub fn validate(&self) -> Result<(), String> {
        if self.marathon.is_none() && (self.default.is_some() || !self.apps.is_empty()) {
            return Err(
                "config: budget.default or budget.app needs budget.marathon (the apps' instances are asked there)"
                    .into(),
            );
        }
        for (id, spec) in &self.apps {
            spec.limit(&format!("config: budget.app.\"{id}\""))?;
        }
        for (name, svc) in &self.services {
            let what = format!("config: budget.service.\"{name}\"");
            spec_limit_needs(&svc.spec, &what)?;
            if svc.url.is_none() {
                return Err(format!("{what} needs url (the SDK scheduler's API)"));
            }
        }
        Ok(())
    }
}

fn spec_limit_needs(spec: &Spec, what: &str) -> Result<(), String> {
    spec.limit(what).map(|_| ())
}

fn apply_spec(
    spec: &mut Spec,
    body: &toml::Table,
    path: &str,
    source: &str,
    warnings: &mut Vec<String>,
    extra: &[&str],
) -> Result<(), BadValue> {
    if body.contains_key("max_unavailable") && body.contains_key("min_available") {
        return Err((
            path.to_string(),
            "max_unavailable and min_available".into(),
            "set either max_unavailable or min_available, not both".into(),
        ));
    }
    for (k, v) in body {
        let bad = |e: String| (format!("{path}.{k}"), v.to_string(), e);
        match k.as_str() {
            "max_unavailable" => {
                spec.max_unavailable = Some(Amount::from_toml(v).map_err(bad)?);
                spec.min_available = None;
            }
            "min_available" => {
                spec.min_available = Some(Amount::from_toml(v).map_err(bad)?);
                spec.max_unavailable = None;
            }
            "min_uptime" => {
                let s = v
                    .as_str()
                    .ok_or_else(|| bad("expected a duration string".into()))?;
                spec.min_uptime = Some(
                    humantime::parse_duration(s.trim())
                        .map_err(|e| bad(format!("not a duration ({e})")))?,
                );
            }
            k if extra.contains(&k) => {}
            _ => warnings.push(format!("config {source}: unknown key '{path}.{k}' ignored")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str) -> Result<BudgetSettings, BadValue> {
        let t: toml::Table = text.parse().unwrap();
        let mut s = BudgetSettings::default();
        let mut w = Vec::new();
        s.apply(t["budget"].as_table().unwrap(), "test", &mut w)?;
        Ok(s)
    }

    #[test]
    fn the_documented_example_parses() {
        let s = apply(
            r#"
[budget]
marathon = "http://marathon.mesos:8080"
default = "none"
wait = "30m"
unknown = "wait"
[budget.app."/prod/api"]
max_unavailable = "10%"
min_uptime = "5m"
[budget.service."kafka"]
url = "http://api.kafka.marathon.l4lb.thisdcos.directory"
max_unavailable = 1
"#,
        )
        .unwrap();
        s.validate().unwrap();
        assert_eq!(
            s.apps["/prod/api"].max_unavailable,
            Some(Amount::Percent(10))
        );
        assert_eq!(
            s.apps["/prod/api"].min_uptime,
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            s.services["kafka"].spec.max_unavailable,
            Some(Amount::Count(1))
        );
        assert!(s.any());
    }

    #[test]
    fn malformed_values_are_refused_naming_the_key() {
        let e = apply("[budget.app.\"/a\"]\nmax_unavailable = \"ten\"").unwrap_err();
        assert_eq!(e.0, "budget.app.\"/a\".max_unavailable");
        let e = apply("[budget.app.\"/a\"]\nmax_unavailable = \"150%\"").unwrap_err();
        assert!(e.2.contains("above 100"), "{e:?}");
        let e = apply("[budget.app.\"/a\"]\nmax_unavailable = 1\nmin_available = 1").unwrap_err();
        assert!(e.2.contains("not both"), "{e:?}");
        assert!(apply("[budget]\nunknown = \"maybe\"").is_err());
        assert!(apply("[budget]\ndefault = \"some\"").is_err());
        assert!(apply("[budget]\nwait = \"soon\"").is_err());
        assert!(apply("[budget.app.\"prod\"]\nmax_unavailable = 1").is_err());
        let s = apply("[budget]\ndefault = \"max_unavailable=1\"").unwrap();
        assert!(s.validate().unwrap_err().contains("budget.marathon"));
        let s = apply("[budget.service.\"kafka\"]\nmax_unavailable = 1").unwrap();
        assert!(s.validate().unwrap_err().contains("needs url"));
        assert!(!BudgetSettings::default().any());
    }
}
