//! Runs side by side: each run's figure with its ratio to that run's own native, and the
//! pairs of runs whose figures disagree beyond their intervals.

use super::RunView;
use crate::ids::EnvKind;
use crate::stats::{Interval, Ratio};
use serde::Serialize;
use vmbench_workload::Workload;

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
