//! What to run and in which order: workloads × environments × repetitions, with environments
//! interleaved inside each repetition (A B C A B C ...) so drift on a shared machine spreads
//! over all of them instead of biasing one. Cold plans start a new instance per repetition;
//! warm ones run every repetition in one instance. Adaptive plans add repetitions until every
//! environment's ratio to native is known well enough, or the budget runs out.
//!
//! Pure: the warm-ups come first ([`Plan::warm_ups`]); then the [`Schedule`] hands out the
//! measured steps one at a time, looking only at the results so far: the [`Minimum`] planned
//! against the budget from the pairs' predicted [`Costs`], then extra rounds for the pairs
//! whose verdict is not decided yet, cheapest to decide first.

pub mod costs;
pub mod minimum;
pub mod schedule;

use crate::config::{Adaptive, Mode, Order, RunConfig};
use crate::ids::EnvKind;
use crate::results::Results;
use crate::stats;
pub use costs::Costs;
pub use minimum::Minimum;
use rand::seq::SliceRandom;
use rand::SeedableRng;
pub use schedule::Schedule;
use vmbench_workload::Workload;

/// One instance to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The workload.
    pub workload: Workload,
    /// The environment.
    pub env: EnvKind,
    /// Repetition index (warm-ups first); in warm mode, the index of the first run.
    pub rep: u32,
    /// Runs of the workload inside the instance (more than one in warm mode).
    pub runs: u32,
    /// The first `warmup` runs are warm-ups whose figures are discarded.
    pub warmup: u32,
}

/// The run plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// Environments that will run.
    pub envs: Vec<EnvKind>,
    /// Measured repetitions (the minimum, when adaptive).
    pub reps: u32,
    /// Warm-up repetitions before them.
    pub warmup: u32,
    /// Order within a repetition.
    pub order: Order,
    /// Cold or warm.
    pub mode: Mode,
    /// Adaptive stopping, when asked for.
    pub adaptive: Option<Adaptive>,
    /// The verdicts' equivalence margin, as a fraction.
    pub margin: f64,
}

impl Plan {
    /// The plan a configuration describes.
    pub fn from_config(config: &RunConfig) -> Plan {
        Plan {
            workloads: config.workloads.clone(),
            envs: config.envs.clone(),
            reps: config.reps,
            warmup: config.warmup,
            order: config.order,
            mode: config.mode,
            adaptive: config.adaptive(),
            margin: config.equivalence_pct / 100.0,
        }
    }

    /// Environment order for one repetition of the workload at `index`.
    pub fn env_order(&self, index: usize, rep: u32) -> Vec<EnvKind> {
        let mut envs = self.envs.clone();
        if let Order::Random(seed) = self.order {
            let mut rng =
                rand::rngs::StdRng::seed_from_u64(seed ^ ((index as u64) << 32) ^ rep as u64);
            envs.shuffle(&mut rng);
        }
        envs
    }

    /// Trials the plan makes before any adaptive extension.
    pub fn expected_trials(&self) -> usize {
        self.workloads.len() * self.envs.len() * (self.warmup + self.reps) as usize
    }

    /// The warm-up rounds of a cold plan, every workload's before any measured one, each
    /// round interleaved: with sizing, the first round of a workload is its probe. A warm
    /// plan warms up inside each instance instead.
    pub fn warm_ups(&self) -> Vec<Step> {
        if self.mode == Mode::Warm {
            return Vec::new();
        }
        let mut steps = Vec::new();
        for (index, &workload) in self.workloads.iter().enumerate() {
            for rep in 0..self.warmup {
                steps.extend(self.env_order(index, rep).into_iter().map(|env| Step {
                    workload,
                    env,
                    rep,
                    runs: 1,
                    warmup: 1,
                }));
            }
        }
        steps
    }
}

/// How well one environment's figure for `workload` is known: the 95% CI half-width of its
/// ratio to native (or of its own median, for native or without native), as a fraction.
pub fn half_width(results: &Results, workload: Workload, env: EnvKind) -> Option<f64> {
    if let Some(r) = results.ratio_to_native(workload, env) {
        return Some(r.ci?.relative_half_width(r.value));
    }
    let xs: Vec<f64> = results
        .values_by_round(workload, env)
        .into_iter()
        .map(|x| x.1)
        .collect();
    let s = stats::Summary::of(&xs)?;
    Some(s.median_ci?.relative_half_width(s.median))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::Trial;
    use std::time::Duration;

    pub(crate) fn plan(order: Order) -> Plan {
        Plan {
            workloads: vec![Workload::Noop, Workload::Syscall],
            envs: EnvKind::ALL.to_vec(),
            reps: 20,
            warmup: 1,
            order,
            mode: Mode::Cold,
            adaptive: None,
            margin: 0.03,
        }
    }

    /// Measured trials of one pair, `values[r]` in round `r`, each lasting `cost`.
    pub(crate) fn trials(
        workload: Workload,
        env: EnvKind,
        values: &[f64],
        cost: Duration,
    ) -> Vec<Trial> {
        let template = crate::results::tests::sample_results().trials.remove(0);
        values
            .iter()
            .enumerate()
            .map(|(rep, &v)| {
                let mut t = template.clone();
                (t.workload, t.env, t.rep) = (workload, env, rep as u32);
                t.metrics[0].value = v;
                t.lifetime_ns = Some(cost.as_nanos() as u64);
                t
            })
            .collect()
    }

    #[test]
    fn a_fixed_order_repeats_the_given_environments_every_repetition() {
        let p = plan(Order::Fixed);
        for rep in 0..p.warmup + p.reps {
            assert_eq!(p.env_order(1, rep), p.envs);
        }
    }

    #[test]
    fn a_shuffled_order_is_a_reproducible_permutation_that_varies() {
        let p = plan(Order::Random(9));
        let mut seen = std::collections::HashSet::new();
        for rep in 0..p.reps {
            let order = p.env_order(0, rep);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(
                sorted,
                EnvKind::ALL.to_vec(),
                "every environment once per repetition"
            );
            assert_eq!(p.env_order(0, rep), order, "same seed, same order");
            seen.insert(order);
        }
        assert!(seen.len() > 1);
        assert_ne!(
            p.env_order(0, 3),
            p.env_order(1, 3),
            "workloads get their own orders"
        );
    }

    #[test]
    fn every_workloads_warm_ups_come_before_any_measured_round() {
        let mut p = plan(Order::Fixed);
        p.envs = vec![EnvKind::Native, EnvKind::Container];
        p.warmup = 2;
        let steps: Vec<(Workload, EnvKind, u32)> = p
            .warm_ups()
            .into_iter()
            .map(|s| (s.workload, s.env, s.rep))
            .collect();
        use EnvKind::{Container as C, Native as N};
        use Workload::{Noop, Syscall};
        assert_eq!(
            steps,
            [
                (Noop, N, 0),
                (Noop, C, 0),
                (Noop, N, 1),
                (Noop, C, 1),
                (Syscall, N, 0),
                (Syscall, C, 0),
                (Syscall, N, 1),
                (Syscall, C, 1),
            ]
        );
        p.mode = Mode::Warm;
        assert!(p.warm_ups().is_empty(), "a warm instance warms up itself");
    }
}
