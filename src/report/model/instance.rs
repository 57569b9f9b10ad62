//! What one instance of each environment costs and shows, over its successful trials:
//! startup and where it goes, memory, the collector's timeline, how quiet the host was.

use crate::ids::{EnvKind, Family, Phase};
use crate::results::{Results, Trial};
use crate::stats::{self, Summary};
use serde::Serialize;
use vmbench_workload::Workload;

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
    pub phases_ms: Vec<(Phase, f64)>,
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
            .filter(|(n, _)| *n != Phase::FirstOutput)
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

/// One container environment's noop start measured apart from the rounds, after a quiet
/// spell and back to back, beside its noop start in the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct SpacedStart {
    /// Environment.
    pub env: EnvKind,
    /// Median noop start in the rounds, where other environments ran between its starts, ms.
    pub rounds_ms: Option<f64>,
    /// Median start after a quiet spell, ms, and how many.
    pub isolated: (f64, usize),
    /// Median start right after the previous one, ms, and how many.
    pub back_to_back: (f64, usize),
    /// Median move into the cgroup (the phase before `cgroup_attach` to it), after a quiet
    /// spell and back to back, ms, where the environment records it.
    pub attach_ms: Option<(f64, f64)>,
}

/// The spaced starts of every container environment that has both kinds.
pub(super) fn spaced_starts(results: &Results) -> Vec<SpacedStart> {
    use crate::results::StartSpacing;
    let mut envs: Vec<EnvKind> = Vec::new();
    for t in &results.start_trials {
        if !envs.contains(&t.env) {
            envs.push(t.env);
        }
    }
    let ok = |e: EnvKind, spacing: StartSpacing| -> Vec<&Trial> {
        results
            .start_trials
            .iter()
            .filter(|t| t.env == e && t.spacing == Some(spacing) && t.error.is_none())
            .collect()
    };
    let start = |ts: &[&Trial]| {
        let xs: Vec<f64> = ts
            .iter()
            .filter_map(|t| t.startup_ns)
            .map(|ns| ns as f64 / 1e6)
            .collect();
        stats::median(&xs).map(|m| (m, xs.len()))
    };
    let attach = |ts: &[&Trial]| {
        let xs: Vec<f64> = ts.iter().filter_map(|t| attach_segment(t)).collect();
        stats::median(&xs)
    };
    envs.into_iter()
        .filter_map(|e| {
            let (iso, b2b) = (
                ok(e, StartSpacing::Isolated),
                ok(e, StartSpacing::BackToBack),
            );
            let rounds: Vec<f64> = results
                .succeeded(e)
                .filter(|t| t.workload == Workload::Noop)
                .filter_map(|t| t.startup_ns)
                .map(|ns| ns as f64 / 1e6)
                .collect();
            Some(SpacedStart {
                env: e,
                rounds_ms: stats::median(&rounds),
                isolated: start(&iso)?,
                back_to_back: start(&b2b)?,
                attach_ms: attach(&iso).zip(attach(&b2b)),
            })
        })
        .collect()
}

/// How long the move into the cgroup took: from the phase before `cgroup_attach` to it, ms.
fn attach_segment(t: &Trial) -> Option<f64> {
    let at = *t.phases.get(&Phase::CgroupAttach)?;
    let before = t
        .phases
        .iter()
        .filter(|(p, v)| !p.is_teardown() && **v < at)
        .map(|(_, v)| *v)
        .max()
        .unwrap_or(0);
    Some((at - before) as f64 / 1e6)
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
    /// Median peak RSS of the sampled process (the workload, gVisor's runtime, QEMU), bytes.
    pub process_peak_rss_bytes: u64,
    /// Median peak RSS of the launcher beside the workload (an OCI runtime, an engine's client).
    pub launcher_peak_rss_bytes: Option<u64>,
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

/// Startup of one environment over its successful trials, with the median of each phase.
pub(super) fn startup_view(e: EnvKind, trials: &[&Trial]) -> Option<StartupView> {
    let values_ms: Vec<f64> = trials
        .iter()
        .filter_map(|t| t.startup_ns)
        .map(|ns| ns as f64 / 1e6)
        .collect();
    let summary = Summary::of(&values_ms)?;
    let mut phase_names: Vec<&Phase> = Vec::new();
    for t in trials {
        for k in t.phases.keys().filter(|k| !k.is_teardown()) {
            if !phase_names.contains(&k) {
                phase_names.push(k);
            }
        }
    }
    let mut phases_ms: Vec<(Phase, f64)> = phase_names
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
pub(super) fn memory_view(e: EnvKind, trials: &[&Trial]) -> Option<MemoryView> {
    let trials: Vec<&Trial> = trials
        .iter()
        .copied()
        .filter(|t| t.memory_sampled())
        .collect();
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
        launcher_peak_rss_bytes: median_u64(
            trials
                .iter()
                .filter_map(|t| t.summary.as_ref()?.peak_launcher_rss_bytes),
        ),
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
pub(super) fn quiet_view(e: EnvKind, trials: &[&Trial]) -> Option<QuietView> {
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
pub(super) fn timeline_workload(results: &Results) -> Option<Workload> {
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
pub(super) fn timeline(e: EnvKind, workload: Workload, trials: &[&Trial]) -> Option<Timeline> {
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

fn median_u64(xs: impl Iterator<Item = u64>) -> Option<u64> {
    let v: Vec<f64> = xs.map(|x| x as f64).collect();
    stats::median(&v).map(|m| m as u64)
}
