//! What to run and in which order: workloads × environments × repetitions, with environments
//! interleaved inside each repetition (A B C A B C ...) so drift on a shared machine spreads
//! over all of them instead of biasing one.

use crate::env::EnvKind;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use vmbench_workload::Workload;

/// How environments are ordered within a repetition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The order given, every repetition.
    Fixed,
    /// Shuffled anew each repetition, reproducibly from the seed.
    Random(u64),
}

impl Order {
    /// Label stored in the results.
    pub fn label(self) -> String {
        match self {
            Order::Fixed => "interleaved, fixed order".into(),
            Order::Random(seed) => format!("interleaved, shuffled per repetition (seed {seed})"),
        }
    }
}

/// One instance to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The workload.
    pub workload: Workload,
    /// The environment.
    pub env: EnvKind,
    /// Repetition index, warm-ups first.
    pub rep: u32,
    /// A warm-up whose figures are discarded.
    pub warmup: bool,
}

/// The run plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// Environments that will run.
    pub envs: Vec<EnvKind>,
    /// Measured repetitions.
    pub reps: u32,
    /// Warm-up repetitions before them.
    pub warmup: u32,
    /// Order within a repetition.
    pub order: Order,
}

impl Plan {
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

    /// Every step, in execution order (cold mode, no adaptive repetitions).
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for (index, &workload) in self.workloads.iter().enumerate() {
            for rep in 0..self.warmup + self.reps {
                for env in self.env_order(index, rep) {
                    steps.push(Step {
                        workload,
                        env,
                        rep,
                        warmup: rep < self.warmup,
                    });
                }
            }
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_interleave_within_each_repetition() {
        let plan = Plan {
            workloads: vec![Workload::Noop, Workload::Syscall],
            envs: vec![EnvKind::Native, EnvKind::Container],
            reps: 2,
            warmup: 1,
            order: Order::Fixed,
        };
        let steps = plan.steps();
        assert_eq!(steps.len(), 2 * 3 * 2);
        let first: Vec<_> = steps[..4]
            .iter()
            .map(|s| (s.env, s.rep, s.warmup))
            .collect();
        assert_eq!(
            first,
            vec![
                (EnvKind::Native, 0, true),
                (EnvKind::Container, 0, true),
                (EnvKind::Native, 1, false),
                (EnvKind::Container, 1, false)
            ]
        );
        assert!(steps[6..].iter().all(|s| s.workload == Workload::Syscall));
    }

    #[test]
    fn random_order_shuffles_but_keeps_every_step() {
        let plan = Plan {
            workloads: vec![Workload::Noop],
            envs: EnvKind::ALL.to_vec(),
            reps: 20,
            warmup: 0,
            order: Order::Random(9),
        };
        let steps = plan.steps();
        assert_eq!(steps.len(), 120);
        let orders: std::collections::HashSet<Vec<EnvKind>> = steps
            .chunks(6)
            .map(|c| c.iter().map(|s| s.env).collect())
            .collect();
        assert!(orders.len() > 1);
        assert_eq!(plan.steps(), steps, "same seed, same order");
    }
}
