//! `vmbench compare`: render a report from results files side by side; with none, run the
//! default suite first (saving its results under `results/`).

use super::Ending;
use crate::cli::CompareArgs;
use crate::progress::Progress;
use crate::report::export::Format;
use crate::results::Results;
use crate::session;
use crate::UsageError;
use anyhow::Result;
use std::path::Path;

/// Loads a results file for a report; a bad one is a usage error naming the file.
fn load(path: &Path) -> Result<(String, Results), UsageError> {
    let results = Results::load_for_report(path).map_err(|e| UsageError(crate::error_chain(&e)))?;
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok((label, results))
}

/// `vmbench compare`.
pub fn execute(args: &CompareArgs) -> Result<Ending> {
    let format = args.format.unwrap_or_else(|| Format::of_path(&args.out));
    crate::atomic::check_writable(&args.out).map_err(|e| {
        UsageError(format!(
            "--out {}: {}",
            args.out.display(),
            crate::error_chain(&e)
        ))
    })?;
    let baseline = args.baseline.as_deref().map(load).transpose()?;
    let mut runs = Vec::new();
    let mut ending = Ending::Success;
    if args.files.is_empty() {
        let host = session::host_facts();
        let request = session::configure::suite(args, &host)?;
        eprintln!(
            "vmbench: running the default suite on {} environment(s) into {}",
            request.config.envs.len(),
            request.out.display()
        );
        let progress = Progress::new(args.quiet);
        let results = session::run(&request, host, &progress)?;
        progress.finish();
        let label = request
            .out
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        ending = super::ending(&results, &request.out);
        runs.push((label, results));
    } else {
        for file in &args.files {
            runs.push(load(file)?);
        }
    }
    let report = crate::report::model::Report::build(
        &runs,
        baseline.as_ref(),
        args.repetitions.equivalence / 100.0,
    );
    if args.files.is_empty() {
        print!("{}", crate::report::terminal::render(&report.runs[0]));
    }
    let text = crate::report::exporter(format).render(&report, args.lang)?;
    crate::atomic::write(&args.out, |w| w.write_all(text.as_bytes()))?;
    eprintln!(
        "vmbench: wrote {} ({} bytes)",
        args.out.display(),
        text.len()
    );
    if let Some(dir) = &args.charts_dir {
        let files = crate::report::slides::write_charts(&report, args.lang, dir)?;
        eprintln!(
            "vmbench: wrote {} chart(s) as SVG and PNG, each with its caption, into {}",
            files.len() / 3,
            dir.display()
        );
    }
    Ok(ending)
}
