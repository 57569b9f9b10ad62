//! How an adaptive run spent its budget: the minimum it planned (and how it was shrunk to
//! fit), why it stopped, and for every pair of a workload and an environment whether its
//! ratio to native was decided, and if not, why.

use crate::ids::EnvKind;
use serde::{Deserialize, Serialize};
use vmbench_workload::Workload;

/// The adaptive plan's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveRecord {
    /// The time budget of the whole run, seconds.
    pub budget_s: f64,
    /// What the minimum rounds were predicted to take, seconds.
    pub minimum_predicted_s: f64,
    /// How the minimum was shrunk to fit the budget, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<String>,
    /// Why the run stopped adding rounds.
    pub stopped: String,
    /// Every pair of the run.
    pub pairs: Vec<PairRecord>,
}

/// Where one pair (a workload in an environment, against native) ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairRecord {
    /// The environment.
    pub env: EnvKind,
    /// The workload.
    pub workload: Workload,
    /// Its minimum repetitions, as planned.
    pub minimum: u32,
    /// Its measured repetitions.
    pub rounds: u32,
    /// Whether its verdict can still change kind.
    pub decision: crate::stats::Decision,
    /// Whether its CI reached the target half-width.
    pub converged: bool,
    /// Why it was left undecided (the budget ended, the repetition cap), or left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl AdaptiveRecord {
    /// How many pairs were decided, of how many.
    pub fn decided(&self) -> (usize, usize) {
        let decided = self
            .pairs
            .iter()
            .filter(|p| p.decision != crate::stats::Decision::Undecided)
            .count();
        (decided, self.pairs.len())
    }
}
