//! The commands behind the CLI, one module each; `main` only parses and calls [`execute`].

pub mod clean;
pub mod compare;
pub mod density;
pub mod doctor;
pub mod fleet;
pub mod list;
pub mod run;

use crate::cli::Command;
use crate::results::HostInfo;

/// How a command ended, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Everything asked for was done.
    Success,
    /// The run finished but some trials failed, or it was interrupted.
    Failed,
}

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

/// Host facts including the external tools (QEMU, runtimes) and the accelerator verdict.
pub fn host_facts() -> HostInfo {
    let mut host = crate::host::probe();
    // The accelerator first: runsc's platform depends on it.
    crate::env::vm::record_host(&mut host);
    crate::env::container::oci::record_runtimes(&mut host);
    host
}
