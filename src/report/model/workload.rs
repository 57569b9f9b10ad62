//! One workload's section of a run: its median per environment with the 95% CI, the ratio to
//! native with its verdict, and the change against a baseline.

use crate::ids::EnvKind;
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
    /// Whether more repetitions could still change what the ratio says.
    pub decision: Option<stats::Decision>,
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

fn ok_values(trials: &[&Trial]) -> Vec<f64> {
    trials
        .iter()
        .filter(|t| t.error.is_none())
        .filter_map(|t| t.headline().map(|m| m.value))
        .collect()
}

/// Measured trials of one workload in one environment.
fn trials_of(r: &Results, w: Workload, e: EnvKind) -> Vec<&Trial> {
    r.measured()
        .filter(|t| t.workload == w && t.env == e)
        .collect()
}

/// One workload's section: a row per environment, with ratios to native and the baseline.
pub(super) fn workload_view(
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
            decision: ratio.map(|r| stats::decision(&r, margin)),
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
