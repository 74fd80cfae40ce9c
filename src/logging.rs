//! Logs go to stderr (stdout is reserved for the report / JSON), at a level set by -v/-q.
//!
//! Two formats:
//!
//! - on a terminal or a pipe: tracing's compact format with timestamps (ANSI colours only on a
//!   terminal);
//! - under systemd, when stderr is the journal stream (`JOURNAL_STREAM` names stderr's device
//!   and inode, see systemd.exec(5)): no timestamps (journald adds its own), no ANSI, and each
//!   line starts with its syslog priority in the `<N>` form of sd-daemon(3) (`<3>` error,
//!   `<4>` warning, `<6>` info, `<7>` debug and trace), so `journalctl -p warning` works.

use std::fmt::{self, Write as _};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The variable systemd sets for a unit whose stdout/stderr go to the journal: `<dev>:<ino>`.
pub const JOURNAL_STREAM_ENV: &str = "JOURNAL_STREAM";

/// The target of the lines a user asked to see at default verbosity: a drain's progress and its
/// actions (DRAIN_AGENT sent, unit stopped). Everything else at INFO is an internal step.
pub const PROGRESS: &str = "progress";

/// Who the logs are for, which sets the level with no -v/-q.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A command run by a person or a script: its result on stdout, progress lines and problems
    /// on stderr; internal steps only with `-v`, as systemctl and kubectl do.
    Command,
    /// The daemon: its journal keeps every step at INFO.
    Daemon,
}

/// The filter directive for the -v/-q count. A command at default verbosity shows warnings and
/// its progress lines; `-v` adds the internal steps, `-q` drops the progress, `-qq` leaves errors.
pub fn default_directive(audience: Audience, verbose: u8, quiet: u8) -> String {
    let n = i16::from(verbose) - i16::from(quiet);
    let level = match (audience, n) {
        (_, i16::MIN..=-2) => "error",
        (Audience::Daemon, -1) | (Audience::Command, -1..=0) => "warn",
        (Audience::Daemon, 0) | (Audience::Command, 1) => "info",
        (Audience::Daemon, 1) | (Audience::Command, 2) => "debug",
        _ => "trace",
    };
    let progress = if audience == Audience::Command && n == 0 {
        format!(",{PROGRESS}=info")
    } else {
        String::new()
    };
    format!("{level}{progress},zbus=warn,hyper=warn,reqwest=warn")
}

pub fn init(audience: Audience, verbose: u8, quiet: u8) {
    // RUST_LOG, when set, refines per module; the flags set the default.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_directive(audience, verbose, quiet)));
    if stderr_is_journal() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .event_format(JournalFormat)
            .try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .compact()
        .try_init();
}

/// Whether stderr is connected to the journal: `JOURNAL_STREAM` is set and names stderr's
/// device and inode (a child whose stderr was redirected elsewhere inherits the variable but
/// not the stream).
pub fn stderr_is_journal() -> bool {
    let Ok(value) = std::env::var(JOURNAL_STREAM_ENV) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr()) {
        // dev_t and ino_t are 64 bits on the usual targets, not on all of them.
        #[allow(clippy::unnecessary_cast)]
        Ok(st) => journal_stream_matches(&value, st.st_dev as u64, st.st_ino as u64),
        Err(_) => false,
    }
}

/// Whether a `JOURNAL_STREAM` value (`<dev>:<ino>`, decimal) names this device and inode.
pub fn journal_stream_matches(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.trim().split_once(':') else {
        return false;
    };
    d.parse::<u64>().ok() == Some(dev) && i.parse::<u64>().ok() == Some(ino)
}

/// The syslog priority of a tracing level (sd-daemon.h: 3 error, 4 warning, 6 info, 7 debug).
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Event format for the journal: `<N>` priority prefix on every line, the span context
/// (`span{fields}: `), the message and the event's fields; no timestamp, level or ANSI.
#[derive(Debug, Clone, Copy, Default)]
pub struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut text = String::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                text.push_str(span.name());
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(text, "{{{fields}}}")?;
                    }
                }
                text.push_str(": ");
            }
        }
        ctx.format_fields(Writer::new(&mut text), event)?;
        // journald splits the stream at newlines and reads the prefix of each line.
        let priority = syslog_priority(*event.metadata().level());
        for line in text.split('\n') {
            writeln!(writer, "<{priority}>{line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn journal_output(emit: impl FnOnce()) -> String {
        let buf = Buffer::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_writer(move || out.clone())
            .with_ansi(false)
            .event_format(JournalFormat)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn each_level_gets_its_syslog_priority_and_no_timestamp() {
        let out = journal_output(|| {
            tracing::error!("agent unreachable");
            tracing::warn!(unit = "docker.service", "slow stop");
            tracing::info!("holding the delay lock");
            tracing::debug!("polling");
            tracing::trace!("bytes");
        });
        assert_eq!(
            out,
            "<3>agent unreachable\n\
             <4>slow stop unit=\"docker.service\"\n\
             <6>holding the delay lock\n\
             <7>polling\n\
             <7>bytes\n"
        );
        assert!(!out.contains('\u{1b}'), "no ANSI: {out:?}");
    }

    #[test]
    fn every_line_of_a_multi_line_message_keeps_the_priority() {
        let out = journal_output(|| tracing::warn!("first\nsecond"));
        assert_eq!(out, "<4>first\n<4>second\n");
    }

    #[test]
    fn spans_are_named_before_the_message() {
        let out = journal_output(|| {
            let span = tracing::info_span!("drain", agent = "a1");
            let _guard = span.enter();
            tracing::info!("stage AwaitDrained");
        });
        assert_eq!(out, "<6>drain{agent=\"a1\"}: stage AwaitDrained\n");
    }

    #[test]
    fn journal_stream_must_name_stderr() {
        assert!(journal_stream_matches("8:12345", 8, 12345));
        assert!(journal_stream_matches(" 8:12345\n", 8, 12345));
        assert!(!journal_stream_matches("8:12346", 8, 12345));
        assert!(!journal_stream_matches("9:12345", 8, 12345));
        assert!(!journal_stream_matches("8", 8, 12345));
        assert!(!journal_stream_matches("", 8, 12345));
        assert!(!journal_stream_matches("a:b", 8, 12345));
    }

    #[test]
    fn commands_are_quiet_by_default_and_the_daemon_is_not() {
        let d = |a, v, q| default_directive(a, v, q);
        assert!(d(Audience::Command, 0, 0).starts_with("warn,progress=info,"));
        assert!(d(Audience::Command, 1, 0).starts_with("info,"));
        assert!(d(Audience::Command, 2, 0).starts_with("debug,"));
        assert!(d(Audience::Command, 0, 1).starts_with("warn,zbus"));
        assert!(d(Audience::Command, 0, 2).starts_with("error,"));
        assert!(!d(Audience::Command, 0, 1).contains("progress"));
        assert!(d(Audience::Daemon, 0, 0).starts_with("info,"));
        assert!(d(Audience::Daemon, 0, 1).starts_with("warn,"));
        assert!(!d(Audience::Daemon, 0, 1).contains("progress"));
        assert!(d(Audience::Daemon, 255, 0).starts_with("trace,"));
        assert!(d(Audience::Command, 0, 255).starts_with("error,"));
    }

    #[test]
    fn priorities_follow_sd_daemon() {
        assert_eq!(syslog_priority(Level::ERROR), 3);
        assert_eq!(syslog_priority(Level::WARN), 4);
        assert_eq!(syslog_priority(Level::INFO), 6);
        assert_eq!(syslog_priority(Level::DEBUG), 7);
        assert_eq!(syslog_priority(Level::TRACE), 7);
    }
}
