//! `vmbench run`: build the run configuration, prepare the environments, run the plan while
//! saving after every trial, then print the summary.

use super::Ending;
use crate::cli::{unique, Repetitions, RunArgs};
use crate::config::{Order, RunConfig};
use crate::env::{self, Environments, Shared};
use crate::results::{HostInfo, ImageRecord, Results, Trial, SCHEMA_VERSION};
use crate::UsageError;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// One run to carry out: what to measure and where the results go.
#[derive(Debug, Clone)]
pub struct Request {
    /// What to measure and how.
    pub config: RunConfig,
    /// The results file, rewritten after every trial.
    pub out: PathBuf,
    /// No progress lines.
    pub quiet: bool,
}

/// The run configuration the command line asks for, `vm` resolved for this host.
pub fn config(args: &RunArgs, host: &HostInfo) -> Result<RunConfig, UsageError> {
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
        ..RunConfig::default()
    };
    repetitions(&args.repetitions, &mut config);
    if args.quick {
        config.make_demo();
    }
    if config.runs_family(crate::ids::Family::Vm) {
        env::vm::check_inputs(&config, host).map_err(|why| UsageError(why.to_string()))?;
    }
    Ok(config)
}

/// The least repetitions of an adaptive plan.
pub const MIN_ADAPTIVE_REPS: u32 = 5;

/// Sets the plan's repetitions: fixed when `--reps` comes alone, adaptive otherwise.
pub fn repetitions(args: &Repetitions, config: &mut RunConfig) {
    config.equivalence_pct = args.equivalence;
    config.reps = args.reps.unwrap_or(MIN_ADAPTIVE_REPS);
    let adaptive = args.target_ci.is_some() || args.reps.is_none();
    config.target_ci_pct = adaptive.then(|| args.target_ci.unwrap_or(3.0));
    config.max_reps = adaptive.then(|| args.max_reps.max(config.reps));
    config.max_time_s = adaptive.then_some(args.max_time);
}

/// A default results path under `results/`, stamped with the time.
pub fn default_out(kind: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    PathBuf::from("results").join(format!("{kind}-{stamp}.json"))
}

/// `vmbench run`.
pub fn execute(args: &RunArgs) -> Result<Ending> {
    let host = super::host_facts();
    let request = Request {
        config: config(args, &host)?,
        out: args.out.clone().unwrap_or_else(|| default_out("run")),
        quiet: args.quiet,
    };
    let results = run(&request, host)?;
    let view = crate::report::model::RunView::build(
        "",
        &results,
        None,
        results.config.equivalence_pct / 100.0,
    );
    print!("{}", crate::report::terminal::render(&view));
    Ok(ending(&results, &request.out))
}

/// How a finished run ends, saying where its trials are when it did not succeed.
pub fn ending(results: &Results, out: &Path) -> Ending {
    let failed = results.trials.iter().filter(|t| t.error.is_some()).count();
    if !results.complete {
        eprintln!(
            "run interrupted: {} trial(s) kept in {}",
            results.trials.len(),
            out.display()
        );
        return Ending::Failed;
    }
    if failed > 0 {
        eprintln!("{failed} trial(s) failed; details in {}", out.display());
        return Ending::Failed;
    }
    Ending::Success
}

/// The folder that will hold the results file: `results/` may not exist yet (it is made
/// only once every check has passed), in which case the folder it will be made in.
fn results_folder(out: &Path) -> &Path {
    let folder = crate::atomic::folder_of(out);
    if folder == Path::new("results") && !folder.is_dir() {
        Path::new(".")
    } else {
        folder
    }
}

/// Checks what can be checked before any work: the results file and the data directory.
fn check_destinations(request: &Request) -> Result<(), UsageError> {
    let out = &request.out;
    let probe = results_folder(out).join(out.file_name().unwrap_or_default());
    crate::atomic::check_writable(&probe).map_err(|e| {
        UsageError(format!(
            "--out {}: {}",
            out.display(),
            crate::error_chain(&e)
        ))
    })?;
    let data = &request.config.data_dir;
    if !data.is_dir() {
        return Err(UsageError(format!(
            "--data-dir {} is not a directory: give an existing folder",
            data.display()
        )));
    }
    tempfile::Builder::new()
        .prefix(".vmbench-probe-")
        .tempdir_in(data)
        .map(drop)
        .map_err(|e| {
            let why = e.raw_os_error().map_or(e.kind().to_string(), |n| {
                nix::errno::Errno::from_raw(n).desc().into()
            });
            UsageError(format!(
                "--data-dir {}: cannot create a folder there ({why}): give a writable folder",
                data.display()
            ))
        })
}

/// Prepares the run's environments, or says why not; an interruption is not a usage error.
/// What preparing the environments gave: them, their statuses, and the records of the image
/// and snapshot they built.
struct Prepared {
    envs: Environments,
    statuses: Vec<crate::results::EnvStatus>,
    image: Option<ImageRecord>,
    snapshot: Option<crate::results::SnapshotRecord>,
}

fn prepare(
    config: &RunConfig,
    binary: &crate::results::BinaryInfo,
    work_dir: &Path,
    host: &mut HostInfo,
) -> Result<Prepared> {
    let cache = crate::cache::writable_cache_dir().map_err(UsageError)?;
    let mut shared = Shared::new(config, binary, cache, work_dir.to_path_buf(), host);
    match Environments::prepare(&mut shared) {
        Ok((envs, statuses)) => Ok(Prepared {
            envs,
            statuses,
            image: shared.image.take(),
            snapshot: shared.snapshot.take(),
        }),
        Err(_) if crate::interrupt::interrupted() => {
            anyhow::bail!("interrupted during set-up; everything it had made was removed")
        }
        Err(e) => Err(UsageError(crate::error_chain(&e)).into()),
    }
}

/// Runs `request` to its end (or an interruption) and returns the saved results.
pub fn run(request: &Request, mut host: HostInfo) -> Result<Results> {
    check_destinations(request)?;
    let config = &request.config;
    // Bad input is refused before anything is touched, cleaning included.
    let cache = crate::cache::writable_cache_dir().map_err(UsageError)?;
    let removed = crate::state::clean(false);
    if !removed.is_empty() {
        eprintln!(
            "vmbench: removed what earlier, killed runs left: {}",
            removed.join("; ")
        );
    }
    let registered = crate::state::Run::register(
        &request.out,
        &config.data_dir,
        config.cpus.as_deref(),
        config.allow_concurrent,
    )
    .map_err(|e| UsageError(crate::error_chain(&e)))?;
    let binary = crate::workload_bin::resolve(config.workload_bin.as_deref(), &cache)
        .map_err(|e| UsageError(crate::error_chain(&e)))?;
    let Prepared {
        envs,
        mut statuses,
        image,
        snapshot,
    } = prepare(config, &binary, &registered.info.work_dir, &mut host)?;
    statuses.extend(env::unavailable(&host, &config.envs));
    if let Some(cpus) = &config.cpus {
        crate::pinning::move_harness_off(cpus);
    }
    let now = crate::now_rfc3339();
    let mut results = Results {
        schema_version: SCHEMA_VERSION,
        vmbench_version: env!("CARGO_PKG_VERSION").into(),
        created_at: now.clone(),
        updated_at: now,
        complete: false,
        host,
        config: config.clone(),
        workload_binary: binary.clone(),
        environments: statuses,
        trials: Vec::new(),
        warmup_trials: Vec::new(),
        collector: None,
        image,
        sizes: Default::default(),
        note: None,
        skipped: Vec::new(),
        snapshot,
        fleet: None,
        density: None,
    };
    let folder = crate::atomic::folder_of(&request.out);
    std::fs::create_dir_all(folder).with_context(|| format!("create {}", folder.display()))?;
    results.save(&request.out)?;
    let mut progress = Progress::new(request.quiet);
    let others = || registered.others_alive();
    let ctx = crate::runner::Context {
        config,
        envs: &envs,
        binary: &binary.path,
        out: &request.out,
        work_dir: &registered.info.work_dir,
        others_alive: &others,
        announce: &|line| {
            if !request.quiet {
                eprintln!("vmbench: {line}");
            }
        },
    };
    if config.density.is_some() {
        let sweep = crate::density::Context {
            config,
            envs: &envs,
            binary: &binary.path,
            out: &request.out,
            work_dir: &registered.info.work_dir,
            announce: ctx.announce,
        };
        crate::density::run(&sweep, &mut results).map_err(|e| match e {
            crate::density::DensityError::Refused(why) => anyhow::Error::new(UsageError(why)),
            other => anyhow::Error::new(other),
        })?;
    } else {
        crate::runner::run(&ctx, &mut results, &mut |trial, done, total| {
            progress.trial(trial, done, total)
        })
        .with_context(|| format!("run into {}", request.out.display()))?;
    }
    progress.finish();
    results.complete = !crate::interrupt::interrupted();
    results.updated_at = crate::now_rfc3339();
    results.save(&request.out)?;
    Ok(results)
}

/// Progress lines: a bar with an ETA on a terminal, one line per trial otherwise.
struct Progress {
    quiet: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} eta {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Progress { quiet, bar }
    }

    fn trial(&mut self, trial: &Trial, done: usize, total: usize) {
        if self.quiet {
            return;
        }
        let what = match (&trial.error, trial.headline()) {
            (Some(e), _) => format!("FAILED: {e}"),
            (None, Some(m)) => format!("{:.4} {}", m.value, m.unit),
            (None, None) => "no result".into(),
        };
        let warm = if trial.warmup { " (warm-up)" } else { "" };
        let line = format!(
            "{} {} rep {}{warm}: {what}",
            trial.env, trial.workload, trial.rep
        );
        match &self.bar {
            Some(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                if trial.error.is_some() {
                    bar.println(&line);
                }
                bar.set_message(line);
            }
            None => eprintln!("[{done}/{total}] {line}"),
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
