//! The commands behind the CLI, one module each; `main` only parses and calls [`execute`].
//! Each parses its options into a request, calls the library, and prints.

pub mod clean;
pub mod compare;
pub mod density;
pub mod doctor;
pub mod fleet;
pub mod list;
pub mod run;

use crate::cli::Command;
use crate::results::Results;
pub use crate::session::Ending;
use std::path::Path;

/// Runs a parsed command.
pub fn execute(command: Command) -> anyhow::Result<Ending> {
    match command {
        Command::List => list::execute(),
        Command::Doctor { json } => doctor::execute(json),
        Command::Run(args) => {
            // First of all: a signal during set-up must clean up too.
            crate::interrupt::install();
            run::execute(&args)
        }
        Command::Compare(args) => {
            crate::interrupt::install();
            compare::execute(&args)
        }
        Command::Density(args) => {
            crate::interrupt::install();
            density::execute(&args)
        }
        Command::Clean => clean::execute(),
        Command::Fleet(command) => fleet::execute(command),
        Command::Image(crate::cli::ImageCommand::Build(args)) => fleet::build_image(&args),
    }
}

/// How a finished run ends, saying where its trials are when it did not succeed.
pub fn ending(results: &Results, out: &Path) -> Ending {
    let (ending, line) = crate::session::ending(results, out);
    if let Some(line) = line {
        eprintln!("{line}");
    }
    ending
}
