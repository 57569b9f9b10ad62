//! `vmbench compare`: render a report from results files side by side; with none, run the
//! default suite first (saving its results under `results/`).

use super::run::{default_out, Request};
use super::Ending;
use crate::cli::{unique, CompareArgs};
use crate::config::{self, RunConfig};
use crate::report::export::Format;
use crate::results::{HostInfo, Results};
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

/// The default suite: every environment this host can run (or those asked for).
pub fn suite(args: &CompareArgs, host: &HostInfo) -> Result<Request, UsageError> {
    let envs = if args.env.is_empty() {
        crate::env::runnable(host)
    } else {
        crate::env::resolve(&unique(&args.env), host)?
    };
    Ok(Request {
        config: {
            let mut config = RunConfig {
                size: args.sizing.size,
                auto_size: !args.sizing.fixed_size,
                trial_limit_s: args.sizing.trial_limit,
                workloads: unique(&args.workload),
                envs,
                cpus: config::parse_cpu_list("auto").map_err(UsageError)?.0,
                allow_concurrent: args.allow_concurrent,
                image: args.image,
                ..RunConfig::default()
            };
            super::run::repetitions(&args.repetitions, &mut config);
            if args.quick {
                config.make_demo();
            }
            if config.runs_family(crate::ids::Family::Vm) {
                crate::env::vm::check_inputs(&config, host)
                    .map_err(|why| UsageError(why.to_string()))?;
            }
            config
        },
        out: default_out("suite"),
        quiet: args.quiet,
    })
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
        let host = super::host_facts();
        let request = suite(args, &host)?;
        eprintln!(
            "vmbench: running the default suite on {} environment(s) into {}",
            request.config.envs.len(),
            request.out.display()
        );
        let results = super::run::run(&request, host)?;
        let label = request
            .out
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        ending = super::run::ending(&results, &request.out);
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
