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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(order: Order) -> Plan {
        Plan {
            workloads: vec![Workload::Noop, Workload::Syscall],
            envs: EnvKind::ALL.to_vec(),
            reps: 20,
            warmup: 1,
            order,
        }
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
}
