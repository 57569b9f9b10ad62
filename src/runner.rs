//! Executes a plan through the [`Environment`](crate::env::Environment) trait: launches each
//! instance the schedule asks for, turns what the host saw into trial records, and saves the
//! results file after every trial.

use crate::config::{Mode, RunConfig};
use crate::env::{EnvError, Environments, Outcome, Spec};
use crate::ids::EnvKind;
use crate::plan::{Costs, Minimum, Plan, Schedule, Step};
use crate::results::{CollectorInfo, Exceeded, Results, ResultsError, StartSpacing, Trial};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vmbench_workload::{Better, Invocation, Metric, Size, Workload};

/// The longest a trial waits for the host to settle after the previous instance.
const SETTLE_LIMIT: Duration = Duration::from_millis(200);

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The per-run data directory could not be created.
    #[error("cannot create a data directory in {path}: choose another with --data-dir")]
    DataDir {
        /// The folder asked for.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The results could not be saved.
    #[error(transparent)]
    Save(#[from] ResultsError),
}

/// Where a run's instances run and where its results go.
pub struct Context<'a> {
    /// What to run.
    pub config: &'a RunConfig,
    /// The prepared environments.
    pub envs: &'a Environments,
    /// The workload binary.
    pub binary: &'a Path,
    /// The results file, saved after every trial.
    pub out: &'a Path,
    /// The run's own folder for temporary files.
    pub work_dir: &'a Path,
    /// How many other vmbench runs are alive now.
    pub others_alive: &'a dyn Fn() -> usize,
    /// Told of the run's choices and of each trial.
    pub observer: &'a dyn Observer,
}

/// What a run tells its caller as it goes.
pub trait Observer {
    /// A line about the run's choices (a workload's size, a pair it skips).
    fn announce(&self, line: &str);
    /// A line the user must see even in a quiet run.
    fn warn(&self, line: &str);
    /// A trial was recorded: `done` of an expected `total`.
    fn trial(&self, trial: &Trial, done: usize, total: usize);
    /// After a measured trial of an adaptive plan: how many pairs are decided, of how many.
    fn decided(&self, _decided: usize, _pairs: usize) {}
}

/// An observer that tells no one: a run in a test or a bench.
pub struct Silent;

impl Observer for Silent {
    fn announce(&self, _line: &str) {}
    fn warn(&self, _line: &str) {}
    fn trial(&self, _trial: &Trial, _done: usize, _total: usize) {}
}

/// Runs the plan of `ctx.config`, appending trials to `results` and saving them after each
/// one; the observer sees each trial as it is recorded, with the count done and the expected
/// total. Stops early, keeping what finished, when the user interrupts.
///
/// Every workload's warm-ups come first (with sizing, the first round is the probe that picks
/// the size); then the minimum rounds, planned against the time left from what the warm-ups
/// cost; then, for an adaptive plan, extra rounds for the pairs not decided yet.
pub fn run(ctx: &Context, results: &mut Results) -> Result<(), RunError> {
    let data = tempfile::Builder::new()
        .prefix("data-")
        .tempdir_in(ctx.work_dir)
        .map_err(|source| RunError::DataDir {
            path: ctx.work_dir.to_path_buf(),
            source,
        })?;
    let plan = Plan::from_config(ctx.config);
    let started = Instant::now();
    let mut launcher = Launcher {
        ctx,
        data: data.path(),
        cost: crate::collector::Cost::default(),
        done: 0,
        before: 0,
        expected: plan.workloads.len() * plan.envs.len() * plan.reps as usize,
    };
    launcher.warm_up(results, &plan)?;
    let minimum = launcher.minimum(results, &plan, started);
    let mut schedule = Schedule::new(&plan, minimum, Costs::predict(results));
    while let Some(step) = schedule.next(results, started.elapsed()) {
        if crate::interrupt::interrupted() {
            break;
        }
        if skipped(ctx, results, &step) {
            continue;
        }
        let size = size_of(&mut launcher, results, step.workload)?;
        let trials = launcher.launch(results, &step, size);
        launcher.record(results, trials, schedule.total());
        if plan.adaptive.is_some() {
            let (decided, pairs) = schedule.decided(results);
            ctx.observer.decided(decided, pairs);
        }
        results.updated_at = crate::now_rfc3339();
        results.save(ctx.out)?;
    }
    launcher.spaced_starts(results, &plan, schedule.total())?;
    launcher.exceed_limits(results, &plan)?;
    if let Some(adaptive) = plan.adaptive.filter(|_| plan.mode == Mode::Cold) {
        let left = adaptive.max_time.saturating_sub(started.elapsed());
        let minimum = schedule.minimum();
        results.adaptive = Some(crate::results::AdaptiveRecord {
            budget_s: adaptive.max_time.as_secs_f64(),
            minimum_predicted_s: minimum.predicted.as_secs_f64(),
            shrunk: minimum.shrunk.clone(),
            stopped: match schedule.stopped() {
                Some(stop) => stop.words().to_string(),
                None => "interrupted".to_string(),
            },
            pairs: crate::plan::schedule::pairs_record(&plan, &schedule, results, left),
        });
        results.save(ctx.out)?;
    }
    Ok(())
}

/// Whether the step's environment cannot run its workload; the first time, the reason is
/// announced and kept in the results.
fn skipped(ctx: &Context, results: &mut Results, step: &Step) -> bool {
    let Some(why) = ctx
        .envs
        .get(step.env)
        .and_then(|e| e.supports(step.workload).err())
    else {
        return false;
    };
    let pair = |(e, w, _): &(EnvKind, Workload, String)| *e == step.env && *w == step.workload;
    if !results.skipped.iter().any(pair) {
        ctx.observer
            .announce(&format!("{} skips {}: {why}", step.env, step.workload));
        results.skipped.push((step.env, step.workload, why));
    }
    true
}

/// Launches instances and turns them into trials, keeping the collector's running cost and
/// the count of trials recorded.
struct Launcher<'a> {
    ctx: &'a Context<'a>,
    data: &'a Path,
    cost: crate::collector::Cost,
    /// Trials recorded so far.
    done: usize,
    /// Trials recorded before the measured ones (warm-ups and probes).
    before: usize,
    /// Measured trials expected while the warm-ups and probes run (before the minimum is
    /// planned).
    expected: usize,
}

/// How one launch differs from a measured round's.
#[derive(Debug, Clone, Default)]
struct Apart {
    /// Launch at once, without waiting for the host to settle: a start back to back with the
    /// one before.
    at_once: bool,
    /// A fault carried out instead of the workload.
    fault: Option<vmbench_workload::invocation::Fault>,
}

impl Launcher<'_> {
    /// Records `trials`, telling the observer of each against `measured` expected measured
    /// trials after the warm-ups.
    fn record(&mut self, results: &mut Results, trials: Vec<Trial>, measured: usize) {
        for trial in trials {
            self.done += 1;
            let total = (self.before + measured).max(self.done);
            self.ctx.observer.trial(&trial, self.done, total);
            results.record(trial);
        }
    }

    /// Every workload's warm-up rounds, each workload's size chosen after its probe (the
    /// first round at the small size), then the size of every workload not yet sized.
    fn warm_up(&mut self, results: &mut Results, plan: &Plan) -> Result<(), RunError> {
        let config = self.ctx.config;
        let warm_ups = plan.warm_ups();
        // Without a warm-up round to probe it, each sized workload is probed once per
        // environment: counted from the start.
        let probes = if crate::sizing::enabled(config) && warm_ups.is_empty() {
            plan.workloads.len() * plan.envs.len()
        } else {
            0
        };
        self.before = warm_ups.len() + probes;
        for step in warm_ups {
            if crate::interrupt::interrupted() {
                return Ok(());
            }
            if skipped(self.ctx, results, &step) {
                continue;
            }
            let size = if crate::sizing::enabled(config) && step.rep == 0 {
                Size::Small
            } else {
                size_of(self, results, step.workload)?
            };
            let trials = self.launch(results, &step, size);
            self.record(results, trials, self.expected);
            results.save(self.ctx.out)?;
        }
        for &w in &plan.workloads {
            if crate::interrupt::interrupted() {
                return Ok(());
            }
            size_of(self, results, w)?;
        }
        self.before = self.done;
        Ok(())
    }

    /// The minimum rounds: planned against the time the budget has left from the warm-ups'
    /// costs (an adaptive cold plan), else the plan's repetitions.
    fn minimum(&self, results: &mut Results, plan: &Plan, started: Instant) -> Minimum {
        let Some(adaptive) = plan.adaptive.filter(|_| plan.mode == Mode::Cold) else {
            return Minimum::fixed(plan);
        };
        let envs = self.ctx.envs;
        let runs = |w: Workload, e: EnvKind| envs.get(e).is_some_and(|env| env.supports(w).is_ok());
        let left = adaptive.max_time.saturating_sub(started.elapsed());
        let minimum = Minimum::plan(plan, &Costs::predict(results), results, left, &runs);
        for (&w, &size) in &minimum.lowered {
            if let Some(choice) = results.sizes.get_mut(&w) {
                choice.fitted_from = Some(choice.size);
                choice.size = size;
                self.ctx
                    .observer
                    .announce(&format!("size of {w}: {}", choice.explain()));
            }
        }
        if let Some(why) = &minimum.shrunk {
            self.ctx
                .observer
                .announce(&format!("minimum rounds shrunk to fit: {why}"));
        }
        for (env, w, why) in &minimum.left_out {
            self.ctx
                .observer
                .announce(&format!("{env} {w} left out: {why}"));
        }
        minimum
    }

    /// Container starts apart from the rounds (a cold plan with noop): for each container
    /// environment, `spaced_starts` noop starts each after a quiet spell, then as many back to
    /// back. In the rounds a container's start follows other environments' work; these show
    /// what its start costs on a quiet host and in a burst, where the kernel's cgroup
    /// migration lock stays on its fast path. `measured` is the rounds' trial count.
    fn spaced_starts(
        &mut self,
        results: &mut Results,
        plan: &Plan,
        measured: usize,
    ) -> Result<(), RunError> {
        let n = self.ctx.config.spaced_starts;
        if n == 0 || plan.mode != Mode::Cold || !plan.workloads.contains(&Workload::Noop) {
            return Ok(());
        }
        let size = size_of(self, results, Workload::Noop)?;
        let envs: Vec<EnvKind> = plan
            .envs
            .iter()
            .copied()
            .filter(|e| e.family() == crate::ids::Family::Container)
            .collect();
        let total = measured + envs.len() * 2 * n as usize;
        'envs: for env in envs {
            for spacing in [StartSpacing::Isolated, StartSpacing::BackToBack] {
                for rep in 0..n {
                    let step = Step {
                        workload: Workload::Noop,
                        env,
                        rep,
                        runs: 1,
                        warmup: 0,
                    };
                    if crate::interrupt::interrupted() {
                        return Ok(());
                    }
                    if skipped(self.ctx, results, &step) {
                        continue 'envs;
                    }
                    let isolated = spacing == StartSpacing::Isolated;
                    if isolated {
                        std::thread::sleep(crate::results::QUIET_SPELL);
                    }
                    let how = Apart {
                        at_once: !isolated,
                        fault: None,
                    };
                    let mut trials = self.launch_apart(results, &step, size, how);
                    for t in &mut trials {
                        t.spacing = Some(spacing);
                    }
                    self.record(results, trials, total);
                    // Saved before a quiet spell, after a burst: a save of a long run's
                    // results between two starts would itself be the quiet spell.
                    if isolated {
                        results.save(self.ctx.out)?;
                    }
                }
                results.save(self.ctx.out)?;
            }
        }
        Ok(())
    }

    /// Each container environment with limits, run once past its memory limit (it touches
    /// twice `--memory`) and once past its task limit (it forks 64 past `pids.max`): the
    /// trials show whether the cgroup held, and are kept apart from every statistic.
    fn exceed_limits(&mut self, results: &mut Results, plan: &Plan) -> Result<(), RunError> {
        use vmbench_workload::invocation::Fault;
        if !self.ctx.config.exceed_limits || plan.mode != Mode::Cold {
            return Ok(());
        }
        let root = nix::unistd::geteuid().is_root();
        let envs: Vec<EnvKind> = plan
            .envs
            .iter()
            .copied()
            .filter(|e| e.family() == crate::ids::Family::Container)
            // gVisor's own kernel answers first (the fault matrix covers it); an ordinary
            // user's containers (rootless, Podman's rootless mode) may have no limits to exceed.
            .filter(|e| *e != EnvKind::ContainerGvisor)
            .filter(|e| root || !matches!(e, EnvKind::ContainerRootless | EnvKind::ContainerPodman))
            .collect();
        let pids = crate::env::container::DEFAULT_PIDS_MAX + 64;
        let faults = [
            (
                Exceeded::Memory,
                Fault::Alloc(self.ctx.config.memory_mib * 2),
            ),
            (Exceeded::Pids, Fault::Forks(pids)),
        ];
        for env in envs {
            for (exceeded, fault) in faults.clone() {
                if crate::interrupt::interrupted() {
                    return Ok(());
                }
                let step = Step {
                    workload: Workload::Noop,
                    env,
                    rep: 0,
                    runs: 1,
                    warmup: 0,
                };
                let how = Apart {
                    at_once: false,
                    fault: Some(fault),
                };
                let trials = self.launch_apart(results, &step, Size::Small, how);
                for mut t in trials {
                    t.exceeded = Some(exceeded);
                    let message = match exceeded {
                        Exceeded::Memory => format!("{env}: past its memory limit"),
                        Exceeded::Pids => format!("{env}: past its task limit"),
                    };
                    let held = t.contained();
                    self.ctx.observer.announce(&format!(
                        "{message}: {}",
                        if held { "held" } else { "NOT held" }
                    ));
                    results.record(t);
                }
                results.save(self.ctx.out)?;
            }
        }
        Ok(())
    }

    /// Runs one step at `size`: its trials, with the collector's cost recorded in `results`.
    fn launch(&mut self, results: &mut Results, step: &Step, size: Size) -> Vec<Trial> {
        self.launch_apart(results, step, size, Apart::default())
    }

    /// Runs one step at `size` the way `apart` says (at once, or carrying out a fault).
    fn launch_apart(
        &mut self,
        results: &mut Results,
        step: &Step,
        size: Size,
        apart: Apart,
    ) -> Vec<Trial> {
        let config = self.ctx.config;
        let spec = Spec {
            binary: self.ctx.binary,
            invocation: Invocation {
                workload: step.workload,
                size,
                runs: step.runs,
                data_dir: self.data.to_path_buf(),
                fault: apart.fault,
                identity: true,
                bind: vmbench_workload::default_bind(),
                watch_stdin: true,
            },
            cpus: config.cpus.as_deref(),
            memory_mib: config.memory_mib,
            cpu_quota: config.cpu_quota,
            timeout: config.timeout(),
            data_dir: self.data,
            sample_interval: config.sample_interval(),
            page_cache: config.page_cache,
            net: None,
        };
        let others = (self.ctx.others_alive)();
        if !apart.at_once {
            crate::noise::settle(SETTLE_LIMIT);
        }
        let (mut outcome, net) = match self.ctx.envs.get(step.env) {
            Some(env) if step.workload.crosses_network() => {
                let mtu = crate::net::MtuChoice::of_rep(&config.mtus, step.rep);
                launch_wired(env, spec.clone(), mtu)
            }
            Some(env) => (env.launch(&spec), None),
            None => (Err(EnvError::NotPrepared(step.env)), None),
        };
        if let Some(noise) = outcome.as_mut().ok().and_then(|o| o.noise.as_mut()) {
            crate::noise::add_concurrent_runs(noise, others);
        }
        if let Some(c) = outcome.as_ref().ok().and_then(|o| o.collector_cost) {
            self.cost.add(c);
            results.collector = Some(CollectorInfo {
                interval_ms: config.sample_interval_ms.unwrap_or(0.0),
                cpu_ns: self.cost.cpu_ns,
                wall_ns: self.cost.wall_ns,
                samples: self.cost.samples,
                fraction_of_core: self.cost.fraction_of_core(),
            });
        }
        let sized = crate::sizing::enabled(config).then_some(size);
        let sha = results.workload_binary.sha256.clone();
        let mut trials = to_trials(step, outcome, &sha, spec.timeout);
        for t in &mut trials {
            t.size = sized;
            t.net = net.clone();
        }
        trials
    }
}

/// Launches an instance of a network workload: wires its paths, starts the host's peer before
/// it, stops the peer after it, puts the peer's figures in its results, and unwires.
pub fn launch_wired(
    env: &dyn crate::env::Environment,
    spec: Spec,
    mtu: crate::net::MtuChoice,
) -> (Result<Outcome, EnvError>, Option<crate::results::NetRecord>) {
    let kind = env.kind();
    let wiring = match crate::net::Wiring::for_env(kind, mtu) {
        Ok(Some(w)) => w,
        Ok(None) => {
            let why = format!("vmbench does not wire a network path for {kind}");
            return (Err(EnvError::Refused(why)), None);
        }
        Err(e) => return (Err(EnvError::Wire(e)), None),
    };
    let mut invocation = spec.invocation.clone();
    invocation.bind = wiring.bind.clone();
    let spec = Spec {
        invocation,
        net: Some(&wiring),
        ..spec
    };
    let record = wiring.record(crate::net::peer::cpus(), spec.cpus);
    let load = crate::net::peer::Load {
        workload: spec.invocation.workload,
        size: spec.invocation.size,
        runs: spec.invocation.runs,
        instance_cpus: spec.cpus.map(<[usize]>::to_vec),
    };
    let peer = crate::net::peer::Peer::start(load, wiring.paths.clone(), spec.timeout);
    let mut outcome = env.launch(&spec);
    let (runs, stopped) = peer.finish();
    if let Ok(o) = outcome.as_mut() {
        // Runs the peer finished keep their figures, even when a later one failed.
        for (result, metrics) in o.observed.results.iter_mut().zip(runs) {
            let own = std::mem::take(&mut result.metrics);
            result.metrics = metrics.into_iter().chain(own).collect();
        }
        if let Some(e) = stopped.filter(|_| !o.observed.interrupted && !o.observed.timed_out) {
            o.observed
                .errors
                .push(format!("the host's network peer: {e}"));
        }
    }
    drop(spec);
    drop(wiring);
    (outcome, Some(record))
}

/// The size `workload` runs at. When the run sizes its workloads and none is chosen yet, it
/// is chosen now from the probes at the small size: the warm-up round's, or, without one, a
/// probe instance per environment run here (kept as warm-ups, each passed to `probed`).
fn size_of(
    launcher: &mut Launcher,
    results: &mut Results,
    workload: Workload,
) -> Result<Size, RunError> {
    let config = launcher.ctx.config;
    if !crate::sizing::enabled(config) {
        return Ok(config.size);
    }
    if let Some(choice) = results.sizes.get(&workload) {
        return Ok(choice.size);
    }
    let is_probe = |t: &Trial| t.workload == workload && t.warmup && t.size == Some(Size::Small);
    if !results.warmup_trials.iter().any(is_probe) {
        for &env in &config.envs {
            let runs = launcher
                .ctx
                .envs
                .get(env)
                .is_some_and(|e| e.supports(workload).is_ok());
            if crate::interrupt::interrupted() || !runs {
                continue;
            }
            let step = Step {
                workload,
                env,
                rep: 0,
                runs: 1,
                warmup: 1,
            };
            let mut trials = launcher.launch(results, &step, Size::Small);
            for t in &mut trials {
                t.probe = true;
            }
            launcher.record(results, trials, launcher.expected);
            results.save(launcher.ctx.out)?;
        }
    }
    let probes: Vec<&Trial> = results
        .warmup_trials
        .iter()
        .filter(|t| is_probe(t))
        .collect();
    let choice = crate::sizing::choose(config.size, crate::sizing::trial_limit(config), &probes);
    launcher
        .ctx
        .observer
        .announce(&format!("size of {workload}: {}", choice.explain()));
    let size = choice.size;
    results.sizes.insert(workload, choice);
    Ok(size)
}

/// The trials of one instance: one per `result` it sent (several in warm mode). The first
/// carries the startup and the samples; `warmup` results come first and are flagged.
pub fn to_trials(
    step: &Step,
    outcome: Result<Outcome, EnvError>,
    host_sha256: &str,
    timeout: Duration,
) -> Vec<Trial> {
    let (results, interrupted) = outcome.as_ref().map_or((Vec::new(), false), |o| {
        (o.observed.results.clone(), o.observed.interrupted)
    });
    let first = to_trial(step, outcome, host_sha256, timeout);
    if step.runs <= 1 || results.is_empty() {
        return vec![first];
    }
    // Warm: every run that finished is a measurement, whatever happened to the instance after.
    let problem = first.error.clone();
    let mut trials: Vec<Trial> = results
        .iter()
        .enumerate()
        .map(|(i, result)| {
            let mut t = first.clone();
            if i > 0 {
                t.startup_ns = None;
                t.samples = Vec::new();
                t.summary = None;
                t.metrics = result.metrics.clone();
                t.rusage = Some(result.rusage.clone());
            }
            t.error = None;
            t.rep = step.rep + i as u32;
            t.warmup = (i as u32) < step.warmup;
            t
        })
        .collect();
    match problem {
        // An interrupted instance's unfinished runs are simply missing (the run is incomplete).
        _ if interrupted => {}
        Some(error) if results.len() < step.runs as usize => {
            let rep = step.rep + results.len() as u32;
            let mut failed = Trial::new(step.env, step.workload, rep, rep < step.rep + step.warmup);
            failed.exit = first.exit.clone();
            failed.error = Some(error);
            trials.push(failed);
        }
        Some(error) => {
            if let Some(last) = trials.last_mut() {
                last.error = Some(error);
            }
        }
        None => {}
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
    let mut trial = Trial::new(step.env, step.workload, step.rep, step.warmup > 0);
    match outcome {
        Ok(outcome) => {
            record(&mut trial, &outcome);
            let problems = problems(&outcome, host_sha256, timeout);
            if !problems.is_empty() {
                trial.error = Some(problems.join("; "));
            }
        }
        Err(e) => trial.error = Some(crate::error_chain(&e)),
    }
    trial
}

/// Copies what the host saw into the trial: timings, what the instance reported, samples.
fn record(trial: &mut Trial, outcome: &Outcome) {
    let seen = &outcome.observed;
    trial.exit = outcome.exit.clone();
    trial.phases = outcome.phases.clone();
    trial.samples = outcome.samples.clone();
    trial.summary = crate::collector::summarise(&outcome.samples);
    trial.io_path = outcome.io_path.clone();
    trial.cgroup = outcome.cgroup.clone();
    trial.cgroup_attach = outcome.cgroup_attach;
    trial.noise = outcome.noise.clone();
    trial.host_rusage = outcome.host_rusage.clone();
    trial.evicted_bytes = outcome.evicted_bytes;
    trial.host_uid = outcome.host_uid;
    trial.lifetime_ns = outcome.lifetime.map(|d| d.as_nanos() as u64);
    if let Some(first) = seen.first_byte {
        trial
            .phases
            .insert(crate::ids::Phase::FirstOutput, first.as_nanos() as u64);
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
    if let (Workload::Noop, Some(ns)) = (trial.workload, trial.startup_ns) {
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

/// Everything that went wrong with an instance, in words.
fn problems(outcome: &Outcome, host_sha256: &str, timeout: Duration) -> Vec<String> {
    let (seen, exit) = (&outcome.observed, &outcome.exit);
    let mut problems: Vec<String> = Vec::new();
    if seen.interrupted {
        problems.push("interrupted by the user".into());
    }
    if seen.timed_out {
        problems.push(format!(
            "timed out after {} and was killed",
            crate::units::seconds(timeout.as_secs_f64())
        ));
    }
    if exit.oom {
        problems
            .push("killed by the OOM killer: out of memory (the memory limit was reached)".into());
    }
    problems.extend(seen.errors.iter().cloned());
    if seen.ready.is_none() && !seen.timed_out && !seen.interrupted {
        problems.push("instance ended without sending ready".into());
    }
    if seen.ready.is_some() && seen.done.is_none() && problems.is_empty() {
        problems.push("instance ended before sending done".into());
    }
    if let Some(sig) = exit.signal.filter(|_| !seen.timed_out && !seen.interrupted) {
        problems.push(format!("killed by signal {sig}"));
    }
    if let Some(code) = exit.code.filter(|c| *c != 0 && seen.errors.is_empty()) {
        problems.push(format!("exited with status {code}"));
    }
    if let Some(sha) = seen.sha256.as_ref().filter(|sha| *sha != host_sha256) {
        problems.push(format!(
            "ran different bytes: sha256 {sha} differs from the host's {host_sha256}"
        ));
    }
    let tail = seen.noise_tail(3);
    if !problems.is_empty() && !tail.is_empty() && seen.ready.is_none() {
        problems.push(format!("last output: {tail}"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::watch::{Observed, RunResult};
    use crate::env::EnvKind;
    use vmbench_workload::GuestView;

    fn step(workload: Workload) -> Step {
        Step {
            workload,
            env: EnvKind::Native,
            rep: 0,
            runs: 1,
            warmup: 0,
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
    fn finished_runs_of_an_interrupted_warm_instance_are_kept() {
        let mut outcome = crate::env::fake::outcome(Workload::CpuInt, "aa", &[1.0, 2.0, 3.0]);
        outcome.observed.done = None;
        outcome.observed.interrupted = true;
        outcome.exit.signal = Some(9);
        let step = Step {
            runs: 5,
            warmup: 1,
            ..step(Workload::CpuInt)
        };
        let trials = to_trials(&step, Ok(outcome.clone()), "aa", Duration::from_secs(9));
        assert_eq!(trials.len(), 3);
        assert!(trials.iter().all(|t| t.error.is_none()), "{trials:?}");
        assert!(trials[0].warmup && !trials[1].warmup);
        // A crash (not an interruption) adds the unfinished run as a failed trial.
        outcome.observed.interrupted = false;
        let trials = to_trials(&step, Ok(outcome), "aa", Duration::from_secs(9));
        assert_eq!(trials.len(), 4);
        assert_eq!(trials[3].rep, 3);
        assert!(trials[3].error.as_deref().unwrap().contains("signal 9"));
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

    mod with_fakes {
        use super::super::*;
        use crate::config::{Mode, RunConfig};
        use crate::env::fake::{Fake, Launch};
        use crate::env::{EnvKind, Environment};
        use std::cell::RefCell;
        use std::rc::Rc;

        type Value = fn(EnvKind, Workload, usize, u32) -> f64;

        /// Deviations from 1 of a pair whose rounds scatter ±6% around native, centred from
        /// the first rounds on.
        const SPREAD: [f64; 9] = [0.0, -0.06, 0.06, -0.03, 0.03, -0.045, 0.045, -0.015, 0.015];

        /// What a test run told its observer: the announced lines and each expected total.
        #[derive(Default)]
        struct Record {
            announced: RefCell<Vec<String>>,
            totals: RefCell<Vec<usize>>,
        }

        impl Observer for Record {
            fn announce(&self, line: &str) {
                self.announced.borrow_mut().push(line.to_string());
            }
            fn warn(&self, _line: &str) {}
            fn trial(&self, _trial: &Trial, _done: usize, total: usize) {
                self.totals.borrow_mut().push(total);
            }
        }

        /// The launches the fakes saw.
        type Log = Rc<RefCell<Vec<Launch>>>;

        /// Empty results, and a fake per environment of `config` whose instances report
        /// `value` and work `work(env)` at the small size, logging their launches.
        fn fakes(
            config: &RunConfig,
            value: Value,
            work: fn(EnvKind) -> Duration,
        ) -> (Results, Vec<Box<dyn Environment>>, Log) {
            let log = Rc::new(RefCell::new(Vec::new()));
            let mut results = crate::results::tests::sample_results();
            results.trials.clear();
            let sha = results.workload_binary.sha256.clone();
            let envs = config
                .envs
                .iter()
                .map(|&k| {
                    Box::new(Fake::new(k, &sha, log.clone(), value).working(work(k)))
                        as Box<dyn Environment>
                })
                .collect();
            (results, envs, log)
        }

        fn run_fakes(config: &RunConfig, value: Value) -> (Results, Vec<Launch>, Vec<usize>) {
            let (mut results, envs, log) = fakes(config, value, |_| Duration::ZERO);
            let dir = tempfile::tempdir().unwrap();
            let config = RunConfig {
                data_dir: dir.path().to_path_buf(),
                ..config.clone()
            };
            let record = Record::default();
            let envs = Environments::from_prepared(envs);
            let out = dir.path().join("r.json");
            let ctx = Context {
                config: &config,
                envs: &envs,
                binary: Path::new("/bin/w"),
                out: &out,
                work_dir: dir.path(),
                others_alive: &|| 0,
                observer: &record,
            };
            run(&ctx, &mut results).unwrap();
            let totals = record.totals.take();
            let saved = Results::load(&dir.path().join("r.json")).unwrap();
            assert_eq!(saved.trials.len(), results.trials.len(), "saved as it went");
            let log = log.borrow().clone();
            (results, log, totals)
        }

        fn config(envs: &[EnvKind], reps: u32, warmup: u32) -> RunConfig {
            RunConfig {
                workloads: vec![Workload::CpuInt, Workload::Syscall],
                envs: envs.to_vec(),
                reps,
                warmup,
                auto_size: false,
                ..RunConfig::default()
            }
        }

        /// Runs fakes where the VM works 3 s per small size of syscall, 1 ms otherwise.
        fn run_sized(config: &RunConfig) -> (Results, Vec<Launch>) {
            let (mut results, envs, log) = fakes(
                config,
                |_, _, _, _| 1.0,
                |k| match k {
                    EnvKind::VmTcg => Duration::from_secs(3),
                    _ => Duration::from_millis(1),
                },
            );
            let dir = tempfile::tempdir().unwrap();
            let envs = Environments::from_prepared(envs);
            let out = dir.path().join("r.json");
            let record = Record::default();
            let ctx = Context {
                config,
                envs: &envs,
                binary: Path::new("/bin/w"),
                out: &out,
                work_dir: dir.path(),
                others_alive: &|| 0,
                observer: &record,
            };
            run(&ctx, &mut results).unwrap();
            assert_eq!(record.announced.borrow().len(), config.workloads.len());
            let totals = record.totals.borrow();
            assert!(
                totals.iter().all(|&t| t == totals.len()),
                "every trial, probes included, counted from the start: {totals:?}"
            );
            let log = log.borrow().clone();
            (results, log)
        }

        #[test]
        fn a_slow_environment_lowers_the_size_for_every_environment() {
            let envs = [EnvKind::Native, EnvKind::VmTcg];
            let mut c = config(&envs, 2, 1);
            c.auto_size = true;
            c.trial_limit_s = Some(20.0);
            let (results, log) = run_sized(&c);
            // The warm-up round was the probe: no extra launches.
            assert_eq!(log.len(), 2 * 2 * 3);
            let choice = &results.sizes[&Workload::Syscall];
            assert_eq!(choice.size, Size::Small, "30 s predicted > 20 s");
            assert_eq!(choice.slowest, Some(EnvKind::VmTcg));
            for t in &results.trials {
                assert_eq!(t.size, Some(Size::Small), "{} {}", t.env, t.workload);
            }
            assert!(results
                .warmup_trials
                .iter()
                .all(|t| t.size == Some(Size::Small)));
            // A limit above the prediction keeps the size asked for.
            c.trial_limit_s = Some(40.0);
            let (results, _) = run_sized(&c);
            assert_eq!(results.size_of(Workload::Syscall), Size::Default);
            assert!(results.trials.iter().all(|t| t.size == Some(Size::Default)));
        }

        #[test]
        fn without_a_warm_up_round_each_environment_is_probed_once() {
            let envs = [EnvKind::Native, EnvKind::VmTcg];
            let mut c = config(&envs, 2, 0);
            c.auto_size = true;
            c.trial_limit_s = Some(20.0);
            c.mode = Mode::Warm;
            let (results, log) = run_sized(&c);
            // A probe and one warm instance per workload and environment.
            assert_eq!(log.len(), 2 * 2 * 2);
            assert_eq!(
                results.warmup_trials.len(),
                2 * 2,
                "the probes, kept as warm-ups"
            );
            assert!(results.warmup_trials.iter().all(|t| t.probe && t.warmup));
            assert!(results.trials.iter().all(|t| !t.probe));
            assert_eq!(results.size_of(Workload::CpuInt), Size::Small);
            assert_eq!(results.trials.len(), 2 * 2 * 2);
        }

        #[test]
        fn cold_runs_interleave_and_keep_warm_ups_apart() {
            let envs = [EnvKind::Native, EnvKind::Container, EnvKind::VmTcg];
            let (results, log, totals) =
                run_fakes(&config(&envs, 3, 1), |_, _, i, _| i as f64 + 1.0);
            assert_eq!(log.len(), 2 * 3 * 4);
            for (i, (env, workload, runs)) in log.iter().enumerate() {
                assert_eq!(*env, envs[i % 3], "A B C A B C ...");
                // Every workload's warm-up round first, then each workload's measured rounds.
                let expected = match i {
                    0..3 | 6..15 => Workload::CpuInt,
                    _ => Workload::Syscall,
                };
                assert_eq!(*workload, expected, "step {i}");
                assert_eq!(*runs, 1);
            }
            assert_eq!(results.trials.len(), 2 * 3 * 3);
            assert_eq!(results.warmup_trials.len(), 2 * 3);
            assert!(results.warmup_trials.iter().all(|t| t.rep == 0 && t.warmup));
            assert!(results
                .trials
                .iter()
                .all(|t| t.rep >= 1 && t.error.is_none()));
            assert!(totals.iter().all(|t| *t == 24));
        }

        #[test]
        fn warm_runs_split_one_instance_into_its_repetitions() {
            let mut c = config(&[EnvKind::Native, EnvKind::Container], 4, 1);
            c.mode = Mode::Warm;
            let (results, log, _) = run_fakes(&c, |_, _, _, run| 100.0 + run as f64);
            assert_eq!(log.len(), 4, "one instance per workload and environment");
            assert!(log.iter().all(|(_, _, runs)| *runs == 5));
            assert_eq!(results.trials.len(), 2 * 2 * 4);
            assert_eq!(results.warmup_trials.len(), 2 * 2);
            let reps: Vec<u32> = results
                .trials
                .iter()
                .filter(|t| t.env == EnvKind::Native && t.workload == Workload::CpuInt)
                .map(|t| t.rep)
                .collect();
            assert_eq!(reps, vec![1, 2, 3, 4]);
            let values: Vec<f64> = results
                .trials
                .iter()
                .take(4)
                .map(|t| t.headline().unwrap().value)
                .collect();
            assert_eq!(values, vec![101.0, 102.0, 103.0, 104.0]);
        }

        #[test]
        fn adaptive_runs_stop_when_decided_and_go_on_while_undecided() {
            let mut c = config(&[EnvKind::Native, EnvKind::Container], 5, 0);
            c.target_ci_pct = Some(3.0);
            c.max_reps = Some(30);
            // Identical figures everywhere: the same, decided at the minimum.
            let (steady, _, _) = run_fakes(&c, |_, _, _, _| 50.0);
            assert_eq!(steady.trials.len(), 2 * 2 * 5);
            let record = steady.adaptive.as_ref().unwrap();
            assert_eq!(record.decided(), (2, 2));
            assert_eq!(record.stopped, "every pair was decided");
            // Twice as slow in every round: a difference, decided at the minimum too.
            let (slow, _, _) = run_fakes(&c, |env, _, _, _| match env {
                EnvKind::Container => 100.0,
                _ => 50.0,
            });
            assert_eq!(slow.trials.len(), 2 * 2 * 5);
            // The container swings ±15% around native: deciding it would take more rounds
            // than --max-reps allows, so it gets none past the minimum, and says why.
            let (noisy, _, totals) = run_fakes(&c, |env, _, i, _| match env {
                EnvKind::Container => 50.0 * (1.0 + 2.5 * SPREAD[i % SPREAD.len()]),
                _ => 50.0,
            });
            assert!(
                noisy.trials.len() < 2 * 2 * 10,
                "no rounds past where none is predicted to decide: {}",
                noisy.trials.len()
            );
            assert_eq!(*totals.last().unwrap(), noisy.trials.len());
            let record = noisy.adaptive.as_ref().unwrap();
            assert_eq!(record.decided(), (0, 2));
            assert!(
                record
                    .pairs
                    .iter()
                    .any(|p| p.why.as_deref().unwrap().contains("--max-reps")),
                "{record:?}"
            );
        }

        #[test]
        fn adaptive_rounds_repeat_only_the_pairs_not_decided_yet() {
            let envs = [EnvKind::Native, EnvKind::Container, EnvKind::VmTcg];
            let mut c = config(&envs, 5, 0);
            c.workloads = vec![Workload::CpuInt];
            c.target_ci_pct = Some(3.0);
            c.max_reps = Some(20);
            // The VM swings by a factor of two but far below native: decided at once. The
            // container swings ±6% around native: it is the one that needs rounds.
            let (results, log, _) = run_fakes(&c, |env, _, i, _| match env {
                EnvKind::VmTcg if i % 4 < 2 => 5.0,
                EnvKind::VmTcg => 10.0,
                EnvKind::Container => 50.0 * (1.0 + SPREAD[i % SPREAD.len()]),
                _ => 50.0,
            });
            let count = |e: EnvKind| results.trials.iter().filter(|t| t.env == e).count();
            assert_eq!(count(EnvKind::VmTcg), 5, "decided at the minimum");
            let rounds = count(EnvKind::Container);
            assert!(rounds > 5, "the container's pair got rounds: {rounds}");
            assert_eq!(count(EnvKind::Native), rounds, "native joins every round");
            // Past the minimum, rounds interleave native and the container only.
            let late: Vec<EnvKind> = log[15..].iter().map(|l| l.0).collect();
            assert!(
                late.chunks(2)
                    .all(|r| r == [EnvKind::Native, EnvKind::Container]),
                "{late:?}"
            );
        }
    }
}
