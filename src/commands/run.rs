//! `vmbench run`: configure the run, let the session carry it out, print the summary.

use crate::cli::RunArgs;
use crate::progress::Progress;
use crate::session::{self, Ending};
use anyhow::Result;

/// `vmbench run`.
pub fn execute(args: &RunArgs) -> Result<Ending> {
    let host = session::host_facts();
    let request = session::configure::run(args, &host)?;
    let progress = Progress::new(args.quiet);
    let results = session::run(&request, host, &progress)?;
    progress.finish();
    let view = crate::report::model::RunView::build(
        "",
        &results,
        None,
        results.config.equivalence_pct / 100.0,
    );
    print!("{}", crate::report::terminal::render(&view));
    Ok(super::ending(&results, &request.out))
}
