//! Executes a plan: launches each instance, turns what the host saw into a trial record, and
//! saves the results file after every trial.

use crate::env::{self, EnvError, EnvKind, Outcome, Spec};
use crate::plan::{Plan, Step};
use crate::results::{Results, ResultsError, Trial};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vmbench_workload::{Better, Invocation, Metric, Size, Workload};

/// Settings shared by every instance of a run.
#[derive(Debug)]
pub struct RunSettings {
    /// Workload size.
    pub size: Size,
    /// CPUs to pin workloads to.
    pub cpus: Option<Vec<usize>>,
    /// Memory limit / VM RAM.
    pub memory_mib: u64,
    /// CPU quota for containers, in CPUs.
    pub cpu_quota: Option<f64>,
    /// Per-instance timeout.
    pub timeout: Duration,
    /// Host directory for file-io data (a fresh subdirectory per run).
    pub data_dir: PathBuf,
    /// Where the results are saved after each trial.
    pub out: PathBuf,
    /// Collector interval; `None` runs without it.
    pub sample_interval: Option<Duration>,
    /// Cold or warm trials.
    pub mode: Mode,
    /// Adaptive repetitions, when asked for.
    pub adaptive: Option<Adaptive>,
    /// Container settings, when a container environment runs.
    pub container: Option<crate::env::container::ContainerSettings>,
    /// VM settings, when a VM environment runs.
    pub vm: Option<crate::env::vm::VmSettings>,
}

/// Launches one instance in its environment.
pub fn launch(kind: EnvKind, spec: &Spec, settings: &RunSettings) -> Result<Outcome, EnvError> {
    match kind {
        EnvKind::Native => env::native::run(spec),
        EnvKind::Container | EnvKind::ContainerRunc | EnvKind::ContainerCrun => {
            match &settings.container {
                Some(c) if kind == EnvKind::Container => env::container::builtin::run(spec, c),
                Some(c) => env::container::oci::run(kind, spec, c),
                None => Err(EnvError::Unavailable {
                    env: kind,
                    reason: "no container settings were prepared".into(),
                }),
            }
        }
        EnvKind::VmKvm | EnvKind::VmTcg => match settings.vm.as_ref() {
            Some(vm) => env::vm::run(kind, spec, vm),
            None => Err(EnvError::Unavailable {
                env: kind,
                reason: "no VM settings were prepared".into(),
            }),
        },
    }
}

/// Cold or warm trials: different experiments, labelled in the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A new instance per repetition (startup included in every trial).
    Cold,
    /// One instance per environment runs every repetition (steady-state throughput).
    Warm,
}

impl Mode {
    /// Parses `cold` or `warm`.
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "cold" => Ok(Mode::Cold),
            "warm" => Ok(Mode::Warm),
            _ => Err(format!("unknown mode '{s}': expected cold or warm")),
        }
    }

    /// Label stored in the results.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Cold => "cold: a new instance per repetition",
            Mode::Warm => "warm: one instance per environment runs every repetition",
        }
    }
}

/// Adaptive stopping: more repetitions until every env/native ratio is known well enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptive {
    /// Target half-width of each ratio's 95% CI, percent of the ratio.
    pub target_pct: f64,
    /// Never more measured repetitions than this.
    pub max_reps: u32,
    /// Stop adding repetitions after this long (the whole run).
    pub max_time: Duration,
}

/// Whether every environment's ratio to native (or, without native, its median) for
/// `workload` has a 95% CI half-width under `target_pct`.
pub fn converged(results: &Results, workload: &str, envs: &[EnvKind], target_pct: f64) -> bool {
    let values = |env: EnvKind| -> Vec<f64> {
        results
            .measured()
            .filter(|t| t.workload == workload && t.env == env.name() && t.error.is_none())
            .filter_map(|t| t.headline().map(|m| m.value))
            .collect()
    };
    let native = values(EnvKind::Native);
    envs.iter().all(|&env| {
        let xs = values(env);
        let half = if env != EnvKind::Native && !native.is_empty() {
            crate::stats::ratio_of_medians(&xs, &native)
                .and_then(|r| Some(r.ci?.relative_half_width(r.value)))
        } else if envs.len() == 1 || !envs.contains(&EnvKind::Native) {
            crate::stats::Summary::of(&xs)
                .and_then(|s| Some(s.median_ci?.relative_half_width(s.median)))
        } else {
            Some(0.0)
        };
        half.is_some_and(|h| h * 100.0 <= target_pct)
    })
}

/// Runs `plan`, appending trials to `results` and saving after each one. `on_trial` sees
/// each trial as it is recorded (progress display) with the count done and the expected total.
/// Stops early, keeping what finished, when the user interrupts.
pub fn run(
    plan: &Plan,
    settings: &RunSettings,
    binary: &Path,
    results: &mut Results,
    on_trial: &mut dyn FnMut(&Step, &Trial, usize, usize),
) -> Result<(), ResultsError> {
    let data = tempfile::Builder::new()
        .prefix("vmbench-data-")
        .tempdir_in(&settings.data_dir)
        .map_err(|source| ResultsError::Write {
            path: settings.data_dir.clone(),
            source,
        })?;
    let started = std::time::Instant::now();
    let per_workload = (plan.warmup + plan.reps) as usize * plan.envs.len();
    let mut total = per_workload * plan.workloads.len();
    let mut done = 0usize;
    let mut cost = crate::collector::Cost::default();
    let mut execute = |step: Step,
                       runs: u32,
                       results: &mut Results,
                       done: &mut usize,
                       total: usize|
     -> Result<(), ResultsError> {
        let spec = Spec {
            binary,
            invocation: Invocation {
                workload: step.workload,
                size: settings.size,
                runs,
                data_dir: data.path().to_path_buf(),
                fault: None,
                identity: true,
            },
            cpus: settings.cpus.as_deref(),
            memory_mib: settings.memory_mib,
            cpu_quota: settings.cpu_quota,
            timeout: settings.timeout,
            data_dir: data.path(),
            sample_interval: settings.sample_interval,
        };
        let outcome = launch(step.env, &spec, settings);
        if let Some(c) = outcome.as_ref().ok().and_then(|o| o.collector_cost) {
            cost.add(c);
            results.collector = Some(crate::results::CollectorInfo {
                interval_ms: settings
                    .sample_interval
                    .map_or(0.0, |d| d.as_secs_f64() * 1e3),
                cpu_ns: cost.cpu_ns,
                wall_ns: cost.wall_ns,
                samples: cost.samples,
                fraction_of_core: cost.fraction_of_core(),
            });
        }
        let sha = results.workload_binary.sha256.clone();
        for trial in to_trials(&step, outcome, &sha, settings.timeout, plan.warmup) {
            *done += 1;
            on_trial(&step, &trial, *done, total);
            results.record(trial);
        }
        results.updated_at = crate::now_rfc3339();
        results.save(&settings.out)
    };
    for (index, &workload) in plan.workloads.iter().enumerate() {
        match settings.mode {
            Mode::Warm => {
                for &env in &plan.envs {
                    if crate::interrupt::interrupted() {
                        return Ok(());
                    }
                    let step = Step {
                        workload,
                        env,
                        rep: 0,
                        warmup: plan.warmup > 0,
                    };
                    execute(step, plan.warmup + plan.reps, results, &mut done, total)?;
                }
            }
            Mode::Cold => {
                let mut rep = 0;
                loop {
                    for env in plan.env_order(index, rep) {
                        if crate::interrupt::interrupted() {
                            return Ok(());
                        }
                        let step = Step {
                            workload,
                            env,
                            rep,
                            warmup: rep < plan.warmup,
                        };
                        execute(step, 1, results, &mut done, total)?;
                    }
                    rep += 1;
                    let measured = rep.saturating_sub(plan.warmup);
                    if measured < plan.reps {
                        continue;
                    }
                    let Some(adaptive) = settings.adaptive else {
                        break;
                    };
                    if converged(results, workload.name(), &plan.envs, adaptive.target_pct)
                        || measured >= adaptive.max_reps
                        || started.elapsed() >= adaptive.max_time
                    {
                        break;
                    }
                    total += plan.envs.len();
                }
            }
        }
    }
    Ok(())
}

/// The trials of one instance: one per `result` it sent (several in warm mode). The first
/// carries the startup and the samples; `warmup` results come first and are flagged.
pub fn to_trials(
    step: &Step,
    outcome: Result<Outcome, EnvError>,
    host_sha256: &str,
    timeout: Duration,
    warmup: u32,
) -> Vec<Trial> {
    let results = outcome
        .as_ref()
        .map(|o| o.observed.results.clone())
        .unwrap_or_default();
    let first = to_trial(step, outcome, host_sha256, timeout);
    if results.len() <= 1 {
        return vec![first];
    }
    let mut trials = Vec::with_capacity(results.len());
    for (i, result) in results.iter().enumerate() {
        let mut t = if i == 0 {
            first.clone()
        } else {
            let mut t = first.clone();
            t.startup_ns = None;
            t.samples = Vec::new();
            t.summary = None;
            t.metrics = result.metrics.clone();
            t.rusage = Some(result.rusage.clone());
            t
        };
        t.rep = step.rep + i as u32;
        t.warmup = (i as u32) < warmup;
        trials.push(t);
    }
    trials
}

/// Turns what the host saw of an instance into the trial record, naming every failure.
pub fn to_trial(
    step: &Step,
    outcome: Result<Outcome, EnvError>,
    host_sha256: &str,
    timeout: Duration,
) -> Trial {
    let mut trial = Trial {
        env: step.env.name().to_string(),
        workload: step.workload.name().to_string(),
        rep: step.rep,
        warmup: step.warmup,
        startup_ns: None,
        lifetime_ns: None,
        teardown_ns: None,
        phases: Default::default(),
        metrics: Vec::new(),
        guest_view: None,
        rusage: None,
        detail: None,
        io_path: None,
        samples: Vec::new(),
        summary: None,
        cgroup: None,
        host_rusage: None,
        exit: Default::default(),
        error: None,
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            trial.error = Some(crate::error_chain(&e));
            return trial;
        }
    };
    let seen = &outcome.observed;
    trial.exit = outcome.exit.clone();
    trial.phases = outcome.phases.clone();
    trial.samples = outcome.samples.clone();
    trial.summary = crate::collector::summarise(&outcome.samples);
    trial.io_path = outcome.io_path.clone();
    trial.cgroup = outcome.cgroup.clone();
    trial.host_rusage = outcome.host_rusage.clone();
    trial.lifetime_ns = outcome.lifetime.map(|d| d.as_nanos() as u64);
    if let Some(first) = seen.first_byte {
        trial
            .phases
            .insert("first_output".into(), first.as_nanos() as u64);
    }
    if let Some((at, view)) = &seen.ready {
        trial.startup_ns = Some(at.as_nanos() as u64);
        let mut view = view.clone();
        view.sha256 = seen.sha256.clone().unwrap_or_default();
        if let Some((processes, root)) = &seen.identity_view {
            view.processes_visible = *processes;
            view.root_entries = root.clone();
        }
        trial.guest_view = Some(view);
    }
    if let (Some(done), Some(life)) = (seen.done, outcome.lifetime) {
        trial.teardown_ns = Some(life.saturating_sub(done).as_nanos() as u64);
    }
    if let Some(first) = seen.results.first() {
        trial.metrics = first.metrics.clone();
        trial.rusage = Some(first.rusage.clone());
        trial.detail = first.detail.clone();
    }
    if step.workload == Workload::Noop {
        if let Some(ns) = trial.startup_ns {
            let spec = Workload::Noop.headline();
            trial.metrics.insert(
                0,
                Metric {
                    name: spec.name.into(),
                    value: ns as f64 / 1e6,
                    unit: spec.unit.into(),
                    better: Better::Lower,
                },
            );
        }
    }

    let mut problems: Vec<String> = Vec::new();
    if seen.interrupted {
        problems.push("interrupted by the user".into());
    }
    if seen.timed_out {
        problems.push(format!(
            "timed out after {:.0} s and was killed",
            timeout.as_secs_f64()
        ));
    }
    if trial.exit.oom {
        problems.push("killed by the OOM killer (memory limit reached)".into());
    }
    problems.extend(seen.errors.iter().cloned());
    if seen.ready.is_none() && !seen.timed_out && !seen.interrupted {
        problems.push("instance ended without sending ready".into());
    }
    if seen.ready.is_some() && seen.done.is_none() && problems.is_empty() {
        problems.push("instance ended before sending done".into());
    }
    if let Some(sig) = trial
        .exit
        .signal
        .filter(|_| !seen.timed_out && !seen.interrupted)
    {
        problems.push(format!("killed by signal {sig}"));
    }
    if let Some(code) = trial.exit.code.filter(|c| *c != 0) {
        if seen.errors.is_empty() {
            problems.push(format!("exited with status {code}"));
        }
    }
    if let Some(sha) = &seen.sha256 {
        if sha != host_sha256 {
            problems.push(format!(
                "ran different bytes: sha256 {sha} differs from the host's {host_sha256}"
            ));
        }
    }
    if !problems.is_empty() {
        let tail = seen.noise_tail(3);
        if !tail.is_empty() && seen.ready.is_none() {
            problems.push(format!("last output: {tail}"));
        }
        trial.error = Some(problems.join("; "));
    }
    trial
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::instance::{Observed, RunResult};
    use vmbench_workload::GuestView;

    fn step(workload: Workload) -> Step {
        Step {
            workload,
            env: EnvKind::Native,
            rep: 0,
            warmup: false,
        }
    }

    #[test]
    fn a_clean_noop_gets_startup_as_its_headline() {
        let observed = Observed {
            ready: Some((Duration::from_micros(1500), GuestView::default())),
            sha256: Some("aa".into()),
            results: vec![RunResult {
                at: Duration::from_millis(2),
                metrics: vec![],
                elapsed_ns: 1,
                rusage: Default::default(),
                detail: None,
            }],
            done: Some(Duration::from_millis(2)),
            ..Observed::default()
        };
        let outcome = Outcome {
            observed,
            exit: crate::results::ExitInfo {
                code: Some(0),
                ..Default::default()
            },
            lifetime: Some(Duration::from_millis(3)),
            ..Outcome::default()
        };
        let t = to_trial(
            &step(Workload::Noop),
            Ok(outcome),
            "aa",
            Duration::from_secs(1),
        );
        assert_eq!(t.error, None);
        assert_eq!(t.startup_ns, Some(1_500_000));
        assert_eq!(t.metrics[0].name, "startup");
        assert!((t.metrics[0].value - 1.5).abs() < 1e-9);
        assert_eq!(t.teardown_ns, Some(1_000_000));
        assert_eq!(t.guest_view.unwrap().sha256, "aa");
    }

    #[test]
    fn failures_are_named() {
        let timed_out = Outcome {
            observed: Observed {
                timed_out: true,
                noise: ["booting".to_string()].into(),
                ..Observed::default()
            },
            exit: crate::results::ExitInfo {
                signal: Some(9),
                timed_out: true,
                ..Default::default()
            },
            ..Outcome::default()
        };
        let t = to_trial(
            &step(Workload::CpuInt),
            Ok(timed_out),
            "aa",
            Duration::from_secs(3),
        );
        let err = t.error.unwrap();
        assert!(
            err.contains("timed out after 3 s") && err.contains("last output: booting"),
            "{err}"
        );

        let wrong_bytes = Outcome {
            observed: Observed {
                ready: Some((Duration::from_millis(1), GuestView::default())),
                sha256: Some("bb".into()),
                done: Some(Duration::from_millis(1)),
                ..Observed::default()
            },
            ..Outcome::default()
        };
        let t = to_trial(
            &step(Workload::CpuInt),
            Ok(wrong_bytes),
            "aa",
            Duration::from_secs(3),
        );
        assert!(t.error.unwrap().contains("ran different bytes"));

        let crashed = Outcome {
            observed: Observed {
                ready: Some((Duration::from_millis(1), GuestView::default())),
                ..Observed::default()
            },
            exit: crate::results::ExitInfo {
                signal: Some(6),
                ..Default::default()
            },
            ..Outcome::default()
        };
        let t = to_trial(
            &step(Workload::CpuInt),
            Ok(crashed),
            "aa",
            Duration::from_secs(3),
        );
        let err = t.error.unwrap();
        assert!(
            err.contains("signal 6") && err.contains("before sending done"),
            "{err}"
        );
    }
}
