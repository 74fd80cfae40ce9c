//! Finding configuration fragments: `/usr/lib`, `/run`, `/etc` drop-in directories with
//! systemd-style overriding (same file name: /etc beats /run beats /usr/lib; a link to
//! /dev/null masks), then the optional `--config FILE`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// Package defaults first, local administration last.
pub const DEFAULT_DIRS: [&str; 3] = [
    "/usr/lib/mesos-maint/config.d",
    "/run/mesos-maint/config.d",
    "/etc/mesos-maint/config.d",
];

/// The fragments to read, in merge order (later wins key by key).
pub fn fragments(dirs: &[PathBuf], extra: Option<&Path>) -> Result<Vec<PathBuf>, ConfigError> {
    // Name -> path from the highest-priority directory that has it.
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(ConfigError::Read {
                    file: dir.clone(),
                    detail: e.to_string(),
                })
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".toml") {
                continue;
            }
            by_name.insert(name, entry.path());
        }
    }
    let mut out: Vec<PathBuf> = by_name.into_values().filter(|p| !is_masked(p)).collect();
    if let Some(extra) = extra {
        out.push(extra.to_path_buf());
    }
    Ok(out)
}

fn is_masked(path: &Path) -> bool {
    std::fs::read_link(path).is_ok_and(|target| target == Path::new("/dev/null"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etc_overrides_same_name_and_dev_null_masks() {
        let tmp = tempfile::tempdir().unwrap();
        let usr = tmp.path().join("usr");
        let run = tmp.path().join("run");
        let etc = tmp.path().join("etc");
        for d in [&usr, &run, &etc] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(usr.join("10-defaults.toml"), "").unwrap();
        std::fs::write(usr.join("20-x.toml"), "").unwrap();
        std::fs::write(usr.join("README"), "").unwrap();
        std::fs::write(run.join("20-x.toml"), "").unwrap();
        std::fs::write(etc.join("30-y.toml"), "").unwrap();
        std::os::unix::fs::symlink("/dev/null", etc.join("10-defaults.toml")).unwrap();
        let dirs = vec![usr.clone(), run.clone(), etc.clone()];
        let got = fragments(&dirs, Some(Path::new("/x/extra.toml"))).unwrap();
        assert_eq!(
            got,
            vec![
                run.join("20-x.toml"),
                etc.join("30-y.toml"),
                PathBuf::from("/x/extra.toml")
            ]
        );
    }
}
