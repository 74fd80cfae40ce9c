//! `mesos-maint generate`: the man pages and shell completions, rendered from the same
//! clap definitions the binary parses with. Packaging runs the binary it is about to ship, so
//! the pages always match it, and no second program has to be built.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Roff};

use crate::cli::{Cli, Generate};
use crate::config::sources::DEFAULT_DIRS;
use crate::config::{DEFAULT_HOOKS_DIR, DEFAULT_STATE_DIR};

pub const BIN: &str = "mesos-maint";

pub fn run(what: &Generate) -> anyhow::Result<()> {
    match what {
        Generate::Man { dir } => man_pages(dir),
        Generate::Completions { shell, dir } => completions(*shell, dir),
    }
}

/// `mesos-maint.1` (with EXIT STATUS, FILES, ENVIRONMENT and SEE ALSO sections) and one page
/// per visible command (`mesos-maint-drain.1`, ...).
pub fn man_pages(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        clap_mangen::generate_to(sub.clone(), dir)
            .with_context(|| format!("writing the page of {}", sub.get_name()))?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render(&mut page)?;
    top_level_sections(&cmd).to_writer(&mut page)?;
    let path = dir.join(format!("{BIN}.1"));
    fs::File::create(&path)
        .and_then(|mut f| f.write_all(&page))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn top_level_sections(cmd: &clap::Command) -> Roff {
    let mut r = Roff::default();
    r.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "done / safe"),
        ("1", "check: not safe (work running or a drain in progress); the reasons are printed"),
        ("2", "usage or configuration error (one line naming the offending value; nothing was sent)"),
        ("3", "undetermined: master or agent unreachable, authentication refused, unexpected answer"),
        ("4", "deadline exceeded; what still holds the drain is printed"),
        ("5", "refused by policy: another drain holds the lock, a pre-drain hook refused, a maintenance window"),
        ("70", "internal error"),
    ] {
        r.control("TP", []);
        r.text([bold(code)]);
        r.text([roman(meaning)]);
    }
    r.control("SH", ["FILES"]);
    let files = [
        (
            DEFAULT_DIRS.join(", "),
            "TOML configuration fragments; the same file name in /etc beats /run beats /usr/lib, \
             a link to /dev/null masks one. The package's defaults are in /usr/lib.",
        ),
        (
            DEFAULT_HOOKS_DIR.to_string() + "/pre-drain/, post-drain/",
            "executables run in name order before and after a drain",
        ),
        (
            DEFAULT_STATE_DIR.to_string() + "/drain.json",
            "the drain marker: the stage of the current or last drain",
        ),
        (
            "/usr/lib/systemd/system/mesos-maint.service".to_string(),
            "the daemon's unit (mesos-maint daemon)",
        ),
        (
            "/usr/lib/systemd/logind.conf.d/mesos-maint.conf".to_string(),
            "raises InhibitDelayMaxSec so that a shutdown can wait for a drain",
        ),
    ];
    for (path, what) in files {
        r.control("TP", []);
        r.text([bold(path)]);
        r.text([roman(what)]);
    }
    r.control("SH", ["ENVIRONMENT"]);
    for (var, what) in [
        (
            "MESOS_MAINT_MASTER, MESOS_MAINT_AGENT, MESOS_MAINT_STATE_DIR",
            "override the configuration keys master, agent and state_dir; flags win over them",
        ),
        ("RUST_LOG", "refines the log filter set by -v and -q"),
        (
            "DBUS_SYSTEM_BUS_ADDRESS",
            "the system bus to reach systemd and systemd-logind on",
        ),
    ] {
        r.control("TP", []);
        r.text([bold(var)]);
        r.text([roman(what)]);
    }
    r.control("SH", ["SEE ALSO"]);
    let mut see: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("{BIN}-{}(1)", s.get_name()))
        .collect();
    see.extend(["systemd-inhibit(1)".into(), "logind.conf(5)".into()]);
    r.text([roman(see.join(", "))]);
    r
}

/// The file name each shell looks for in its completion directory.
pub fn completion_file_name(shell: Shell) -> String {
    match shell {
        Shell::Bash => BIN.to_string(),
        Shell::Zsh => format!("_{BIN}"),
        Shell::Fish => format!("{BIN}.fish"),
        Shell::Elvish => format!("{BIN}.elv"),
        Shell::PowerShell => format!("_{BIN}.ps1"),
        _ => format!("{BIN}.{shell}"),
    }
}

pub fn completions(shell: Shell, dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut script);
    let path = dir.join(completion_file_name(shell));
    fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_cover_every_visible_command_and_the_exit_codes() {
        let tmp = tempfile::tempdir().unwrap();
        man_pages(tmp.path()).unwrap();
        let top = fs::read_to_string(tmp.path().join("mesos-maint.1")).unwrap();
        assert!(top.contains("\n.TH mesos-maint 1 "), "{top}");
        for section in ["EXIT STATUS", "FILES", "ENVIRONMENT", "SEE ALSO"] {
            assert!(top.contains(section), "{section} missing");
        }
        assert!(top.contains("self\\-test") || top.contains("self-test"));
        for cmd in ["status", "check", "drain", "self-test", "daemon"] {
            assert!(
                tmp.path().join(format!("mesos-maint-{cmd}.1")).is_file(),
                "{cmd}"
            );
        }
        assert!(tmp.path().join("mesos-maint-generate.1").is_file());
    }

    #[test]
    fn completions_name_the_commands_and_their_flags() {
        let tmp = tempfile::tempdir().unwrap();
        for shell in [Shell::Bash, Shell::Zsh] {
            completions(shell, tmp.path()).unwrap();
            let text = fs::read_to_string(tmp.path().join(completion_file_name(shell))).unwrap();
            assert!(text.contains("self-test"), "{shell}");
            assert!(text.contains("--image-build"), "{shell}");
        }
    }
}
