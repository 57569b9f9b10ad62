//! One session, the library's orchestrator: configure → register → prepare the environments →
//! run the plan or sweep → save. Every command that measures (`run`, `compare`'s default suite,
//! `density`, a fleet pod) goes through [`run`]; the commands only parse and print.

pub mod configure;

use crate::env::{self, Environments, Shared};
use crate::results::{BinaryInfo, HostInfo, ImageRecord, Results, SnapshotRecord, SCHEMA_VERSION};
pub use crate::runner::Observer;
use crate::UsageError;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// One run to carry out: what to measure and where the results go.
#[derive(Debug, Clone)]
pub struct Request {
    /// What to measure and how.
    pub config: crate::config::RunConfig,
    /// The results file, rewritten after every trial.
    pub out: PathBuf,
}

/// How a session ended, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Everything asked for was done.
    Success,
    /// The run finished but some trials failed, or it was interrupted.
    Failed,
}

/// Host facts including the external tools (QEMU, runtimes) and the accelerator verdict.
pub fn host_facts() -> HostInfo {
    let layout = crate::env::container::cgroup::Layout::probe()
        .map(|l| l.describe())
        .unwrap_or_else(|e| e.to_string());
    let mut host = crate::host::probe(layout);
    // The accelerator first: runsc's platform depends on it.
    crate::env::vm::record_host(&mut host);
    crate::env::container::oci::record_runtimes(&mut host);
    host
}

/// How a finished run ends, and, when it did not succeed, the line saying where its trials are.
pub fn ending(results: &Results, out: &Path) -> (Ending, Option<String>) {
    let failed = results.trials.iter().filter(|t| t.error.is_some()).count();
    if !results.complete {
        let line = format!(
            "run interrupted: {} trial(s) kept in {}",
            results.trials.len(),
            out.display()
        );
        return (Ending::Failed, Some(line));
    }
    if failed > 0 {
        let line = format!("{failed} trial(s) failed; details in {}", out.display());
        return (Ending::Failed, Some(line));
    }
    (Ending::Success, None)
}

/// Runs `request` to its end (or an interruption) and returns the saved results.
pub fn run(request: &Request, host: HostInfo, observer: &dyn Observer) -> Result<Results> {
    let open = Open::register(request, observer)?;
    let mut prepared = open.prepare(host)?;
    if let Some(cpus) = &request.config.cpus {
        crate::pinning::move_harness_off(cpus);
    }
    let mut results = prepared.results(&request.config, &open.binary);
    let folder = crate::atomic::folder_of(&request.out);
    std::fs::create_dir_all(folder).with_context(|| format!("create {}", folder.display()))?;
    results.save(&request.out)?;
    open.execute(&prepared.envs, &mut results, observer)?;
    results.complete = !crate::interrupt::interrupted();
    results.updated_at = crate::now_rfc3339();
    results.save(&request.out)?;
    Ok(results)
}

/// A session registered on the host, its inputs checked: what every later step needs.
struct Open<'r> {
    request: &'r Request,
    registered: crate::state::Run,
    binary: BinaryInfo,
    cache: PathBuf,
}

/// What preparing the environments gave: them, their statuses, and the records of the image
/// and snapshot they built.
struct Prepared {
    envs: Environments,
    host: HostInfo,
    statuses: Vec<crate::results::EnvStatus>,
    image: Option<ImageRecord>,
    snapshot: Option<SnapshotRecord>,
}

impl<'r> Open<'r> {
    /// Checks the inputs and destinations, cleans what dead runs left, registers this run and resolves
    /// the workload binary: bad input is refused before anything is touched, cleaning included.
    fn register(request: &'r Request, observer: &dyn Observer) -> Result<Open<'r>> {
        check_inputs_and_destinations(request)?;
        let config = &request.config;
        let cache = crate::cache::writable_cache_dir().map_err(UsageError)?;
        let removed = crate::state::clean(false);
        if !removed.is_empty() {
            observer.warn(&format!(
                "removed what earlier, killed runs left: {}",
                removed.join("; ")
            ));
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
        Ok(Open {
            request,
            registered,
            binary,
            cache,
        })
    }

    /// Prepares the run's environments, or says why not; an interruption is not a usage error.
    fn prepare(&self, mut host: HostInfo) -> Result<Prepared> {
        let config = &self.request.config;
        let work_dir = self.registered.info.work_dir.clone();
        let mut shared = Shared::new(
            config,
            &self.binary,
            self.cache.clone(),
            work_dir,
            &mut host,
        );
        let (envs, mut statuses) = match Environments::prepare(&mut shared) {
            Ok(prepared) => prepared,
            Err(_) if crate::interrupt::interrupted() => {
                anyhow::bail!("interrupted during set-up; everything it had made was removed")
            }
            Err(e) => return Err(UsageError(crate::error_chain(&e)).into()),
        };
        let (image, snapshot) = (shared.image.take(), shared.snapshot.take());
        drop(shared);
        statuses.extend(env::unavailable(&host, &config.envs));
        Ok(Prepared {
            envs,
            host,
            statuses,
            image,
            snapshot,
        })
    }

    /// Runs the plan, or the density sweep, into `results`, saving as it goes.
    fn execute(
        &self,
        envs: &Environments,
        results: &mut Results,
        observer: &dyn Observer,
    ) -> Result<()> {
        let (config, out) = (&self.request.config, &self.request.out);
        let work_dir = &self.registered.info.work_dir;
        let announce = |line: &str| observer.announce(line);
        if config.density.is_some() {
            let sweep = crate::density::Context {
                config,
                envs,
                binary: &self.binary.path,
                out,
                work_dir,
                announce: &announce,
            };
            return crate::density::run(&sweep, results).map_err(|e| match e {
                crate::density::DensityError::Refused(why) => anyhow::Error::new(UsageError(why)),
                other => anyhow::Error::new(other),
            });
        }
        let others = || self.registered.others_alive();
        let ctx = crate::runner::Context {
            config,
            envs,
            binary: &self.binary.path,
            out,
            work_dir,
            others_alive: &others,
            observer,
        };
        crate::runner::run(&ctx, results).with_context(|| format!("run into {}", out.display()))
    }
}

impl Prepared {
    /// The results file's first state: the run described, no trial yet.
    fn results(&mut self, config: &crate::config::RunConfig, binary: &BinaryInfo) -> Results {
        let now = crate::now_rfc3339();
        Results {
            schema_version: SCHEMA_VERSION,
            vmbench_version: env!("CARGO_PKG_VERSION").into(),
            created_at: now.clone(),
            updated_at: now,
            complete: false,
            host: self.host.clone(),
            config: config.clone(),
            workload_binary: binary.clone(),
            environments: std::mem::take(&mut self.statuses),
            trials: Vec::new(),
            warmup_trials: Vec::new(),
            start_trials: Vec::new(),
            limit_trials: Vec::new(),
            collector: None,
            image: self.image.take(),
            sizes: Default::default(),
            note: None,
            skipped: Vec::new(),
            snapshot: self.snapshot.take(),
            fleet: None,
            density: None,
            adaptive: None,
        }
    }
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

/// Checks what can be checked before any work: the workload binary given, the results file
/// and the data directory.
fn check_inputs_and_destinations(request: &Request) -> Result<(), UsageError> {
    if let Some(path) = &request.config.workload_bin {
        crate::input::check(path)
            .map_err(|e| UsageError(format!("--workload-bin: {}", crate::error_chain(&e))))?;
    }
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
