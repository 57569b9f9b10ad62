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

/// How well one environment's figure for `workload` is known: the 95% CI half-width of its
/// ratio to native (or of its own median, for native or without native), as a fraction.
pub fn half_width(results: &Results, workload: Workload, env: EnvKind) -> Option<f64> {
    let values = |env: EnvKind| -> Vec<f64> {
        results
            .measured()
            .filter(|t| t.workload == workload && t.env == env && t.error.is_none())
            .filter_map(|t| t.headline().map(|m| m.value))
            .collect()
    };
    let xs = values(env);
    let native = values(EnvKind::Native);
    if !env.is_native() && !native.is_empty() {
        let r = crate::stats::ratio_of_medians(&xs, &native)?;
        Some(r.ci?.relative_half_width(r.value))
    } else {
        let s = crate::stats::Summary::of(&xs)?;
        Some(s.median_ci?.relative_half_width(s.median))
    }
}

/// Wall time the trials of one workload in one environment took so far (warm-ups included).
fn spent(results: &Results, workload: Workload, env: EnvKind) -> Duration {
    let ns: u64 = results
        .trials
        .iter()
        .chain(&results.warmup_trials)
        .filter(|t| t.workload == workload && t.env == env)
        .filter_map(|t| t.lifetime_ns)
        .sum();
    Duration::from_nanos(ns)
}

/// The plan as a sequence of steps. An adaptive plan adds rounds to each workload, each with
/// the environments whose ratio is not yet known to the target (and native, the ratios'
/// denominator), while their share of the time budget lasts: cheap pairs get many
/// repetitions, expensive ones few.
pub struct Schedule<'a> {
    plan: &'a Plan,
    workload: usize,
    rep: u32,
    queue: VecDeque<Step>,
    extra: usize,
    pair_budget: Duration,
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
            pair_budget: Duration::ZERO,
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
            if self.rep == 0 {
                self.pair_budget = self.share(elapsed) / plan.envs.len().max(1) as u32;
            }
            let (envs, runs, warmup) = match plan.mode {
                Mode::Warm if self.rep == 0 => {
                    (plan.envs.clone(), plan.warmup + plan.reps, plan.warmup)
                }
                Mode::Warm => (Vec::new(), 0, 0),
                Mode::Cold => (
                    self.round(results, workload, elapsed),
                    1,
                    u32::from(self.rep < plan.warmup),
                ),
            };
            if envs.is_empty() {
                self.workload += 1;
                self.rep = 0;
                continue;
            }
            let rep = self.rep;
            self.queue.extend(envs.into_iter().map(|env| Step {
                workload,
                env,
                rep,
                runs,
                warmup,
            }));
            self.rep += 1;
        }
    }

    /// This workload's share of what is left of the time budget.
    fn share(&self, elapsed: Duration) -> Duration {
        let left = self
            .plan
            .workloads
            .len()
            .saturating_sub(self.workload)
            .max(1) as u32;
        self.plan.adaptive.map_or(Duration::ZERO, |a| {
            a.max_time.saturating_sub(elapsed) / left
        })
    }

    /// Cold mode: the environments of the workload's next round, in order (none: it is done).
    fn round(&mut self, results: &Results, workload: Workload, elapsed: Duration) -> Vec<EnvKind> {
        let plan = self.plan;
        let order = plan.env_order(self.workload, self.rep);
        let measured = self.rep.saturating_sub(plan.warmup);
        if self.rep < plan.warmup || measured < plan.reps {
            return order;
        }
        let Some(adaptive) = plan.adaptive else {
            return Vec::new();
        };
        if measured >= adaptive.max_reps || elapsed >= adaptive.max_time {
            return Vec::new();
        }
        let alone = plan.envs.len() == 1;
        let wants_more = |env: EnvKind| {
            (alone || !env.is_native())
                && half_width(results, workload, env)
                    .is_none_or(|h| h * 100.0 > adaptive.target_pct)
                && spent(results, workload, env) < self.pair_budget
        };
        if !plan.envs.iter().any(|&e| wants_more(e)) {
            return Vec::new();
        }
        let round: Vec<EnvKind> = order
            .into_iter()
            .filter(|&e| wants_more(e) || e.is_native())
            .collect();
        self.extra += round.len();
        round
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
