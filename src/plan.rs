//! What to run and in which order: workloads × environments × repetitions, with environments
//! interleaved inside each repetition (A B C A B C ...) so drift on a shared machine spreads
//! over all of them instead of biasing one. Cold plans start a new instance per repetition;
//! warm ones run every repetition in one instance. Adaptive plans add repetitions until every
//! environment's ratio to native is known well enough, or the budget runs out.
//!
//! Pure: the [`Schedule`] hands out steps one at a time and looks only at the results so far.

use crate::config::{Adaptive, Mode, Order, RunConfig};
use crate::ids::EnvKind;
use crate::results::Results;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::VecDeque;
use std::time::Duration;
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
}

/// Whether every environment's ratio to native (or, without native, its median) for
/// `workload` has a 95% CI half-width under `target_pct`.
pub fn converged(results: &Results, workload: Workload, envs: &[EnvKind], target_pct: f64) -> bool {
    let values = |env: EnvKind| -> Vec<f64> {
        results
            .measured()
            .filter(|t| t.workload == workload && t.env == env && t.error.is_none())
            .filter_map(|t| t.headline().map(|m| m.value))
            .collect()
    };
    let native = values(EnvKind::Native);
    envs.iter().all(|&env| {
        let xs = values(env);
        let half = if env.is_native() && envs.len() > 1 {
            // Its precision shows in every other environment's ratio.
            (!xs.is_empty()).then_some(0.0)
        } else if !env.is_native() && !native.is_empty() {
            crate::stats::ratio_of_medians(&xs, &native)
                .and_then(|r| Some(r.ci?.relative_half_width(r.value)))
        } else {
            crate::stats::Summary::of(&xs)
                .and_then(|s| Some(s.median_ci?.relative_half_width(s.median)))
        };
        half.is_some_and(|h| h * 100.0 <= target_pct)
    })
}

/// The plan as a sequence of steps, extended while adaptive stopping asks for more.
pub struct Schedule<'a> {
    plan: &'a Plan,
    workload: usize,
    rep: u32,
    queue: VecDeque<Step>,
    extra: usize,
}

impl<'a> Schedule<'a> {
    /// The schedule of `plan`, at its start.
    pub fn new(plan: &'a Plan) -> Schedule<'a> {
        Schedule {
            plan,
            workload: 0,
            rep: 0,
            queue: VecDeque::new(),
            extra: 0,
        }
    }

    /// Trials expected so far (grows when adaptive stopping adds repetitions).
    pub fn total(&self) -> usize {
        self.plan.expected_trials() + self.extra
    }

    /// The next step, given the results so far and the time since the run started.
    pub fn next(&mut self, results: &Results, elapsed: Duration) -> Option<Step> {
        let plan = self.plan;
        loop {
            if let Some(step) = self.queue.pop_front() {
                return Some(step);
            }
            let &workload = plan.workloads.get(self.workload)?;
            let round = match plan.mode {
                Mode::Warm if self.rep == 0 => plan
                    .envs
                    .iter()
                    .map(|&env| Step {
                        workload,
                        env,
                        rep: 0,
                        runs: plan.warmup + plan.reps,
                        warmup: plan.warmup,
                    })
                    .collect(),
                Mode::Warm => Vec::new(),
                Mode::Cold if self.wants_another_round(results, workload, elapsed) => plan
                    .env_order(self.workload, self.rep)
                    .into_iter()
                    .map(|env| Step {
                        workload,
                        env,
                        rep: self.rep,
                        runs: 1,
                        warmup: u32::from(self.rep < plan.warmup),
                    })
                    .collect(),
                Mode::Cold => Vec::new(),
            };
            if round.is_empty() {
                self.workload += 1;
                self.rep = 0;
                continue;
            }
            self.rep += 1;
            self.queue.extend(round);
        }
    }

    /// Cold mode: whether the workload gets another round of repetitions.
    fn wants_another_round(
        &mut self,
        results: &Results,
        workload: Workload,
        elapsed: Duration,
    ) -> bool {
        let plan = self.plan;
        let measured = self.rep.saturating_sub(plan.warmup);
        if self.rep < plan.warmup || measured < plan.reps {
            return true;
        }
        let Some(adaptive) = plan.adaptive else {
            return false;
        };
        let more = measured < adaptive.max_reps
            && elapsed < adaptive.max_time
            && !converged(results, workload, &plan.envs, adaptive.target_pct);
        if more {
            self.extra += plan.envs.len();
        }
        more
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
            mode: Mode::Cold,
            adaptive: None,
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

    #[test]
    fn a_cold_schedule_interleaves_warm_ups_first_then_measured_rounds() {
        let mut p = plan(Order::Fixed);
        p.envs = vec![EnvKind::Native, EnvKind::Container];
        p.reps = 2;
        let results = crate::results::tests::sample_results();
        let mut s = Schedule::new(&p);
        let mut steps = Vec::new();
        while let Some(step) = s.next(&results, Duration::ZERO) {
            steps.push((step.workload, step.env, step.rep, step.warmup));
        }
        use EnvKind::{Container as C, Native as N};
        use Workload::{Noop, Syscall};
        assert_eq!(
            steps,
            vec![
                (Noop, N, 0, 1),
                (Noop, C, 0, 1),
                (Noop, N, 1, 0),
                (Noop, C, 1, 0),
                (Noop, N, 2, 0),
                (Noop, C, 2, 0),
                (Syscall, N, 0, 1),
                (Syscall, C, 0, 1),
                (Syscall, N, 1, 0),
                (Syscall, C, 1, 0),
                (Syscall, N, 2, 0),
                (Syscall, C, 2, 0),
            ]
        );
        assert_eq!(s.total(), steps.len());
    }

    #[test]
    fn a_warm_schedule_runs_every_repetition_in_one_instance() {
        let mut p = plan(Order::Fixed);
        p.mode = Mode::Warm;
        p.envs = vec![EnvKind::Native, EnvKind::VmTcg];
        p.reps = 3;
        let results = crate::results::tests::sample_results();
        let mut s = Schedule::new(&p);
        let mut steps = Vec::new();
        while let Some(step) = s.next(&results, Duration::ZERO) {
            steps.push(step);
        }
        assert_eq!(steps.len(), 4, "one instance per workload and environment");
        assert!(steps.iter().all(|s| s.runs == 4 && s.warmup == 1));
        assert_eq!(s.total(), 2 * 2 * 4, "trials, one per run");
    }

    #[test]
    fn an_adaptive_schedule_stops_at_its_repetition_cap_when_nothing_converges() {
        let mut p = plan(Order::Fixed);
        p.workloads = vec![Workload::CpuInt];
        p.envs = vec![EnvKind::Native, EnvKind::Container];
        p.reps = 2;
        p.warmup = 0;
        p.adaptive = Some(Adaptive {
            target_pct: 1.0,
            max_reps: 4,
            max_time: Duration::from_secs(60),
        });
        // No trials at all: never converged.
        let results = crate::results::tests::sample_results();
        let mut s = Schedule::new(&p);
        let mut n = 0;
        while s.next(&results, Duration::ZERO).is_some() {
            n += 1;
        }
        assert_eq!(n, 4 * 2);
        assert_eq!(s.total(), n);
        // Out of time after the minimum.
        let mut s = Schedule::new(&p);
        let mut n = 0;
        while s.next(&results, Duration::from_secs(61)).is_some() {
            n += 1;
        }
        assert_eq!(n, 2 * 2, "the minimum repetitions always run");
    }
}
