//! The report model: what every exporter renders, computed once from results records (pure).
//! Per run: each workload's median per environment with its 95% CI, the ratio to native with
//! its CI, startup distributions, memory and image footprints, what did not run and why; and,
//! against a baseline, the change of every figure and whether it is a regression.

mod across;
mod instance;
mod verdicts;
mod workload;

use crate::ids::{Accel, EnvKind, Family};
use crate::results::{Results, Trial};
pub use across::{across, AcrossCell, AcrossRow};
use instance::{memory_view, quiet_view, startup_view, timeline, timeline_workload};
pub use instance::{MemoryView, QuietView, SpacedStart, StartSplit, StartupView, Timeline};
use serde::Serialize;
pub use verdicts::{VerdictRow, Verdicts};
use vmbench_workload::Workload;
use workload::workload_view;
pub use workload::{Change, EnvRow, WorkloadView};

/// Everything about one results file.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    /// Label (file name).
    pub label: String,
    /// The records themselves (host, config, binary...).
    pub results: Results,
    /// Environments in run order.
    pub envs: Vec<EnvKind>,
    /// Workload sections.
    pub workloads: Vec<WorkloadView>,
    /// Every pair's verdict, decided ones first.
    pub verdicts: Verdicts,
    /// Startup per environment.
    pub startup: Vec<StartupView>,
    /// Where the start of native and of each container environment goes.
    pub start_split: Vec<StartSplit>,
    /// Container starts measured apart from the rounds: after a quiet spell, back to back.
    pub spaced_starts: Vec<SpacedStart>,
    /// Memory per environment.
    pub memory: Vec<MemoryView>,
    /// Environments that ran but whose memory this file cannot give (recorded when vmbench
    /// sampled their launcher in the workload's place).
    pub memory_unsampled: Vec<EnvKind>,
    /// Every environment placed by where its system calls go, with what each step costs.
    pub spectrum: Vec<super::spectrum::SpectrumRow>,
    /// What each environment's instance saw of its environment.
    pub seen: Vec<super::seen::SeenView>,
    /// Timelines per environment.
    pub timelines: Vec<Timeline>,
    /// Environments that did not run, with the reason.
    pub not_run: Vec<(EnvKind, String)>,
    /// A VM ran under TCG (software emulation).
    pub tcg: bool,
    /// A VM ran under KVM on a host that is itself a guest: what its figures are.
    pub nested_kvm: Option<crate::results::NestedKvm>,
    /// Run without root, with rootless containers: what that was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootless: Option<super::format::Rootless>,
    /// Bytes on disk per environment: (env, bytes, what).
    pub footprints: Vec<(EnvKind, u64, String)>,
    /// Failed trials: (env, workload, rep, error).
    pub failures: Vec<(EnvKind, Workload, u32, String)>,
    /// How quiet the host was, per environment.
    pub quiet: Vec<QuietView>,
    /// Noisy trials: (env, workload, rep, why).
    pub noisy: Vec<(EnvKind, Workload, u32, String)>,
    /// The run did not finish (interrupted, or still running): what is missing.
    pub incomplete: Option<String>,
    /// The density sweep, when the run was one.
    pub density: Option<super::density::DensityView>,
    /// Round trips and streams across each environment's network path, when measured.
    pub network: Option<super::network::NetworkView>,
    /// Layers and copy-on-write, when the run recorded layers or ran file-layer.
    pub layers: Option<super::layers::LayersView>,
}

/// What an unfinished run is missing, against its plan's minimum repetitions.
/// The environments and workloads of a run: those configured, then any a trial names.
fn envs_and_workloads(results: &Results) -> (Vec<EnvKind>, Vec<Workload>) {
    let mut envs: Vec<EnvKind> = results.config.envs.clone();
    let mut workloads = results.config.workloads.clone();
    for t in &results.trials {
        if !envs.contains(&t.env) {
            envs.push(t.env);
        }
        if !workloads.contains(&t.workload) {
            workloads.push(t.workload);
        }
    }
    (envs, workloads)
}

/// Each environment's instance figures, in run order.
struct PerInstance {
    startup: Vec<StartupView>,
    memory: Vec<MemoryView>,
    timelines: Vec<Timeline>,
    quiet: Vec<QuietView>,
}

impl PerInstance {
    fn of(results: &Results, envs: &[EnvKind]) -> PerInstance {
        let (mut startup, mut memory, mut timelines) = (Vec::new(), Vec::new(), Vec::new());
        let mut quiet = Vec::new();
        let over_time = timeline_workload(results);
        for &e in envs {
            let trials: Vec<&Trial> = results.succeeded(e).collect();
            startup.extend(startup_view(e, &trials));
            memory.extend(memory_view(e, &trials));
            timelines.extend(over_time.and_then(|w| timeline(e, w, &trials)));
            let measured: Vec<&Trial> = results.measured().filter(|t| t.env == e).collect();
            quiet.extend(quiet_view(e, &measured));
        }
        PerInstance {
            startup,
            memory,
            timelines,
            quiet,
        }
    }
}

/// The trials flagged noisy, with why.
fn noisy(results: &Results) -> Vec<(EnvKind, Workload, u32, String)> {
    results
        .measured()
        .filter_map(|t| {
            let n = t.noise.as_ref().filter(|n| n.noisy)?;
            Some((t.env, t.workload, t.rep, n.reasons.join("; ")))
        })
        .collect()
}

/// What one instance of each environment needs on disk.
fn footprints(results: &Results) -> Vec<(EnvKind, u64, String)> {
    results
        .environments
        .iter()
        .filter_map(|e| {
            Some((
                e.env,
                e.footprint_bytes?,
                e.footprint.clone().unwrap_or_default(),
            ))
        })
        .collect()
}

fn incomplete(results: &Results) -> Option<String> {
    if results.complete {
        return None;
    }
    let c = &results.config;
    let mut missing = Vec::new();
    for &w in &c.workloads {
        let short: Vec<String> = c
            .envs
            .iter()
            .filter_map(|&e| {
                let n = results
                    .measured()
                    .filter(|t| t.workload == w && t.env == e)
                    .count();
                (n < c.reps as usize).then(|| format!("{e} {n}/{}", c.reps))
            })
            .collect();
        if short.len() == c.envs.len() && short.iter().all(|s| s.contains(" 0/")) {
            missing.push(format!("{w} (not started)"));
        } else if !short.is_empty() {
            missing.push(format!("{w} ({})", short.join(", ")));
        }
    }
    Some(format!(
        "this run did not finish (interrupted): {} measured trial(s); missing: {}",
        results.trials.len(),
        if missing.is_empty() {
            "the planned extra repetitions".to_string()
        } else {
            missing.join("; ")
        }
    ))
}

impl RunView {
    /// One environment's row of one workload's table, if the run has it.
    pub fn row(&self, workload: vmbench_workload::Workload, env: EnvKind) -> Option<&EnvRow> {
        let w = self.workloads.iter().find(|w| w.name == workload)?;
        w.rows.iter().find(|r| r.env == env)
    }

    /// The booted (not restored) VM of an accelerator that ran, if any.
    pub fn booted(&self, accel: Accel) -> Option<EnvKind> {
        self.envs
            .iter()
            .copied()
            .find(|e| e.accel() == Some(accel) && !e.is_snapshot())
    }

    /// Builds the view of one results file, with `baseline` to compare against.
    pub fn build(
        label: &str,
        results: &Results,
        baseline: Option<&Results>,
        margin: f64,
    ) -> RunView {
        let (envs, workload_names) = envs_and_workloads(results);
        let workloads: Vec<WorkloadView> = workload_names
            .iter()
            .filter_map(|&w| workload_view(results, w, &envs, baseline, margin))
            .collect();
        let PerInstance {
            startup,
            memory,
            timelines,
            quiet,
        } = PerInstance::of(results, &envs);
        let startup_ms = startup.iter().map(|s| (s.env, s.summary.median)).collect();
        let syscall_ns = workloads
            .iter()
            .filter(|w| w.name == Workload::Syscall)
            .flat_map(|w| w.rows.iter().filter(|r| r.n > 0).map(|r| (r.env, r.median)))
            .collect();
        let spectrum = super::spectrum::rows(results, &envs, &startup_ms, &syscall_ns);
        RunView {
            memory_unsampled: memory_unsampled(results, &envs),
            label: label.to_string(),
            verdicts: Verdicts::of(&workloads, results),
            spectrum,
            seen: super::seen::views(results, &envs),
            network: super::network::NetworkView::of(results, &envs, margin),
            layers: super::layers::LayersView::of(results, &envs, margin),
            envs,
            workloads,
            start_split: startup
                .iter()
                .filter(|s| s.env.family() != Family::Vm)
                .map(StartSplit::of)
                .collect(),
            spaced_starts: instance::spaced_starts(results),
            startup,
            memory,
            timelines,
            not_run: results
                .environments
                .iter()
                .filter(|e| !e.available)
                .map(|e| (e.env, e.reason.clone()))
                .collect(),
            tcg: results
                .trials
                .iter()
                .any(|t| t.env.accel() == Some(Accel::Tcg)),
            rootless: super::format::Rootless::of(results),
            nested_kvm: results
                .trials
                .iter()
                .any(|t| t.env.accel() == Some(Accel::Kvm))
                .then(|| results.host.nested_kvm())
                .flatten(),
            footprints: footprints(results),
            failures: results
                .trials
                .iter()
                .filter_map(|t| Some((t.env, t.workload, t.rep, t.error.clone()?)))
                .collect(),
            quiet,
            incomplete: incomplete(results),
            noisy: noisy(results),
            density: super::density::DensityView::of(results),
            results: results.header(),
        }
    }
}

/// The environments whose successful trials all ran without a memory sample.
fn memory_unsampled(results: &Results, envs: &[EnvKind]) -> Vec<EnvKind> {
    envs.iter()
        .copied()
        .filter(|&e| {
            let mut ok = results.succeeded(e).peekable();
            ok.peek().is_some() && ok.all(|t| !t.memory_sampled())
        })
        .collect()
}

/// The whole report: one view per results file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Runs, in the order given.
    pub runs: Vec<RunView>,
    /// Several runs side by side (empty for one run).
    pub across: Vec<AcrossRow>,
    /// Label of the baseline, when one was given.
    pub baseline: Option<String>,
    /// When the report was rendered.
    pub generated_at: String,
    /// Equivalence margin of the verdicts, as a fraction.
    pub margin: f64,
}

impl Report {
    /// Builds the report from labelled results and an optional labelled baseline.
    pub fn build(
        runs: &[(String, Results)],
        baseline: Option<&(String, Results)>,
        margin: f64,
    ) -> Report {
        let runs: Vec<RunView> = runs
            .iter()
            .map(|(label, r)| {
                // A fleet run is named by its node.
                let label = r.fleet.as_ref().map_or(label.as_str(), |f| f.node.as_str());
                RunView::build(label, r, baseline.map(|b| &b.1), margin)
            })
            .collect();
        Report {
            across: if runs.len() > 1 {
                across(&runs)
            } else {
                Vec::new()
            },
            runs,
            baseline: baseline.map(|b| b.0.clone()),
            generated_at: crate::now_rfc3339(),
            margin,
        }
    }
}
