//! The report model: what every exporter renders, computed once from results records (pure).
//! Per run: each workload's median per environment with its 95% CI, the ratio to native with
//! its CI, startup distributions, memory and image footprints, what did not run and why; and,
//! against a baseline, the change of every figure and whether it is a regression.

use crate::ids::{Accel, EnvKind, Family};
use crate::results::{Results, Trial};
use crate::stats::{self, Interval, Ratio, Summary, Verdict};
use serde::Serialize;
use vmbench_workload::{Better, Workload};

/// One environment's figures for one workload.
#[derive(Debug, Clone, Serialize)]
pub struct EnvRow {
    /// Environment.
    pub env: EnvKind,
    /// Successful measured trials.
    pub n: usize,
    /// Median headline value.
    pub median: f64,
    /// 95% CI of the median.
    pub ci: Option<Interval>,
    /// Coefficient of variation.
    pub cv: f64,
    /// Outliers flagged (kept in every statistic).
    pub outliers: usize,
    /// median(env) / median(native) with its CI.
    pub ratio: Option<Ratio>,
    /// What the ratio says, given its CI and the equivalence margin.
    pub verdict: Option<Verdict>,
    /// Adaptive runs: whether the ratio's CI reached the target half-width.
    pub converged: Option<bool>,
    /// Change against the baseline run, when one was given.
    pub baseline: Option<Change>,
    /// Failed trials.
    pub failed: usize,
    /// Trials flagged noisy (kept in every statistic).
    pub noisy: usize,
}

/// A workload's section.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadView {
    /// Workload.
    pub name: Workload,
    /// Headline metric name.
    pub metric: String,
    /// Its unit.
    pub unit: String,
    /// Which way is better.
    pub better: Better,
    /// One row per environment, in run order.
    pub rows: Vec<EnvRow>,
    /// The amount of work every environment did.
    pub size: vmbench_workload::Size,
    /// Why that size, where the run chose it.
    pub size_note: Option<String>,
    /// Why there is no comparison with the baseline, where it ran another size.
    pub baseline_note: Option<String>,
}

/// Startup figures of one environment (all measured cold trials, every workload).
#[derive(Debug, Clone, Serialize)]
pub struct StartupView {
    /// Environment.
    pub env: EnvKind,
    /// Values in milliseconds.
    pub values_ms: Vec<f64>,
    /// Their summary.
    pub summary: Summary,
    /// Median of each startup phase, milliseconds since launch.
    pub phases_ms: Vec<(crate::ids::Phase, f64)>,
}

/// Where one environment's start goes: its startup phases as consecutive segments.
#[derive(Debug, Clone, Serialize)]
pub struct StartSplit {
    /// Environment.
    pub env: EnvKind,
    /// Median startup, milliseconds.
    pub median_ms: f64,
    /// (what ends the segment, its median length in milliseconds), in order; the last one
    /// ends at `ready`.
    pub segments: Vec<(String, f64)>,
}

impl StartSplit {
    /// The split of a startup view: each phase's median time since launch, in order, made
    /// into the segments between them.
    pub fn of(view: &StartupView) -> StartSplit {
        let mut segments = Vec::new();
        let mut at = 0.0;
        for (name, ms) in view
            .phases_ms
            .iter()
            .filter(|(n, _)| *n != crate::ids::Phase::FirstOutput)
        {
            // A phase the environment reports after `ready` (Docker records its start once
            // the start call returns) or out of order splits nothing.
            let end = ms.min(view.summary.median);
            if end > at {
                segments.push((name.to_string(), end - at));
                at = end;
            }
        }
        segments.push(("ready".to_string(), (view.summary.median - at).max(0.0)));
        StartSplit {
            env: view.env,
            median_ms: view.summary.median,
            segments,
        }
    }
}

/// How quiet the host was for one environment's trials.
#[derive(Debug, Clone, Serialize)]
pub struct QuietView {
    /// Environment.
    pub env: EnvKind,
    /// Measured trials with a noise record.
    pub trials: usize,
    /// Of which flagged noisy.
    pub noisy: usize,
    /// Median share of the workload's CPUs other programs used, percent.
    pub foreign_pct: f64,
    /// Highest such share, percent.
    pub foreign_max_pct: f64,
    /// Median share stolen by the hypervisor, percent.
    pub steal_pct: f64,
    /// Most runnable tasks seen at a trial's end.
    pub runnable_max: u64,
    /// Most other vmbench runs seen alive during a trial.
    pub concurrent_runs: u32,
}

/// Memory one instance costs, seen from the host.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryView {
    /// Environment.
    pub env: EnvKind,
    /// Median peak RSS of the instance process (workload, PID 1, runtime or QEMU), bytes.
    pub process_peak_rss_bytes: u64,
    /// Median peak PSS where sampled.
    pub process_peak_pss_bytes: Option<u64>,
    /// Median peak memory charged to the container's cgroup.
    pub cgroup_peak_bytes: Option<u64>,
    /// Memory the guest kernel reports (`MemTotal` inside), for VMs.
    pub guest_mem_total_bytes: Option<u64>,
    /// Memory still available inside the guest at `ready`, for VMs.
    pub guest_mem_available_bytes: Option<u64>,
}

/// One run's samples over time for the chart: the first successful trial of a workload.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// Environment.
    pub env: EnvKind,
    /// Workload the trial ran.
    pub workload: Workload,
    /// (seconds since launch, CPU utilisation in cores over the last interval, RSS MiB).
    pub points: Vec<(f64, f64, f64)>,
}

/// A change against the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// median(now) / median(baseline), with its CI.
    pub ratio: Ratio,
    /// What the change says: worse is a regression, better an improvement.
    pub verdict: Verdict,
}

impl Change {
    /// Whether the change is a regression.
    pub fn is_regression(&self) -> bool {
        matches!(self.verdict, Verdict::Worse { .. })
    }
}

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
    /// Startup per environment.
    pub startup: Vec<StartupView>,
    /// Where the start of native and of each container environment goes.
    pub start_split: Vec<StartSplit>,
    /// Memory per environment.
    pub memory: Vec<MemoryView>,
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
}

fn ok_values(trials: &[&Trial]) -> Vec<f64> {
    trials
        .iter()
        .filter(|t| t.error.is_none())
        .filter_map(|t| t.headline().map(|m| m.value))
        .collect()
}

fn median_u64(xs: impl Iterator<Item = u64>) -> Option<u64> {
    let v: Vec<f64> = xs.map(|x| x as f64).collect();
    stats::median(&v).map(|m| m as u64)
}

/// Measured trials of one workload in one environment.
fn trials_of(r: &Results, w: Workload, e: EnvKind) -> Vec<&Trial> {
    r.measured()
        .filter(|t| t.workload == w && t.env == e)
        .collect()
}

/// One workload's section: a row per environment, with ratios to native and the baseline.
fn workload_view(
    results: &Results,
    w: Workload,
    envs: &[EnvKind],
    baseline: Option<&Results>,
    margin: f64,
) -> Option<WorkloadView> {
    let head = results
        .measured()
        .filter(|t| t.workload == w)
        .find_map(|t| t.headline().cloned())?;
    let mut rows = Vec::new();
    for &e in envs {
        let trials = trials_of(results, w, e);
        if trials.is_empty() {
            continue;
        }
        let xs = ok_values(&trials);
        let failed = trials.iter().filter(|t| t.error.is_some()).count();
        let noisy = trials
            .iter()
            .filter(|t| t.noise.as_ref().is_some_and(|n| n.noisy))
            .count();
        let sum = Summary::of(&xs);
        let ratio = sum
            .is_some()
            .then(|| results.ratio_to_native(w, e))
            .flatten();
        let change = baseline
            .filter(|b| b.size_of(w) == results.size_of(w))
            .map(|b| ok_values(&trials_of(b, w, e)))
            .filter(|b| !b.is_empty() && sum.is_some())
            .and_then(|b| stats::ratio_of_medians(&xs, &b))
            .map(|ratio| Change {
                verdict: stats::verdict(&ratio, head.better, margin),
                ratio,
            });
        let target = results.config.target_ci_pct;
        rows.push(EnvRow {
            env: e,
            n: sum.as_ref().map_or(0, |s| s.n),
            median: sum.as_ref().map_or(f64::NAN, |s| s.median),
            ci: sum.as_ref().and_then(|s| s.median_ci),
            cv: sum.as_ref().map_or(0.0, |s| s.cv),
            outliers: sum.as_ref().map_or(0, |s| s.outliers.len()),
            verdict: ratio.map(|r| stats::verdict(&r, head.better, margin)),
            converged: target.and_then(|t| {
                let half = ratio?.ci?.relative_half_width(ratio?.value);
                Some(half * 100.0 <= t)
            }),
            ratio,
            baseline: change,
            failed,
            noisy,
        });
    }
    let size = results.size_of(w);
    Some(WorkloadView {
        name: w,
        metric: head.name,
        unit: head.unit,
        better: head.better,
        rows,
        size,
        size_note: results
            .sizes
            .get(&w)
            .map(crate::results::SizeChoice::explain),
        baseline_note: baseline
            .map(|b| b.size_of(w))
            .filter(|&old| old != size)
            .map(|old| {
                format!("not compared with the baseline: it ran size {old}, this run {size}")
            }),
    })
}

/// Startup of one environment over its successful trials, with the median of each phase.
fn startup_view(e: EnvKind, trials: &[&Trial]) -> Option<StartupView> {
    let values_ms: Vec<f64> = trials
        .iter()
        .filter_map(|t| t.startup_ns)
        .map(|ns| ns as f64 / 1e6)
        .collect();
    let summary = Summary::of(&values_ms)?;
    let mut phase_names: Vec<&crate::ids::Phase> = Vec::new();
    for t in trials {
        for k in t.phases.keys().filter(|k| !k.is_teardown()) {
            if !phase_names.contains(&k) {
                phase_names.push(k);
            }
        }
    }
    let mut phases_ms: Vec<(crate::ids::Phase, f64)> = phase_names
        .into_iter()
        .filter_map(|k| {
            let xs: Vec<f64> = trials
                .iter()
                .filter_map(|t| t.phases.get(k))
                .map(|ns| *ns as f64 / 1e6)
                .collect();
            stats::median(&xs).map(|m| (*k, m))
        })
        .collect();
    phases_ms.sort_by(|a, b| a.1.total_cmp(&b.1));
    Some(StartupView {
        env: e,
        values_ms,
        summary,
        phases_ms,
    })
}

/// Memory one instance of an environment holds, medians over its successful trials.
fn memory_view(e: EnvKind, trials: &[&Trial]) -> Option<MemoryView> {
    let rss = median_u64(trials.iter().filter_map(|t| {
        t.summary
            .as_ref()
            .map(|s| s.peak_rss_bytes)
            .or(t.host_rusage.as_ref().map(|r| r.max_rss_bytes))
    }))?;
    let guest = |field: fn(&vmbench_workload::GuestView) -> u64| {
        (e.family() == Family::Vm)
            .then(|| {
                median_u64(
                    trials
                        .iter()
                        .filter_map(|t| Some(field(t.guest_view.as_ref()?))),
                )
            })
            .flatten()
    };
    Some(MemoryView {
        env: e,
        process_peak_rss_bytes: rss,
        process_peak_pss_bytes: median_u64(
            trials
                .iter()
                .filter_map(|t| t.summary.as_ref()?.peak_pss_bytes),
        ),
        // The cgroup's own high-water mark where it was read, else the highest sample.
        cgroup_peak_bytes: median_u64(trials.iter().filter_map(|t| {
            t.cgroup
                .as_ref()
                .and_then(|c| c.memory_peak_bytes)
                .or(t.summary.as_ref()?.peak_cgroup_memory_bytes)
        })),
        guest_mem_total_bytes: guest(|v| v.mem_total_bytes),
        guest_mem_available_bytes: guest(|v| v.mem_available_bytes),
    })
}

/// How quiet the host was over an environment's measured trials.
fn quiet_view(e: EnvKind, trials: &[&Trial]) -> Option<QuietView> {
    let noise: Vec<&crate::results::Noise> =
        trials.iter().filter_map(|t| t.noise.as_ref()).collect();
    if noise.is_empty() {
        return None;
    }
    let pct = |ns: u64, n: &crate::results::Noise| {
        ns as f64 / (n.wall_ns.max(1) as f64 * n.cpus.len().max(1) as f64) * 100.0
    };
    let foreign: Vec<f64> = noise.iter().map(|n| pct(n.foreign_cpu_ns, n)).collect();
    let steal: Vec<f64> = noise.iter().map(|n| pct(n.steal_ns, n)).collect();
    Some(QuietView {
        env: e,
        trials: noise.len(),
        noisy: noise.iter().filter(|n| n.noisy).count(),
        foreign_pct: stats::median(&foreign).unwrap_or(0.0),
        foreign_max_pct: foreign.iter().copied().fold(0.0, f64::max),
        steal_pct: stats::median(&steal).unwrap_or(0.0),
        runnable_max: noise.iter().filter_map(|n| n.runnable).max().unwrap_or(0),
        concurrent_runs: noise.iter().map(|n| n.concurrent_runs).max().unwrap_or(0),
    })
}

/// The workload whose CPU and memory over time the chart compares: the first (in catalogue
/// order) sampled in the most environments, so every line shows the same work.
fn timeline_workload(results: &Results) -> Option<Workload> {
    let mut best: Option<(usize, Workload)> = None;
    for w in Workload::ALL {
        let envs = results
            .config
            .envs
            .iter()
            .filter(|&&e| {
                results
                    .measured()
                    .any(|t| t.env == e && t.workload == w && t.samples.len() >= 3)
            })
            .count();
        if envs > 0 && best.is_none_or(|(n, _)| envs > n) {
            best = Some((envs, w));
        }
    }
    best.map(|(_, w)| w)
}

/// CPU and RSS over time of the first sampled trial of `workload` in an environment.
fn timeline(e: EnvKind, workload: Workload, trials: &[&Trial]) -> Option<Timeline> {
    let t = trials
        .iter()
        .find(|t| t.workload == workload && t.samples.len() >= 3)?;
    let points = t
        .samples
        .windows(2)
        .map(|w| {
            let dt = (w[1].t_ns.saturating_sub(w[0].t_ns)).max(1) as f64;
            let dcpu = w[1].cpu_total_ns().saturating_sub(w[0].cpu_total_ns()) as f64;
            (
                w[1].t_ns as f64 / 1e9,
                dcpu / dt,
                w[1].rss_bytes as f64 / (1u64 << 20) as f64,
            )
        })
        .collect();
    Some(Timeline {
        env: e,
        workload: t.workload,
        points,
    })
}

/// What an unfinished run is missing, against its plan's minimum repetitions.
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
    /// Builds the view of one results file, with `baseline` to compare against.
    pub fn build(
        label: &str,
        results: &Results,
        baseline: Option<&Results>,
        margin: f64,
    ) -> RunView {
        let mut envs: Vec<EnvKind> = results.config.envs.clone();
        let mut workload_names = results.config.workloads.clone();
        for t in &results.trials {
            if !envs.contains(&t.env) {
                envs.push(t.env);
            }
            if !workload_names.contains(&t.workload) {
                workload_names.push(t.workload);
            }
        }
        let workloads: Vec<WorkloadView> = workload_names
            .iter()
            .filter_map(|&w| workload_view(results, w, &envs, baseline, margin))
            .collect();
        let (mut startup, mut memory, mut timelines) = (Vec::new(), Vec::new(), Vec::new());
        let mut quiet = Vec::new();
        let over_time = timeline_workload(results);
        for &e in &envs {
            let trials: Vec<&Trial> = results.succeeded(e).collect();
            startup.extend(startup_view(e, &trials));
            memory.extend(memory_view(e, &trials));
            timelines.extend(over_time.and_then(|w| timeline(e, w, &trials)));
            let measured: Vec<&Trial> = results.measured().filter(|t| t.env == e).collect();
            quiet.extend(quiet_view(e, &measured));
        }
        let start_split = startup
            .iter()
            .filter(|s| s.env.family() != Family::Vm)
            .map(StartSplit::of)
            .collect();
        let startup_ms = startup.iter().map(|s| (s.env, s.summary.median)).collect();
        let syscall_ns = workloads
            .iter()
            .filter(|w| w.name == Workload::Syscall)
            .flat_map(|w| w.rows.iter().filter(|r| r.n > 0).map(|r| (r.env, r.median)))
            .collect();
        let spectrum = super::spectrum::rows(results, &envs, &startup_ms, &syscall_ns);
        RunView {
            label: label.to_string(),
            spectrum,
            seen: super::seen::views(results, &envs),
            network: super::network::NetworkView::of(results, &envs, margin),
            envs,
            workloads,
            start_split,
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
            footprints: results
                .environments
                .iter()
                .filter_map(|e| {
                    Some((
                        e.env,
                        e.footprint_bytes?,
                        e.footprint.clone().unwrap_or_default(),
                    ))
                })
                .collect(),
            failures: results
                .trials
                .iter()
                .filter_map(|t| Some((t.env, t.workload, t.rep, t.error.clone()?)))
                .collect(),
            quiet,
            incomplete: incomplete(results),
            noisy: results
                .measured()
                .filter_map(|t| {
                    let n = t.noise.as_ref().filter(|n| n.noisy)?;
                    Some((t.env, t.workload, t.rep, n.reasons.join("; ")))
                })
                .collect(),
            density: super::density::DensityView::of(results),
            results: results.header(),
        }
    }
}

/// One run's figure in the side-by-side table.
#[derive(Debug, Clone, Serialize)]
pub struct AcrossCell {
    /// Median headline value.
    pub median: f64,
    /// Its 95% CI.
    pub ci: Option<Interval>,
    /// Ratio to the run's own native, with its CI.
    pub ratio: Option<Ratio>,
}

/// One workload in one environment across runs (nodes of a fleet, or runs compared), with
/// the pairs of runs whose figures disagree beyond their 95% CIs.
#[derive(Debug, Clone, Serialize)]
pub struct AcrossRow {
    /// Workload.
    pub workload: Workload,
    /// Environment.
    pub env: EnvKind,
    /// Unit of the medians.
    pub unit: String,
    /// One cell per run, in run order (None where the run has no figure).
    pub cells: Vec<Option<AcrossCell>>,
    /// Pairs of run indices that disagree: for native, their medians' CIs do not overlap;
    /// for other environments, their ratios' CIs do not (the cost of isolation differs).
    pub disagree: Vec<(usize, usize)>,
}

/// Whether two intervals share no point.
fn apart(a: Option<Interval>, b: Option<Interval>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.hi < b.lo || b.hi < a.lo)
}

/// The side-by-side rows of several runs: every (workload, environment) any run has.
pub fn across(runs: &[RunView]) -> Vec<AcrossRow> {
    let mut keys: Vec<(Workload, EnvKind, String)> = Vec::new();
    for run in runs {
        for w in &run.workloads {
            for r in &w.rows {
                let key = (w.name, r.env, w.unit.clone());
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
    }
    keys.into_iter()
        .map(|(workload, env, unit)| {
            let cells: Vec<Option<AcrossCell>> = runs
                .iter()
                .map(|run| {
                    let row = run
                        .workloads
                        .iter()
                        .find(|x| x.name == workload && x.unit == unit)?
                        .rows
                        .iter()
                        .find(|r| r.env == env && r.n > 0)?;
                    Some(AcrossCell {
                        median: row.median,
                        ci: row.ci,
                        ratio: row.ratio,
                    })
                })
                .collect();
            let disagree = disagreeing(env, &cells);
            AcrossRow {
                workload,
                env,
                unit,
                cells,
                disagree,
            }
        })
        .collect()
}

/// Pairs of cells whose intervals do not overlap: medians for native, ratios otherwise.
fn disagreeing(env: EnvKind, cells: &[Option<AcrossCell>]) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for i in 0..cells.len() {
        for j in i + 1..cells.len() {
            let (Some(a), Some(b)) = (&cells[i], &cells[j]) else {
                continue;
            };
            let split = if env == EnvKind::Native {
                apart(a.ci, b.ci)
            } else {
                apart(a.ratio.and_then(|r| r.ci), b.ratio.and_then(|r| r.ci))
            };
            if split {
                pairs.push((i, j));
            }
        }
    }
    pairs
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(median: f64, ci: (f64, f64), ratio: Option<(f64, f64, f64)>) -> Option<AcrossCell> {
        Some(AcrossCell {
            median,
            ci: Some(Interval { lo: ci.0, hi: ci.1 }),
            ratio: ratio.map(|(value, lo, hi)| Ratio {
                value,
                ci: Some(Interval { lo, hi }),
            }),
        })
    }

    #[test]
    fn runs_disagree_only_where_their_intervals_part() {
        // Native: raw speed, compared by the medians' intervals.
        let natives = [
            cell(10.0, (9.0, 11.0), None),
            cell(10.5, (10.0, 12.0), None),
            cell(20.0, (19.0, 21.0), None),
            None,
        ];
        assert_eq!(disagreeing(EnvKind::Native, &natives), vec![(0, 2), (1, 2)]);
        // Elsewhere: the cost of isolation, compared by the ratios' intervals, whatever the
        // medians (a slower node with the same overhead agrees).
        let vms = [
            cell(100.0, (90.0, 110.0), Some((10.0, 9.0, 11.0))),
            cell(200.0, (190.0, 210.0), Some((10.2, 9.5, 10.8))),
            cell(100.0, (90.0, 110.0), Some((1.1, 1.05, 1.15))),
        ];
        assert_eq!(disagreeing(EnvKind::VmTcg, &vms), vec![(0, 2), (1, 2)]);
        let unknown = [
            cell(1.0, (0.9, 1.1), Some((2.0, 1.9, 2.1))),
            Some(AcrossCell {
                median: 9.0,
                ci: None,
                ratio: None,
            }),
        ];
        assert!(
            disagreeing(EnvKind::Container, &unknown).is_empty(),
            "no interval, no verdict"
        );
    }
}
