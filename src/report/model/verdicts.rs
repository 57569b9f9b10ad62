//! The run's verdicts in one place: every pair (a workload in an environment, against
//! native) whose verdict is decided first, then those left undecided with the interval they
//! reached and, for an adaptive run, why no more rounds went to them.

use super::WorkloadView;
use crate::ids::EnvKind;
use crate::results::Results;
use crate::stats::{Decision, Ratio, Verdict};
use serde::Serialize;
use vmbench_workload::{Better, Workload};

/// One pair's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictRow {
    /// The workload.
    pub workload: Workload,
    /// The environment.
    pub env: EnvKind,
    /// Which way is better for its headline metric.
    pub better: Better,
    /// Its ratio to native, with the CI.
    pub ratio: Ratio,
    /// What the ratio says.
    pub verdict: Verdict,
    /// Whether more rounds could change it.
    pub decision: Decision,
    /// Repetitions measured.
    pub n: usize,
    /// Why it was left undecided, where the run says.
    pub why: Option<String>,
}

/// Every pair's verdict, decided ones first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdicts {
    /// The pairs whose verdict more rounds could not change, in workload order.
    pub decided: Vec<VerdictRow>,
    /// The pairs left undecided, with the interval they reached.
    pub undecided: Vec<VerdictRow>,
    /// Why an adaptive run stopped adding rounds, and its budget in seconds.
    pub stopped: Option<(String, f64)>,
}

impl Verdicts {
    /// The verdicts of a run's workload sections, with the run's own record of why.
    pub fn of(workloads: &[WorkloadView], results: &Results) -> Verdicts {
        let record = results.adaptive.as_ref();
        let mut v = Verdicts {
            stopped: record.map(|r| (r.stopped.clone(), r.budget_s)),
            ..Verdicts::default()
        };
        for w in workloads {
            for row in &w.rows {
                let (Some(ratio), Some(verdict), Some(decision)) =
                    (row.ratio, row.verdict, row.decision)
                else {
                    continue;
                };
                let why = record.and_then(|r| {
                    r.pairs
                        .iter()
                        .find(|p| p.env == row.env && p.workload == w.name)
                        .and_then(|p| p.why.clone())
                });
                let line = VerdictRow {
                    workload: w.name,
                    env: row.env,
                    better: w.better,
                    ratio,
                    verdict,
                    decision,
                    n: row.n,
                    why,
                };
                match decision {
                    Decision::Undecided => v.undecided.push(line),
                    Decision::Same | Decision::Different => v.decided.push(line),
                }
            }
        }
        v
    }

    /// How many pairs are decided, of how many.
    pub fn count(&self) -> (usize, usize) {
        (
            self.decided.len(),
            self.decided.len() + self.undecided.len(),
        )
    }
}
