//! `vmbench density`: the density sweep, saved as a results file with a `density` section.

use super::run::{default_out, Request};
use super::Ending;
use crate::cli::{unique, DensityArgs};
use crate::config::{DensityPlan, RunConfig};
use crate::UsageError;
use anyhow::Result;
use vmbench_workload::Workload;

/// The run configuration of a sweep.
pub fn config(
    args: &DensityArgs,
    host: &crate::results::HostInfo,
) -> Result<RunConfig, UsageError> {
    let config = RunConfig {
        reps: 1,
        warmup: 0,
        auto_size: false,
        workloads: vec![Workload::Noop],
        envs: crate::env::resolve(&unique(&args.env), host)?,
        cpus: args.cpus.0.clone(),
        memory_mib: args.memory,
        timeout_s: args.timeout,
        sample_interval_ms: (args.interval > 0.0).then_some(args.interval),
        kernel: args.guest.kernel.clone(),
        qemu: args.guest.qemu.clone(),
        allow_concurrent: args.allow_concurrent,
        image: args.image,
        density: Some(DensityPlan {
            counts: args.counts.0.clone(),
            ksm: args.ksm,
        }),
        ..RunConfig::default()
    };
    if config.runs_family(crate::ids::Family::Vm) {
        crate::env::vm::check_inputs(&config, host).map_err(|why| UsageError(why.to_string()))?;
    }
    first_step_fits(&config)?;
    Ok(config)
}

/// Refuses, before anything is prepared or started, a first step that would leave less than
/// [`crate::density::KEEP_FREE`] of `MemAvailable` (the sweep checks every later step).
fn first_step_fits(config: &RunConfig) -> Result<(), UsageError> {
    let Some(first) = config.density.as_ref().and_then(|d| d.counts.first()) else {
        return Ok(());
    };
    let available = crate::density::memory::host_memory(std::path::Path::new("/proc")).available;
    for &env in &config.envs {
        let need = crate::density::estimate(&[], env, config.memory_mib, *first);
        if !crate::density::leaves_enough(available, need) {
            return Err(UsageError(format!(
                "{env} x{first}: it would need about {} MiB of the {} MiB available, leaving less than {:.0}%; nothing was started: lower --counts or --memory",
                need >> 20,
                available >> 20,
                crate::density::KEEP_FREE * 100.0
            )));
        }
    }
    Ok(())
}

/// `vmbench density`.
pub fn execute(args: &DensityArgs) -> Result<Ending> {
    let host = super::host_facts();
    let request = Request {
        config: config(args, &host)?,
        out: args.out.clone().unwrap_or_else(|| default_out("density")),
        quiet: args.quiet,
    };
    let results = super::run::run(&request, host)?;
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
