//! `vmbench density`: how many instances fit, and what each one costs the host. For each
//! environment and count N, N instances of a holding workload (it reports `ready`, then
//! sleeps until it is released) are started as fast as the host allows and kept alive
//! together; once all are ready the host's memory, every instance's PSS and cgroup charge,
//! and the page-cache sharing of the workload binary are read; then all are released and
//! removed before the next count. VMs run with KSM off and on where the host has it.

pub mod ksm;
pub mod memory;
pub mod sampler;

use crate::env::process::Live;
use crate::env::{Environments, Spec};
use crate::ids::{EnvKind, Family};
use crate::results::{DensityRecord, DensityStep, Results};
use std::path::Path;
use std::time::{Duration, Instant};
use vmbench_workload::invocation::Fault;
use vmbench_workload::{Invocation, Size, Workload};

/// Share of `MemAvailable` a step must leave free.
pub const KEEP_FREE: f64 = 0.20;
/// Tasks one instance may need at most (a QEMU's threads), for the cap on counts.
const TASKS_PER_INSTANCE: u64 = 32;
/// Longest wait for KSM's two full passes in a step.
const KSM_SETTLE: Duration = Duration::from_secs(60);

/// Why a sweep could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum DensityError {
    /// The first step would leave too little memory; nothing was started.
    #[error("{0}")]
    Refused(String),
    /// The results could not be saved.
    #[error(transparent)]
    Save(#[from] crate::results::ResultsError),
}

/// What a sweep needs from the run.
pub struct Context<'a> {
    /// The run's configuration (its `density` plan).
    pub config: &'a crate::config::RunConfig,
    /// The prepared environments.
    pub envs: &'a Environments,
    /// The workload binary.
    pub binary: &'a Path,
    /// The results file, saved after every step.
    pub out: &'a Path,
    /// The run's folder for temporary files.
    pub work_dir: &'a Path,
    /// Prints a line per step.
    pub announce: &'a dyn Fn(&str),
}

/// Memory one more instance is expected to take before anything was measured: a guest's RAM
/// and QEMU's own for a VM, a few MiB for a process or container.
fn first_guess(env: EnvKind, memory_mib: u64) -> u64 {
    match env.family() {
        Family::Vm => (memory_mib + 64) << 20,
        _ => 16 << 20,
    }
}

/// Memory `count` instances are expected to take: the most per instance any earlier step of
/// this sweep took, else the first guess.
pub fn estimate(done: &[DensityStep], env: EnvKind, memory_mib: u64, count: u32) -> u64 {
    let per = done
        .iter()
        .filter(|s| s.env == env)
        .map(|s| s.host_used_bytes().max(0) as u64 / s.count.max(1) as u64)
        .max()
        .unwrap_or_else(|| first_guess(env, memory_mib))
        .max(1 << 20);
    per.saturating_mul(count as u64)
}

/// Whether a step needing `need` bytes leaves [`KEEP_FREE`] of `available`.
pub fn leaves_enough(available: u64, need: u64) -> bool {
    (available as f64 - need as f64) >= KEEP_FREE * available as f64
}

/// The holding instance's orders: ready, then sleep until killed.
fn hold_spec<'a>(ctx: &'a Context, data: &'a Path) -> Spec<'a> {
    Spec {
        binary: ctx.binary,
        invocation: Invocation {
            workload: Workload::Noop,
            size: Size::Small,
            runs: 1,
            data_dir: data.to_path_buf(),
            fault: Some(Fault::Hang),
            identity: true,
            bind: vmbench_workload::default_bind(),
            watch_stdin: true,
        },
        cpus: ctx.config.cpus.as_deref(),
        memory_mib: ctx.config.memory_mib,
        cpu_quota: ctx.config.cpu_quota,
        timeout: ctx.config.timeout(),
        data_dir: data,
        // One sampler thread watches every instance of a step (see [`sampler`]), rather than
        // a collector thread per instance.
        sample_interval: None,
        page_cache: ctx.config.page_cache,
        net: None,
    }
}

/// Runs the sweep of `ctx.config.density` into `results.density`, saving after each step.
pub fn run(ctx: &Context, results: &mut Results) -> Result<(), DensityError> {
    let plan = ctx
        .config
        .density
        .clone()
        .expect("a density run has a plan");
    let ksm = ksm::Ksm::at(Path::new(ksm::HOST), Path::new(ksm::SAVED));
    results.density = Some(DensityRecord {
        ksm_available: ksm.is_some(),
        ..DensityRecord::default()
    });
    let data = ctx.work_dir.join("density");
    let _ = std::fs::create_dir_all(&data);
    let mut sweep = Sweep {
        ctx,
        spec: hold_spec(ctx, &data),
        counts: &plan.counts,
        ksm,
        started_any: false,
    };
    for &kind in &ctx.config.envs {
        let Some(env) = ctx.envs.get(kind) else {
            continue;
        };
        let settings: Vec<Option<bool>> = match (&sweep.ksm, kind.family()) {
            (Some(_), Family::Vm) => plan.ksm.settings().iter().map(|&on| Some(on)).collect(),
            _ => vec![None],
        };
        for setting in settings {
            if !sweep.series(env, setting, results)? {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A sweep under way.
struct Sweep<'a> {
    ctx: &'a Context<'a>,
    spec: Spec<'a>,
    counts: &'a [u32],
    ksm: Option<ksm::Ksm>,
    /// Whether any step started: a refusal before that is the whole command's.
    started_any: bool,
}

impl Sweep<'_> {
    /// Every count of one environment under one KSM setting, until one cannot run; false
    /// when the user interrupted.
    fn series(
        &mut self,
        env: &dyn crate::env::Environment,
        setting: Option<bool>,
        results: &mut Results,
    ) -> Result<bool, DensityError> {
        let kind = env.kind();
        let label = match setting {
            Some(true) => format!("{kind} (KSM on)"),
            Some(false) => format!("{kind} (KSM off)"),
            None => kind.to_string(),
        };
        for &count in self.counts {
            if crate::interrupt::interrupted() {
                return Ok(false);
            }
            let record = results.density.as_mut().expect("set by run");
            if let Err(why) = check_room(record, kind, self.ctx.config.memory_mib, count) {
                if !self.started_any {
                    return Err(DensityError::Refused(format!(
                        "{label} x{count}: {why}; nothing was started: lower --counts or --memory"
                    )));
                }
                stop(
                    record,
                    kind,
                    format!("{label}: stopped before x{count}: {why}"),
                );
                break;
            }
            self.started_any = true;
            let guard = match (setting, &self.ksm) {
                (Some(on), Some(k)) => match k.set(on) {
                    Ok(g) => Some(g),
                    Err(why) => {
                        stop(record, kind, format!("{label}: cannot switch KSM: {why}"));
                        break;
                    }
                },
                _ => None,
            };
            let merging = self.ksm.as_ref().filter(|_| setting == Some(true));
            let interval = self.ctx.config.sample_interval();
            let outcome = step(env, &self.spec, count, merging, interval);
            drop(guard);
            match outcome {
                Ok(mut s) => {
                    s.ksm = setting;
                    (self.ctx.announce)(&describe(&label, &s));
                    record.steps.push(s);
                    results.save(self.ctx.out)?;
                }
                Err(why) => {
                    let reached = record
                        .steps
                        .iter()
                        .filter(|s| s.env == kind && s.ksm == setting)
                        .map(|s| s.count)
                        .max();
                    let got = reached.map_or("no step finished".to_string(), |n| {
                        format!("x{n} was the last that finished")
                    });
                    stop(
                        record,
                        kind,
                        format!("{label}: x{count} failed: {why}; {got}"),
                    );
                    results.save(self.ctx.out)?;
                    break;
                }
            }
        }
        Ok(true)
    }
}

fn stop(record: &mut DensityRecord, kind: EnvKind, why: String) {
    record.stopped.push((kind, why));
}

/// Whether `count` more instances fit: memory (leaving [`KEEP_FREE`]) and tasks.
fn check_room(
    record: &DensityRecord,
    kind: EnvKind,
    memory_mib: u64,
    count: u32,
) -> Result<(), String> {
    let proc_root = Path::new("/proc");
    let available = memory::host_memory(proc_root).available;
    let need = estimate(&record.steps, kind, memory_mib, count);
    if !leaves_enough(available, need) {
        return Err(format!(
            "it would need about {} MiB of the {} MiB available, leaving less than {:.0}%",
            need >> 20,
            available >> 20,
            KEEP_FREE * 100.0
        ));
    }
    if let Some(left) = memory::tasks_left(proc_root) {
        if count as u64 * TASKS_PER_INSTANCE > left {
            return Err(format!(
                "the host can create only {left} more tasks (pid_max, threads-max)"
            ));
        }
    }
    Ok(())
}

/// One line about a finished step.
fn describe(label: &str, s: &DensityStep) -> String {
    let used = s.host_used_bytes().max(0) as f64 / 1048576.0;
    format!(
        "density: {label} x{}: all ready in {:.0} ms; host memory used {:.1} MiB ({:.1} MiB each), PSS {:.1} MiB",
        s.count,
        s.all_ready_ms,
        used,
        used / s.count as f64,
        s.pss_bytes as f64 / 1048576.0
    )
}

/// Releases every live instance (their cgroups, mounts and QEMUs removed); returns the
/// first error.
fn release_all(lives: Vec<Live>) -> Option<String> {
    let mut first = None;
    for live in lives {
        if let Err(e) = live.release() {
            first.get_or_insert(e.to_string());
        }
    }
    first
}

/// Starts `count` instances, waits until all are ready, measures, releases them all.
fn step(
    env: &dyn crate::env::Environment,
    spec: &Spec,
    count: u32,
    merging: Option<&ksm::Ksm>,
    interval: Option<Duration>,
) -> Result<DensityStep, String> {
    let proc_root = Path::new("/proc");
    let before = memory::host_memory(proc_root);
    let t0 = Instant::now();
    let mut lives: Vec<Live> = Vec::with_capacity(count as usize);
    for i in 0..count {
        match Live::start(env, spec) {
            Ok(live) => lives.push(live),
            Err(e) => {
                release_all(lives);
                return Err(format!("instance {} of {count} did not start: {e}", i + 1));
            }
        }
    }
    let pids: Vec<i32> = lives.iter().map(|l| l.target().pid).collect();
    let sampling = interval.map(|every| sampler::Sampler::start(pids, every));
    if let Err(why) = wait_ready(&mut lives, t0 + spec.timeout) {
        if let Some(s) = sampling {
            s.stop();
        }
        release_all(lives);
        return Err(why);
    }
    let all_ready = t0.elapsed();
    let ksm_saved = merging.map(|k| k.settle(KSM_SETTLE));
    let after = memory::host_memory(proc_root);
    let guest = env.kind().family() == Family::Vm;
    let measured: Vec<memory::InstanceMemory> = lives
        .iter()
        .map(|l| memory::instance(l.target(), guest))
        .collect();
    let startup_ms: Vec<f64> = lives
        .iter()
        .filter_map(|l| l.seen().ready.as_ref().map(|r| r.0.as_secs_f64() * 1e3))
        .collect();
    let guest_total = lives
        .iter()
        .filter_map(|l| l.seen().ready.as_ref().map(|r| r.1.mem_total_bytes))
        .max()
        .filter(|_| guest);
    let mean =
        |xs: Vec<u64>| (!xs.is_empty()).then(|| xs.iter().sum::<u64>() as f64 / xs.len() as f64);
    let sampled = sampling.map(sampler::Sampler::stop);
    if let Some(why) = release_all(lives) {
        return Err(format!("releasing the instances: {why}"));
    }
    Ok(DensityStep {
        env: env.kind(),
        count,
        ksm: None,
        all_ready_ms: all_ready.as_secs_f64() * 1e3,
        startup_ms,
        mem_available: (before.available, after.available),
        committed: (before.committed, after.committed),
        pss_bytes: measured.iter().map(|m| m.pss).sum(),
        rss_bytes: measured.iter().map(|m| m.rss).sum(),
        cgroup_bytes: measured.iter().map(|m| m.cgroup).sum::<Option<u64>>(),
        guest_mem_total_bytes: guest_total,
        binary_pss_bytes: mean(measured.iter().filter_map(|m| m.binary_pss).collect()),
        binary_in_guest_bytes: guest
            .then(|| std::fs::metadata(spec.binary).map(|m| m.len()).ok())
            .flatten(),
        exe_pss_bytes: mean(measured.iter().filter_map(|m| m.exe_pss).collect()),
        ksm_saved_bytes: ksm_saved,
        peak_rss_bytes: sampled.as_ref().map(|s| s.peak_rss_bytes),
        collector_fraction: sampled.as_ref().map(|s| s.fraction_of_core()),
    })
}

/// Reads every instance's output until each has said `ready`; an instance that ends first,
/// the deadline, or Ctrl-C is the step's failure.
fn wait_ready(lives: &mut [Live], deadline: Instant) -> Result<(), String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let waiting: Vec<usize> = (0..lives.len())
            .filter(|&i| lives[i].seen().ready.is_none())
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if let Some(&i) = waiting.iter().find(|&&i| lives[i].seen().closed.is_some()) {
            let why = lives[i]
                .seen()
                .errors
                .first()
                .cloned()
                .unwrap_or_else(|| "its output closed".into());
            return Err(format!(
                "instance {} ended before it was ready: {why}",
                i + 1
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} of {} instances were not ready by the timeout (--timeout)",
                waiting.len(),
                lives.len()
            ));
        }
        if crate::interrupt::interrupted() {
            return Err("interrupted".into());
        }
        let ready_fds: Vec<usize> = {
            let mut fds: Vec<PollFd> = waiting
                .iter()
                .map(|&i| PollFd::new(lives[i].output(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::from(50u16)) {
                Ok(0) | Err(_) => Vec::new(),
                Ok(_) => waiting
                    .iter()
                    .zip(&fds)
                    .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(&i, _)| i)
                    .collect(),
            }
        };
        for i in ready_fds {
            lives[i].read();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(env: EnvKind, count: u32, used_mib: u64) -> DensityStep {
        DensityStep {
            env,
            count,
            ksm: None,
            all_ready_ms: 1.0,
            startup_ms: vec![],
            mem_available: (10_000 << 20, (10_000 - used_mib) << 20),
            committed: (0, 0),
            pss_bytes: 0,
            rss_bytes: 0,
            cgroup_bytes: None,
            guest_mem_total_bytes: None,
            binary_pss_bytes: None,
            binary_in_guest_bytes: None,
            exe_pss_bytes: None,
            ksm_saved_bytes: None,
            peak_rss_bytes: None,
            collector_fraction: None,
        }
    }

    #[test]
    fn the_estimate_grows_from_what_earlier_steps_took() {
        // Nothing measured: a guest's RAM and QEMU's for a VM, a few MiB for a container.
        assert_eq!(estimate(&[], EnvKind::VmTcg, 512, 2), 2 * (576 << 20));
        assert_eq!(estimate(&[], EnvKind::Container, 512, 4), 4 * (16 << 20));
        let done = [
            step(EnvKind::VmTcg, 1, 150),
            step(EnvKind::VmTcg, 4, 520),
            step(EnvKind::Container, 4, 4),
        ];
        assert_eq!(estimate(&done, EnvKind::VmTcg, 512, 16), 16 * (150 << 20));
        assert_eq!(estimate(&done, EnvKind::Container, 512, 16), 16 * (1 << 20));
    }

    #[test]
    fn a_step_must_leave_a_fifth_of_what_is_available() {
        assert!(leaves_enough(1000, 800));
        assert!(!leaves_enough(1000, 801));
        assert!(!leaves_enough(1000, 5000));
    }
}
