//! `vmbench`: parse the command line, run the command, report errors on one line.

use clap::Parser;
use std::process::ExitCode;
use vmbench::cli::{normalise_args, one_line, Cli};
use vmbench::commands::{self, Ending};

fn main() -> ExitCode {
    // A run must clean up after a signal that comes even before its handler is installed.
    vmbench::interrupt::hold();
    let parsed = Cli::try_parse_from(normalise_args(std::env::args_os().collect()));
    if let Ok(Cli {
        command:
            vmbench::cli::Command::Run(_)
            | vmbench::cli::Command::Compare(_)
            | vmbench::cli::Command::Density(_)
            | vmbench::cli::Command::Fleet(vmbench::cli::FleetCommand::Node(_)),
    }) = &parsed
    {
        vmbench::interrupt::install();
    }
    vmbench::interrupt::release();
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    match commands::execute(cli.command) {
        Ok(Ending::Success) => ExitCode::SUCCESS,
        Ok(Ending::Failed) => ExitCode::from(1),
        Err(e) => {
            let usage = e
                .chain()
                .any(|c| c.downcast_ref::<vmbench::UsageError>().is_some());
            eprintln!("error: {}", vmbench::error_chain(e.as_ref()));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
