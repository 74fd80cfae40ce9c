//! The `[fleet]` settings: typed, validated, and parsed key by key so that `config` only has to
//! hand each `fleet.*` value to [`FleetSettings::apply`] and call [`FleetSettings::validate`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::FleetError;

pub const DEFAULT_GROUP: &str = "default";
pub const DEFAULT_MAX_UNAVAILABLE: u32 = 1;
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30 * 60);
/// The chroot used when `fleet.zookeeper` names no path.
pub const DEFAULT_ZK_CHROOT: &str = "/mesos-maint";
pub const DEFAULT_ZK_PORT: u16 = 2181;

/// The `[fleet]` keys this module reads (the schema's list).
pub const KEYS: &[&str] = &[
    "backend",
    "group",
    "max_unavailable",
    "wait",
    "id",
    "zookeeper",
    "zookeeper_digest_file",
    "fleetlock_url",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// No coordination (today's behaviour).
    #[default]
    None,
    Master,
    ZooKeeper,
    FleetLock,
}

impl Backend {
    pub fn parse(s: &str) -> Option<Backend> {
        Some(match s.trim() {
            "none" => Backend::None,
            "master" => Backend::Master,
            "zookeeper" => Backend::ZooKeeper,
            "fleetlock" => Backend::FleetLock,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::None => "none",
            Backend::Master => "master",
            Backend::ZooKeeper => "zookeeper",
            Backend::FleetLock => "fleetlock",
        }
    }
}

/// `[fleet]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSettings {
    pub backend: Backend,
    /// `[a-zA-Z0-9.-]+`.
    pub group: String,
    /// At least 1 (master and zookeeper backends; a FleetLock server decides itself).
    pub max_unavailable: u32,
    /// How long a drain waits for a slot (zero: do not wait).
    pub wait: Duration,
    /// This node's holder id; `None`: the hostname (see [`FleetSettings::holder_id`]).
    pub id: Option<String>,
    pub zookeeper: Option<ZkUrl>,
    /// `user:password`, mode 0600 (checked when read, see [`Digest::from_file`]).
    pub zookeeper_digest_file: Option<PathBuf>,
    /// Base URL of a FleetLock server, always ending in `/`.
    pub fleetlock_url: Option<Url>,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            backend: Backend::None,
            group: DEFAULT_GROUP.to_string(),
            max_unavailable: DEFAULT_MAX_UNAVAILABLE,
            wait: DEFAULT_WAIT,
            id: None,
            zookeeper: None,
            zookeeper_digest_file: None,
            fleetlock_url: None,
        }
    }
}

impl FleetSettings {
    /// Sets one `[fleet]` key (`key` without the `fleet.` prefix). The error is what was
    /// expected, for the config error that names the key and the value.
    pub fn apply(&mut self, key: &str, value: &toml::Value) -> Result<(), String> {
        let string = || {
            value
                .as_str()
                .ok_or_else(|| "expected a string".to_string())
        };
        match key {
            "backend" => {
                self.backend = Backend::parse(string()?).ok_or_else(|| {
                    "expected \"none\", \"master\", \"zookeeper\" or \"fleetlock\"".to_string()
                })?
            }
            "group" => self.group = parse_group(string()?)?,
            "max_unavailable" => {
                let n = value
                    .as_integer()
                    .ok_or_else(|| "expected a whole number of at least 1".to_string())?;
                self.max_unavailable = u32::try_from(n)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| "expected a whole number of at least 1".to_string())?;
            }
            "wait" => {
                self.wait = humantime::parse_duration(string()?.trim()).map_err(|e| {
                    format!("not a duration ({e}); use a form like \"90s\", \"10m\" or \"0s\"")
                })?
            }
            "id" => self.id = Some(parse_id(string()?)?),
            "zookeeper" => self.zookeeper = Some(ZkUrl::parse(string()?)?),
            "zookeeper_digest_file" => {
                let p = PathBuf::from(string()?);
                if !p.is_absolute() {
                    return Err("expected an absolute path string".into());
                }
                self.zookeeper_digest_file = Some(p);
            }
            "fleetlock_url" => self.fleetlock_url = Some(parse_fleetlock_url(string()?)?),
            other => return Err(format!("unknown fleet key {other}")),
        }
        Ok(())
    }

    /// Rules across keys: a backend needs its own settings.
    pub fn validate(&self) -> Result<(), String> {
        match self.backend {
            Backend::ZooKeeper if self.zookeeper.is_none() => Err(
                "config: fleet.backend = \"zookeeper\" needs fleet.zookeeper (zk://host:port,…/path)"
                    .into(),
            ),
            Backend::FleetLock if self.fleetlock_url.is_none() => Err(
                "config: fleet.backend = \"fleetlock\" needs fleet.fleetlock_url (the FleetLock server's base URL)"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// `fleet.id`, or this machine's hostname.
    pub fn holder_id(&self) -> String {
        self.id.clone().unwrap_or_else(super::hostname)
    }
}

/// A group name: `[a-zA-Z0-9.-]+` (it becomes a znode name and a FleetLock group). `.` and `..`
/// alone are refused: they are not valid znode names.
pub fn parse_group(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && s != "."
        && s != "..";
    if ok {
        Ok(s.to_string())
    } else {
        Err("expected a group name of letters, digits, '.' and '-' (like \"kafka-prod\")".into())
    }
}

/// A holder id: printable, no blanks around it, at most 255 bytes.
pub fn parse_id(s: &str) -> Result<String, String> {
    if s.is_empty() || s.trim() != s || s.len() > 255 || s.chars().any(char::is_control) {
        return Err(
            "expected a non-empty id without surrounding blanks or control characters".into(),
        );
    }
    Ok(s.to_string())
}

/// An http(s) base URL; a missing trailing `/` is added so that `v1/pre-reboot` is joined under it.
pub fn parse_fleetlock_url(s: &str) -> Result<Url, String> {
    let mut url = crate::http_url::parse_url(s)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("a FleetLock base URL has no query or fragment".into());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// One ZooKeeper server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkServer {
    /// A host name, an IPv4 address, or an IPv6 address in brackets.
    pub host: String,
    pub port: u16,
}

/// `zk://host:port,host:port/chroot`: the servers and the chroot path (default
/// [`DEFAULT_ZK_CHROOT`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkUrl {
    pub servers: Vec<ZkServer>,
    pub chroot: String,
}

impl ZkUrl {
    pub fn parse(s: &str) -> Result<ZkUrl, String> {
        let rest = s
            .trim()
            .strip_prefix("zk://")
            .ok_or_else(|| "expected zk://host:port,host:port/path".to_string())?;
        let (hosts, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        if hosts.is_empty() {
            return Err("no server in the zk:// URL (expected zk://host:port,…/path)".into());
        }
        let servers = hosts
            .split(',')
            .map(parse_server)
            .collect::<Result<Vec<_>, _>>()?;
        let chroot = match path {
            None => DEFAULT_ZK_CHROOT.to_string(),
            Some(p) => parse_chroot(p)?,
        };
        Ok(ZkUrl { servers, chroot })
    }

    /// `host:port,host:port` (no chroot: the client works with absolute paths).
    pub fn connect_string(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("{}:{}", s.host, s.port))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zk://{}{}", self.connect_string(), self.chroot)
    }
}

fn parse_server(s: &str) -> Result<ZkServer, String> {
    let bad = || format!("bad server {s:?} in the zk:// URL (expected host or host:port)");
    if s.is_empty() {
        return Err(bad());
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']').ok_or_else(bad)?;
        let host = &rest[..end];
        host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        (format!("[{host}]"), port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    let host_ok = host.starts_with('[')
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'));
    if !host_ok {
        return Err(bad());
    }
    let port = match port {
        None => DEFAULT_ZK_PORT,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
    };
    Ok(ZkServer { host, port })
}

fn parse_chroot(p: &str) -> Result<String, String> {
    let trimmed = p.strip_suffix('/').unwrap_or(p);
    if trimmed.is_empty() {
        return Err(
            "the zk:// path is the root; give the lock its own path, like zk://…/mesos-maint"
                .into(),
        );
    }
    for part in trimmed[1..].split('/') {
        if part.is_empty()
            || part == "."
            || part == ".."
            || part.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(format!("bad path {p:?} in the zk:// URL"));
        }
    }
    if trimmed == "/zookeeper" || trimmed.starts_with("/zookeeper/") {
        return Err("the zk:// path is under /zookeeper, which ZooKeeper reserves".into());
    }
    Ok(trimmed.to_string())
}

/// Digest credentials (`user:password`) for ZooKeeper. Never printed: `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Digest {
    user: String,
    password: String,
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digest")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Digest {
    /// `user:password` (one line; a trailing newline is ignored).
    pub fn parse(text: &str) -> Result<Digest, String> {
        let line = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
        if line.contains('\n') {
            return Err("expected one line \"user:password\"".into());
        }
        let (user, password) = line
            .split_once(':')
            .ok_or_else(|| "expected \"user:password\"".to_string())?;
        if user.is_empty() || password.is_empty() {
            return Err("expected \"user:password\" with neither empty".into());
        }
        Ok(Digest {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    /// Reads the digest file; refused unless only its owner can read it (mode 0600 or 0400),
    /// like the other secrets. The error never contains the file's content.
    pub fn from_file(path: &Path) -> Result<Digest, FleetError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| {
            FleetError::Config(format!(
                "cannot read the ZooKeeper digest file {}: {e}",
                path.display()
            ))
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(FleetError::Config(format!(
                "the ZooKeeper digest file {} is readable by others than its owner (mode {mode:o}); run chmod 600 on it",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            FleetError::Config(format!(
                "cannot read the ZooKeeper digest file {}: {e}",
                path.display()
            ))
        })?;
        Digest::parse(&text).map_err(|e| {
            FleetError::Config(format!("the ZooKeeper digest file {}: {e}", path.display()))
        })
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// What `addauth digest` sends: `user:password`.
    pub fn auth_bytes(&self) -> Vec<u8> {
        format!("{}:{}", self.user, self.password).into_bytes()
    }

    /// The digest ACL id: `user:base64(sha1("user:password"))`.
    pub fn acl_id(&self) -> String {
        use base64::Engine;
        use sha1::Digest as _;
        let hash = sha1::Sha1::digest(self.auth_bytes());
        format!(
            "{}:{}",
            self.user,
            base64::engine::general_purpose::STANDARD.encode(hash)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zk_urls() {
        let u = ZkUrl::parse("zk://zk-1.zk:2181,zk-2.zk:2182,zk-3.zk/mesos-maint").unwrap();
        assert_eq!(u.connect_string(), "zk-1.zk:2181,zk-2.zk:2182,zk-3.zk:2181");
        assert_eq!(u.chroot, "/mesos-maint");
        assert_eq!(
            ZkUrl::parse("zk://127.0.0.1:2181").unwrap().chroot,
            DEFAULT_ZK_CHROOT
        );
        let u = ZkUrl::parse("zk://[::1]:2181,[fe80::1]/a/b/").unwrap();
        assert_eq!(u.connect_string(), "[::1]:2181,[fe80::1]:2181");
        assert_eq!(u.chroot, "/a/b");
        assert_eq!(u.to_string(), "zk://[::1]:2181,[fe80::1]:2181/a/b");
        for bad in [
            "http://zk:2181/x",
            "zk:///x",
            "zk://zk:2181/",
            "zk://zk:0/x",
            "zk://zk:99999/x",
            "zk://zk:21x/x",
            "zk://a,,b/x",
            "zk://zk/a//b",
            "zk://zk/a/../b",
            "zk://zk/zookeeper",
            "zk://zk/zookeeper/quota",
            "zk://[::1/x",
            "zk://z k/x",
        ] {
            assert!(ZkUrl::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn groups_and_ids() {
        for ok in ["default", "kafka-prod", "rack.1", "A-9"] {
            assert_eq!(parse_group(ok).unwrap(), ok);
        }
        for bad in ["", "a b", "a/b", "a_b", ".", "..", "kafka:prod", "é"] {
            assert!(parse_group(bad).is_err(), "{bad:?}");
        }
        assert!(parse_id("node-1.example").is_ok());
        assert!(parse_id(" node").is_err());
        assert!(parse_id("a\nb").is_err());
    }

    #[test]
    fn apply_and_validate() {
        let mut s = FleetSettings::default();
        let v = |t: &str| -> toml::Value { t.parse::<toml::Table>().unwrap()["k"].clone() };
        s.apply("backend", &v("k = \"zookeeper\"")).unwrap();
        assert!(s.validate().unwrap_err().contains("fleet.zookeeper"));
        s.apply("zookeeper", &v("k = \"zk://h:1/p\"")).unwrap();
        s.validate().unwrap();
        s.apply("max_unavailable", &v("k = 3")).unwrap();
        assert_eq!(s.max_unavailable, 3);
        assert!(s.apply("max_unavailable", &v("k = 0")).is_err());
        assert!(s.apply("max_unavailable", &v("k = \"2\"")).is_err());
        s.apply("wait", &v("k = \"0s\"")).unwrap();
        assert_eq!(s.wait, Duration::ZERO);
        assert!(s.apply("wait", &v("k = \"soon\"")).is_err());
        assert!(s.apply("backend", &v("k = \"etcd\"")).is_err());
        assert!(s.apply("zookeeper_digest_file", &v("k = \"rel\"")).is_err());
        s.apply("fleetlock_url", &v("k = \"http://f:3333/prefix\""))
            .unwrap();
        assert_eq!(
            s.fleetlock_url.as_ref().unwrap().as_str(),
            "http://f:3333/prefix/"
        );
        s.backend = Backend::FleetLock;
        s.validate().unwrap();
        s.id = None;
        assert!(!s.holder_id().is_empty());
    }

    #[test]
    fn digest_parsing_and_acl_id() {
        let d = Digest::parse("mesos-maint:s3cr:et\n").unwrap();
        assert_eq!(d.user(), "mesos-maint");
        assert_eq!(d.auth_bytes(), b"mesos-maint:s3cr:et");
        assert!(!format!("{d:?}").contains("s3cr"));
        // openssl: printf super:secret | openssl sha1 -binary | base64
        let d = Digest::parse("super:secret").unwrap();
        assert_eq!(d.acl_id(), "super:lK75jTNcA+U9vtVEw5vB51mj/w4=");
        for bad in ["", "user", ":pw", "user:", "a:b\nc:d"] {
            assert!(Digest::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn digest_file_must_be_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zk-digest");
        std::fs::write(&path, "u:topsecret\n").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = Digest::from_file(&path).unwrap_err();
            assert!(matches!(e, FleetError::Config(_)), "{mode:o}");
            assert!(e.to_string().contains("chmod 600"), "{e}");
            assert!(!e.to_string().contains("topsecret"));
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Digest::from_file(&path).unwrap().user(), "u");
        std::fs::write(&path, "no colon").unwrap();
        let e = Digest::from_file(&path).unwrap_err();
        assert!(!e.to_string().contains("no colon"), "{e}");
        assert!(Digest::from_file(&dir.path().join("missing")).is_err());
    }
}
