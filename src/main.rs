//! Parse, set up logging, dispatch, map the outcome to the documented exit code. Nothing else.

use std::process::ExitCode;

use clap::Parser;
use mesos_maint::cli::{Cli, Command};
use mesos_maint::commands;
use mesos_maint::config::{Loader, Overrides};
use mesos_maint::context::Ctx;
use mesos_maint::exit::{classify, Exit};
use mesos_maint::logging;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let audience = match cli.command {
        Command::Daemon => logging::Audience::Daemon,
        _ => logging::Audience::Command,
    };
    logging::init(audience, cli.global.verbose, cli.global.quiet);
    // Packaging runs this on the build machine: no configuration is read.
    if let Command::Generate { what } = &cli.command {
        return match commands::generate::run(what) {
            Ok(()) => Exit::Ok.into(),
            Err(e) => {
                eprintln!("mesos-maint: {e:#}");
                Exit::Internal.into()
            }
        };
    }
    let overrides = Overrides {
        config: cli.global.config.clone(),
        master: cli.global.master.clone(),
        agent: cli.global.agent.clone(),
        state_dir: cli.global.state_dir.clone(),
    };
    let settings = match Loader::system().load(&overrides) {
        Ok((settings, warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            settings
        }
        Err(e) => {
            eprintln!("mesos-maint: {e}");
            if let Command::SelfTest { image_build } = &cli.command {
                commands::self_test::report_config_error(&e, cli.global.output(), *image_build);
            }
            return Exit::Usage.into();
        }
    };
    let ctx = Ctx {
        settings,
        output: cli.global.output(),
        quiet: cli.global.quiet > 0,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesos-maint: cannot start the async runtime: {e}");
            return Exit::Internal.into();
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Status => commands::status::status(&ctx).await,
            Command::Check => commands::status::check(&ctx).await,
            Command::Drain(args) => commands::drain::run(&ctx, args).await,
            Command::Deactivate => commands::deactivate::run(&ctx).await,
            Command::Reactivate(args) => commands::reactivate::run(&ctx, args).await,
            Command::Reboot(args) => commands::reboot::run(&ctx, args).await,
            Command::Daemon => mesos_maint::daemon::run::run(ctx.clone(), overrides.clone()).await,
            Command::Maintenance(cmd) => commands::maintenance::run(&ctx, cmd).await,
            Command::Fleet(cmd) => commands::fleet::run(&ctx, cmd).await,
            Command::SelfTest { image_build } => {
                commands::self_test::run(&ctx, &overrides, *image_build).await
            }
            Command::Health(args) => commands::health::run(&ctx, args).await,
            Command::Generate { .. } => unreachable!("handled before the configuration is read"),
        }
    });
    match result {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("mesos-maint: {err:#}");
            classify(&err).into()
        }
    }
}

/// clap's own errors: help and version as clap prints them, anything else as one line, exit 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            Exit::Ok.into()
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            Exit::Usage.into()
        }
        _ => {
            let rendered = e.render().to_string();
            let line = rendered.lines().next().unwrap_or("invalid usage").trim();
            let line = line.strip_prefix("error: ").unwrap_or(line);
            eprintln!("mesos-maint: {line} (see --help)");
            Exit::Usage.into()
        }
    }
}
