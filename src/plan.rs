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
use crate::stats;
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

/// The plan as a sequence of steps: every workload's minimum rounds first, then, for an
/// adaptive plan, extra rounds, each of one workload with native (the ratios' denominator)
/// and the environments whose ratio is not yet known to the target, while the time budget
/// lasts: first for the pairs predicted to reach the target soonest, then, when none can in
/// time, for every pair within its share of the budget.
pub struct Schedule<'a> {
    plan: &'a Plan,
    /// Workloads whose minimum rounds are queued (the minimum phase).
    started: usize,
    /// Extra phase: the next workload to consider, and each workload's next repetition.
    cursor: usize,
    next_rep: Vec<u32>,
    queue: VecDeque<Step>,
    extra: usize,
}

impl<'a> Schedule<'a> {
    /// The schedule of `plan`, at its start.
    pub fn new(plan: &'a Plan) -> Schedule<'a> {
        Schedule {
            plan,
            started: 0,
            cursor: 0,
            next_rep: vec![plan.warmup + plan.reps; plan.workloads.len()],
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
        loop {
            if let Some(step) = self.queue.pop_front() {
                return Some(step);
            }
            if self.started < self.plan.workloads.len() {
                self.queue_minimum(self.started);
                self.started += 1;
                continue;
            }
            let steps = self.extra_round(results, elapsed)?;
            self.extra += steps.len();
            self.queue.extend(steps);
        }
    }

    /// Every minimum round of the workload at `index`, interleaved.
    fn queue_minimum(&mut self, index: usize) {
        let plan = self.plan;
        let workload = plan.workloads[index];
        match plan.mode {
            Mode::Warm => self.queue.extend(plan.envs.iter().map(|&env| Step {
                workload,
                env,
                rep: 0,
                runs: plan.warmup + plan.reps,
                warmup: plan.warmup,
            })),
            Mode::Cold => {
                for rep in 0..plan.warmup + plan.reps {
                    self.queue
                        .extend(plan.env_order(index, rep).into_iter().map(|env| Step {
                            workload,
                            env,
                            rep,
                            runs: 1,
                            warmup: u32::from(rep < plan.warmup),
                        }));
                }
            }
        }
    }

    /// The next extra round; `None` when the budget is spent or every pair is known well
    /// enough, has its most repetitions, or costs more than it may.
    fn extra_round(&mut self, results: &Results, elapsed: Duration) -> Option<Vec<Step>> {
        let plan = self.plan;
        let adaptive = plan.adaptive.filter(|_| plan.mode == Mode::Cold)?;
        let left = adaptive.max_time.checked_sub(elapsed)?;
        let wanting: Vec<Vec<EnvKind>> = plan
            .workloads
            .iter()
            .enumerate()
            .map(|(i, &w)| self.wanting(results, i, w, &adaptive))
            .collect();
        let (index, envs) = self
            .closest_to_target(results, &wanting, left, &adaptive)
            .or_else(|| self.fair_share(results, &wanting, left))?;
        self.cursor = index + 1;
        let rep = self.next_rep[index];
        self.next_rep[index] += 1;
        let round = plan
            .env_order(index, rep)
            .into_iter()
            .filter(|&e| e.is_native() || envs.contains(&e))
            .map(|env| Step {
                workload: plan.workloads[index],
                env,
                rep,
                runs: 1,
                warmup: 0,
            })
            .collect();
        Some(round)
    }

    /// The workload whose pairs can reach the target soonest, with those of its pairs that
    /// are predicted to reach it within what is left of the budget. The CI narrows as one
    /// over the square root of the repetitions, so a pair at twice the target needs four
    /// times its repetitions: finishing the nearest pairs first converges the most pairs.
    fn closest_to_target(
        &self,
        results: &Results,
        wanting: &[Vec<EnvKind>],
        left: Duration,
        adaptive: &Adaptive,
    ) -> Option<(usize, Vec<EnvKind>)> {
        let plan = self.plan;
        let mut best: Option<(Duration, usize, Vec<EnvKind>)> = None;
        for offset in 0..plan.workloads.len() {
            let i = (self.cursor + offset) % plan.workloads.len();
            let w = plan.workloads[i];
            let done = self.next_rep[i] - plan.warmup;
            let costs: Vec<(EnvKind, Duration)> = wanting[i]
                .iter()
                .filter_map(|&e| {
                    let to_go = reps_to_target(half_width(results, w, e), done, adaptive)?;
                    let round = mean_cost(results, w, e) + mean_cost(results, w, EnvKind::Native);
                    Some((e, round * to_go))
                })
                .filter(|&(_, cost)| cost <= left)
                .collect();
            let Some(soonest) = costs.iter().map(|c| c.1).min() else {
                continue;
            };
            if best.as_ref().is_none_or(|b| soonest < b.0) {
                best = Some((soonest, i, costs.into_iter().map(|c| c.0).collect()));
            }
        }
        best.map(|(_, i, envs)| (i, envs))
    }

    /// When no pair can reach the target in time: workloads in turn, each pair joining a
    /// round while one more of its trials costs no more than its share of what is left
    /// (more repetitions still narrow its CI). Cheap pairs (containers, milliseconds) get
    /// many repetitions, expensive ones (TCG guests, seconds) few.
    fn fair_share(
        &self,
        results: &Results,
        wanting: &[Vec<EnvKind>],
        left: Duration,
    ) -> Option<(usize, Vec<EnvKind>)> {
        let plan = self.plan;
        let pairs: usize = wanting.iter().map(Vec::len).sum();
        let slice = left / pairs.max(1) as u32;
        (0..plan.workloads.len())
            .map(|offset| (self.cursor + offset) % plan.workloads.len())
            .map(|i| {
                let w = plan.workloads[i];
                let native = mean_cost(results, w, EnvKind::Native);
                let envs = wanting[i]
                    .iter()
                    .copied()
                    .filter(|&e| mean_cost(results, w, e) + native <= slice)
                    .collect::<Vec<_>>();
                (i, envs)
            })
            .find(|(_, envs)| !envs.is_empty())
    }

    /// The environments of workload `w` (at `index`) that want another repetition.
    fn wanting(
        &self,
        results: &Results,
        index: usize,
        w: Workload,
        adaptive: &Adaptive,
    ) -> Vec<EnvKind> {
        let plan = self.plan;
        if self.next_rep[index] - plan.warmup >= adaptive.max_reps {
            return Vec::new();
        }
        let alone = plan.envs.len() == 1;
        plan.envs
            .iter()
            .copied()
            .filter(|&e| alone || !e.is_native())
            .filter(|&e| half_width(results, w, e).is_none_or(|h| h * 100.0 > adaptive.target_pct))
            .collect()
    }
}

/// The repetitions a pair with CI half-width `half` after `done` repetitions still needs to
/// reach the target, assuming its spread stays as it is (at least one); `None` when its
/// repetition cap comes first.
fn reps_to_target(half: Option<f64>, done: u32, adaptive: &Adaptive) -> Option<u32> {
    let Some(half) = half.filter(|h| h.is_finite()) else {
        return Some(1);
    };
    let needed = f64::from(done.max(1)) * (half * 100.0 / adaptive.target_pct).powi(2);
    let to_go = (needed.ceil().min(f64::from(u32::MAX)) as u32)
        .saturating_sub(done)
        .max(1);
    (done + to_go <= adaptive.max_reps).then_some(to_go)
}

/// The mean wall time of one trial of a workload in an environment so far.
fn mean_cost(results: &Results, workload: Workload, env: EnvKind) -> Duration {
    let lifetimes: Vec<u64> = results
        .trials
        .iter()
        .chain(&results.warmup_trials)
        .filter(|t| t.workload == workload && t.env == env)
        .filter_map(|t| t.lifetime_ns)
        .collect();
    Duration::from_nanos(lifetimes.iter().sum::<u64>() / lifetimes.len().max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Trial;

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

    /// Measured trials of one pair, `values[r]` in round `r`, each lasting `cost`.
    fn trials(workload: Workload, env: EnvKind, values: &[f64], cost: Duration) -> Vec<Trial> {
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
    fn extra_rounds_go_first_to_the_pairs_nearest_their_target() {
        let mut p = plan(Order::Fixed);
        p.workloads = vec![Workload::CpuInt, Workload::MemBw];
        p.envs = vec![EnvKind::Native, EnvKind::Container];
        (p.reps, p.warmup) = (5, 0);
        p.adaptive = Some(Adaptive {
            target_pct: 3.0,
            max_reps: 50,
            max_time: Duration::from_secs(60),
        });
        let mut results = crate::results::tests::sample_results();
        let ms = Duration::from_millis(100);
        let native = [100.0; 5];
        // cpu-int: ratios spread ±12% (far from 3%); mem-bw: ±4% (near).
        results.trials = [
            trials(Workload::CpuInt, EnvKind::Native, &native, ms),
            trials(
                Workload::CpuInt,
                EnvKind::Container,
                &[88.0, 112.0, 95.0, 108.0, 100.0],
                ms,
            ),
            trials(Workload::MemBw, EnvKind::Native, &native, ms),
            trials(
                Workload::MemBw,
                EnvKind::Container,
                &[96.0, 104.0, 98.0, 102.0, 100.0],
                ms,
            ),
        ]
        .concat();
        let far = half_width(&results, Workload::CpuInt, EnvKind::Container).unwrap();
        let near = half_width(&results, Workload::MemBw, EnvKind::Container).unwrap();
        assert!(far > 2.0 * near && near > 0.03, "far {far}, near {near}");
        let mut s = Schedule::new(&p);
        let minimum: Vec<Step> = (0..20).map_while(|_| s.next(&results, ms)).collect();
        assert_eq!(minimum.len(), 20);
        let next = s.next(&results, ms).unwrap();
        assert_eq!(
            (next.workload, next.rep),
            (Workload::MemBw, 5),
            "the nearer pair first"
        );
        // With no time for mem-bw's predicted repetitions either, both share what is left.
        let mut s = Schedule::new(&p);
        (0..20).for_each(|_| {
            s.next(&results, ms);
        });
        let late = Duration::from_millis(59_500);
        let round: Vec<Step> = (0..2).map_while(|_| s.next(&results, late)).collect();
        assert_eq!(
            round.len(),
            2,
            "native and the container, within the fair share"
        );
        assert_eq!(round[0].workload, Workload::CpuInt, "workloads in turn");
    }
}
