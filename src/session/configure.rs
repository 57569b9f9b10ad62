//! Configure: the run configuration each command's options describe, checked for this host
//! before anything is touched (an environment it cannot run, a bad guest input, a density
//! step that would not fit are usage errors).

use super::Request;
use crate::cli::{unique, CompareArgs, DensityArgs, Repetitions, RunArgs};
use crate::config::{self, DensityPlan, Order, RunConfig};
use crate::env;
use crate::ids::Family;
use crate::results::HostInfo;
use crate::UsageError;
use std::path::PathBuf;
use vmbench_workload::Workload;

/// The least repetitions of an adaptive plan.
pub const MIN_ADAPTIVE_REPS: u32 = 5;

/// A default results path under `results/`, stamped with the time.
pub fn default_out(kind: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    PathBuf::from("results").join(format!("{kind}-{stamp}.json"))
}

/// Sets the plan's repetitions: fixed when `--reps` comes alone, adaptive otherwise.
pub fn repetitions(args: &Repetitions, config: &mut RunConfig) {
    config.equivalence_pct = args.equivalence;
    config.reps = args.reps.unwrap_or(MIN_ADAPTIVE_REPS);
    let adaptive = args.target_ci.is_some() || args.reps.is_none();
    config.target_ci_pct = adaptive.then(|| args.target_ci.unwrap_or(3.0));
    config.max_reps = adaptive.then(|| args.max_reps.max(config.reps));
    config.max_time_s = adaptive.then_some(args.max_time);
}

/// Refuses what a VM run cannot start with (QEMU, kernel, memory), before anything starts.
fn check_guest(config: &RunConfig, host: &HostInfo) -> Result<(), UsageError> {
    if config.runs_family(Family::Vm) {
        env::vm::check_inputs(config, host).map_err(|why| UsageError(why.to_string()))?;
    }
    Ok(())
}

/// The run `vmbench run` (and a fleet pod) asks for, `vm` resolved for this host.
pub fn run(args: &RunArgs, host: &HostInfo) -> Result<Request, UsageError> {
    let mut config = RunConfig {
        warmup: args.warmup,
        size: args.sizing.size,
        auto_size: !args.sizing.fixed_size,
        trial_limit_s: args.sizing.trial_limit,
        workloads: unique(&args.workload),
        envs: env::resolve(&unique(&args.env), host)?,
        cpus: args.cpus.0.clone(),
        memory_mib: args.memory,
        vm_machine: Some(args.machine),
        cpu_quota: args.cpu_quota,
        timeout_s: args.timeout,
        order: args.shuffle.map_or(Order::Fixed, Order::Random),
        mode: args.mode,
        sample_interval_ms: (args.interval > 0.0).then_some(args.interval),
        data_dir: args.data_dir.clone(),
        kernel: args.guest.kernel.clone(),
        qemu: args.guest.qemu.clone(),
        workload_bin: args.workload_bin.clone(),
        allow_concurrent: args.allow_concurrent,
        image: args.image,
        page_cache: args.page_cache,
        mtus: unique(&args.mtu),
        spaced_starts: args.spaced_starts,
        exceed_limits: args.exceed_limits,
        ..RunConfig::default()
    };
    repetitions(&args.repetitions, &mut config);
    if args.quick {
        config.make_demo();
    }
    if config.mode == config::Mode::Warm && config.workloads.contains(&Workload::FileLayer) {
        return Err(UsageError(
            "file-layer times the first write to an image file, which a warm instance makes only once: run it with --mode cold, or leave it out of --workload".into(),
        ));
    }
    check_guest(&config, host)?;
    Ok(Request {
        config,
        out: args.out.clone().unwrap_or_else(|| default_out("run")),
    })
}

/// The default suite `vmbench compare` runs: every environment this host can run (or those
/// asked for), pinned where there are CPUs to spare.
pub fn suite(args: &CompareArgs, host: &HostInfo) -> Result<Request, UsageError> {
    let envs = if args.env.is_empty() {
        env::runnable(host)
    } else {
        env::resolve(&unique(&args.env), host)?
    };
    let mut config = RunConfig {
        size: args.sizing.size,
        auto_size: !args.sizing.fixed_size,
        trial_limit_s: args.sizing.trial_limit,
        workloads: unique(&args.workload),
        envs,
        cpus: config::parse_cpu_list("auto").map_err(UsageError)?.0,
        allow_concurrent: args.allow_concurrent,
        image: args.image,
        spaced_starts: crate::config::SPACED_STARTS,
        exceed_limits: true,
        ..RunConfig::default()
    };
    repetitions(&args.repetitions, &mut config);
    if args.quick {
        config.make_demo();
    }
    check_guest(&config, host)?;
    Ok(Request {
        config,
        out: default_out("suite"),
    })
}

/// The sweep `vmbench density` asks for; a first step that would not fit is refused.
pub fn density(args: &DensityArgs, host: &HostInfo) -> Result<Request, UsageError> {
    let config = RunConfig {
        reps: 1,
        warmup: 0,
        auto_size: false,
        workloads: vec![Workload::Noop],
        envs: env::resolve(&unique(&density_envs(args, host)), host)?,
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
    check_guest(&config, host)?;
    first_step_fits(&config)?;
    Ok(Request {
        config,
        out: args.out.clone().unwrap_or_else(|| default_out("density")),
    })
}

/// The environments a density sweep asks for: the given ones, else the default for root or
/// for an ordinary user.
fn density_envs(args: &DensityArgs, host: &HostInfo) -> Vec<crate::config::EnvRequest> {
    args.env.clone().unwrap_or_else(|| {
        let list = if host.root {
            crate::cli::DENSITY_ENVS
        } else {
            crate::cli::DENSITY_ENVS_ROOTLESS
        };
        crate::config::parse_env_list(list).expect("the default lists name known environments")
    })
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
