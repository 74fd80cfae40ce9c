//! A workload's budget: how many instances may be out, or how many must stay, and how long an
//! instance must have run to count. Parsed from configuration, task labels and `budget.default`
//! with the same rules, pure.

use std::time::Duration;

use serde::Serialize;

/// The task labels a Marathon app's budget may be declared with (Marathon copies app labels
/// onto its Mesos tasks).
pub const LABEL_MAX_UNAVAILABLE: &str = "MESOS_MAINT_MAX_UNAVAILABLE";
pub const LABEL_MIN_AVAILABLE: &str = "MESOS_MAINT_MIN_AVAILABLE";
pub const LABEL_MIN_UPTIME: &str = "MESOS_MAINT_MIN_UPTIME";

/// A number of instances, or a percentage of the expected ones (rounded up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Count(u32),
    Percent(u32),
}

impl Amount {
    /// `3`, `"3"` or `"10%"`; a percentage above 100 is refused.
    pub fn parse(text: &str) -> Result<Amount, String> {
        let t = text.trim();
        let bad = || format!("expected a whole number or a percentage like \"10%\", not {text:?}");
        if let Some(p) = t.strip_suffix('%') {
            let n: u32 = p.trim().parse().map_err(|_| bad())?;
            if n > 100 {
                return Err(format!("{text:?}: a percentage above 100 %"));
            }
            return Ok(Amount::Percent(n));
        }
        t.parse().map(Amount::Count).map_err(|_| bad())
    }

    pub fn from_toml(v: &toml::Value) -> Result<Amount, String> {
        match v {
            toml::Value::Integer(n) => u32::try_from(*n)
                .map(Amount::Count)
                .map_err(|_| format!("expected a whole number of at least 0, not {n}")),
            toml::Value::String(s) => Amount::parse(s),
            other => Err(format!(
                "expected a whole number or a percentage like \"10%\", not {other}"
            )),
        }
    }

    /// The amount of `expected` instances; percentages round up (as Kubernetes does).
    pub fn of(self, expected: u32) -> u32 {
        match self {
            Amount::Count(n) => n,
            Amount::Percent(p) => (u64::from(expected) * u64::from(p)).div_ceil(100) as u32,
        }
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Count(n) => write!(f, "{n}"),
            Amount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Which side of the budget is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    MaxUnavailable(Amount),
    MinAvailable(Amount),
}

impl Limit {
    /// How many healthy instances must remain elsewhere out of `expected`.
    pub fn required(self, expected: u32) -> u32 {
        match self {
            Limit::MinAvailable(a) => a.of(expected),
            Limit::MaxUnavailable(a) => expected.saturating_sub(a.of(expected)),
        }
    }

    /// `max_unavailable=1`, `min_available=50%`: as written in `budget.default`.
    pub fn parse(text: &str) -> Result<Limit, String> {
        let (key, value) = text.split_once('=').ok_or_else(|| {
            format!("expected \"none\", \"max_unavailable=N\" or \"min_available=N\", not {text:?}")
        })?;
        let amount = Amount::parse(value)?;
        match key.trim() {
            "max_unavailable" => Ok(Limit::MaxUnavailable(amount)),
            "min_available" => Ok(Limit::MinAvailable(amount)),
            other => Err(format!(
                "expected max_unavailable or min_available, not {other:?}"
            )),
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::MaxUnavailable(a) => write!(f, "max_unavailable={a}"),
            Limit::MinAvailable(a) => write!(f, "min_available={a}"),
        }
    }
}

/// A budget as declared in one place; both sides set is an error found by [`Spec::limit`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spec {
    pub max_unavailable: Option<Amount>,
    pub min_available: Option<Amount>,
    pub min_uptime: Option<Duration>,
}

impl Spec {
    /// The one limit declared; `None` when none is. `what` names the place for the error.
    pub fn limit(&self, what: &str) -> Result<Option<Limit>, String> {
        match (self.max_unavailable, self.min_available) {
            (Some(_), Some(_)) => Err(format!(
                "{what}: set either max_unavailable or min_available, not both"
            )),
            (Some(a), None) => Ok(Some(Limit::MaxUnavailable(a))),
            (None, Some(a)) => Ok(Some(Limit::MinAvailable(a))),
            (None, None) => Ok(None),
        }
    }

    /// The budget a task's labels declare (`None` when they declare none).
    pub fn from_labels<'a>(
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Option<Spec>, String> {
        let mut spec = Spec::default();
        let mut any = false;
        for (k, v) in labels {
            let field = |e: String| format!("label {k}={v}: {e}");
            match k {
                LABEL_MAX_UNAVAILABLE => {
                    spec.max_unavailable = Some(Amount::parse(v).map_err(field)?)
                }
                LABEL_MIN_AVAILABLE => spec.min_available = Some(Amount::parse(v).map_err(field)?),
                LABEL_MIN_UPTIME => {
                    spec.min_uptime = Some(
                        humantime::parse_duration(v.trim())
                            .map_err(|e| field(format!("not a duration ({e})")))?,
                    )
                }
                _ => continue,
            }
            any = true;
        }
        Ok(any.then_some(spec))
    }
}

/// The budget that applies to one workload, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Config,
    Label,
    Default,
}

/// A workload's budget, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: Limit,
    pub min_uptime: Duration,
    pub origin: Origin,
}

/// First match wins: configuration, then the labels, then `budget.default` (`None`: "none").
/// `None` when no budget applies.
pub fn resolve(
    name: &str,
    configured: Option<&Spec>,
    labels: Option<&Spec>,
    default: Option<Limit>,
) -> Result<Option<Budget>, String> {
    for (spec, origin) in [(configured, Origin::Config), (labels, Origin::Label)] {
        if let Some(s) = spec {
            if let Some(limit) = s.limit(name)? {
                return Ok(Some(Budget {
                    limit,
                    min_uptime: s.min_uptime.unwrap_or_default(),
                    origin,
                }));
            }
        }
    }
    Ok(default.map(|limit| Budget {
        limit,
        // A min_uptime declared without a limit still counts under the default limit.
        min_uptime: configured
            .and_then(|s| s.min_uptime)
            .or(labels.and_then(|s| s.min_uptime))
            .unwrap_or_default(),
        origin: Origin::Default,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_and_percentages_round_up() {
        assert_eq!(Amount::parse("3"), Ok(Amount::Count(3)));
        assert_eq!(Amount::parse(" 10% "), Ok(Amount::Percent(10)));
        assert!(Amount::parse("ten").is_err());
        assert!(Amount::parse("150%").unwrap_err().contains("above 100"));
        assert!(Amount::parse("-1").is_err());
        assert_eq!(Amount::Percent(10).of(5), 1, "0.5 rounds up");
        assert_eq!(Amount::Percent(50).of(3), 2);
        assert_eq!(Amount::Percent(0).of(3), 0);
        assert_eq!(Amount::Percent(100).of(7), 7);
        assert_eq!(Amount::Count(2).of(100), 2);
        let t: toml::Table = "a = 2\nb = -2\nc = \"25%\"\nd = true".parse().unwrap();
        assert_eq!(Amount::from_toml(&t["a"]), Ok(Amount::Count(2)));
        assert!(Amount::from_toml(&t["b"]).is_err());
        assert_eq!(Amount::from_toml(&t["c"]), Ok(Amount::Percent(25)));
        assert!(Amount::from_toml(&t["d"]).is_err());
    }

    #[test]
    fn required_from_either_side() {
        assert_eq!(Limit::MinAvailable(Amount::Count(2)).required(3), 2);
        assert_eq!(Limit::MaxUnavailable(Amount::Count(1)).required(3), 2);
        // 10% of 5 rounds up to 1 unavailable: 4 required.
        assert_eq!(Limit::MaxUnavailable(Amount::Percent(10)).required(5), 4);
        assert_eq!(Limit::MinAvailable(Amount::Percent(50)).required(3), 2);
        assert_eq!(Limit::MaxUnavailable(Amount::Count(9)).required(3), 0);
    }

    #[test]
    fn default_parses() {
        assert_eq!(
            Limit::parse("max_unavailable=1"),
            Ok(Limit::MaxUnavailable(Amount::Count(1)))
        );
        assert_eq!(
            Limit::parse("min_available = 50%"),
            Ok(Limit::MinAvailable(Amount::Percent(50)))
        );
        assert!(Limit::parse("max_unavailable").is_err());
        assert!(Limit::parse("max=1").is_err());
        assert!(Limit::parse("max_unavailable=ten").is_err());
    }

    #[test]
    fn labels_and_precedence() {
        let labels = [("MESOS_MAINT_MAX_UNAVAILABLE", "1"), ("OTHER", "x")];
        let l = Spec::from_labels(labels).unwrap().unwrap();
        assert_eq!(l.max_unavailable, Some(Amount::Count(1)));
        assert_eq!(Spec::from_labels([("OTHER", "x")]).unwrap(), None);
        assert!(Spec::from_labels([("MESOS_MAINT_MIN_AVAILABLE", "ten")]).is_err());
        assert!(Spec::from_labels([("MESOS_MAINT_MIN_UPTIME", "soon")]).is_err());
        let both = Spec::from_labels([
            ("MESOS_MAINT_MAX_UNAVAILABLE", "1"),
            ("MESOS_MAINT_MIN_AVAILABLE", "1"),
        ])
        .unwrap()
        .unwrap();
        assert!(resolve("/a", None, Some(&both), None)
            .unwrap_err()
            .contains("not both"));

        let conf = Spec {
            min_available: Some(Amount::Count(2)),
            ..Spec::default()
        };
        let d = Some(Limit::MaxUnavailable(Amount::Count(5)));
        let b = resolve("/a", Some(&conf), Some(&l), d).unwrap().unwrap();
        assert_eq!(
            (b.limit, b.origin),
            (Limit::MinAvailable(Amount::Count(2)), Origin::Config)
        );
        let b = resolve("/a", None, Some(&l), d).unwrap().unwrap();
        assert_eq!(b.origin, Origin::Label);
        let b = resolve("/a", None, None, d).unwrap().unwrap();
        assert_eq!(b.origin, Origin::Default);
        assert_eq!(resolve("/a", None, None, None).unwrap(), None);
    }
}
