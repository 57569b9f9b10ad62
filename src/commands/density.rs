//! `vmbench density`: the density sweep, saved as a results file with a `density` section.

use super::Ending;
use crate::cli::DensityArgs;
use crate::progress::Progress;
use crate::session;
use anyhow::Result;

/// `vmbench density`.
pub fn execute(args: &DensityArgs) -> Result<Ending> {
    let host = session::host_facts();
    let request = session::configure::density(args, &host)?;
    let progress = Progress::new(args.quiet);
    let results = session::run(&request, host, &progress)?;
    progress.finish();
    let view = crate::report::density::DensityView::of(&results);
    if let Some(view) = &view {
        print!("{}", crate::report::density::terminal(view));
    }
    let stopped = results
        .density
        .as_ref()
        .is_some_and(|d| !d.stopped.is_empty());
    Ok(if results.complete && !stopped {
        Ending::Success
    } else {
        Ending::Failed
    })
}
