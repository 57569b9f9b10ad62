//! The measured steps of a plan: each workload's minimum rounds, environments interleaved with
//! native in every round; then, for an adaptive plan, extra rounds while the budget lasts,
//! each of one workload, for native and the pairs whose verdict is not decided yet, cheapest to
//! decide first. A decided pair ("5.5× worse [5.2, 5.9]", or the same within the margin) gets
//! no more rounds: more could not change what it says.

use super::{half_width, Costs, Minimum, Plan, Step};
use crate::config::{Adaptive, Mode};
use crate::ids::EnvKind;
use crate::results::Results;
use crate::stats::{self, Decision};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use vmbench_workload::Workload;

/// Why the schedule stopped adding rounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The plan has no adaptive part (fixed repetitions, or warm instances).
    Fixed,
    /// Every pair is decided.
    AllDecided,
    /// The time budget was spent.
    Budget,
    /// Every pair left undecided has its most repetitions.
    MaxReps,
    /// No undecided pair could gain a round in the time left.
    NoneAffordable,
}

impl Stop {
    /// In words, for the results and the report.
    pub fn words(&self) -> &'static str {
        match self {
            Stop::Fixed => "a fixed plan: no rounds added",
            Stop::AllDecided => "every pair was decided",
            Stop::Budget => "the time budget ended",
            Stop::MaxReps => "every undecided pair reached its most repetitions (--max-reps)",
            Stop::NoneAffordable => {
                "no undecided pair was predicted to decide in the time left (or within --max-reps)"
            }
        }
    }
}

/// A pair that wants another round: its workload's index, how many more rounds it is
/// predicted to need, and what they cost (its trials and native's).
#[derive(Debug, Clone, Copy)]
struct Want {
    index: usize,
    env: EnvKind,
    cost: Duration,
}

/// Ratios to native, remembered until either side gains a trial: a bootstrap over dozens of
/// rounds costs milliseconds, and the schedule asks for every pair after every round.
#[derive(Debug, Default)]
struct Ratios {
    memo: RefCell<HashMap<(Workload, EnvKind), Memo>>,
}

/// A pair's ratio with the trial counts (its own, native's) it was computed from.
type Memo = (usize, usize, Option<stats::Ratio>);

impl Ratios {
    fn of(&self, results: &Results, w: Workload, e: EnvKind) -> Option<stats::Ratio> {
        let key = (
            results.values_by_round(w, e).len(),
            results.values_by_round(w, EnvKind::Native).len(),
        );
        if let Some((n, m, ratio)) = self.memo.borrow().get(&(w, e)) {
            if (*n, *m) == key {
                return *ratio;
            }
        }
        let ratio = results.ratio_to_native(w, e);
        self.memo.borrow_mut().insert((w, e), (key.0, key.1, ratio));
        ratio
    }
}

/// The measured steps of a plan.
pub struct Schedule<'a> {
    plan: &'a Plan,
    minimum: Minimum,
    costs: Costs,
    /// Workloads whose minimum rounds are queued (the minimum phase).
    started: usize,
    /// Extra phase: the next workload to consider, and each workload's next repetition.
    cursor: usize,
    next_rep: Vec<u32>,
    queue: VecDeque<Step>,
    extra: usize,
    stop: Option<Stop>,
    ratios: Ratios,
}

impl<'a> Schedule<'a> {
    /// The measured steps of `plan`, its minimum as given, its extra rounds costed by `costs`.
    pub fn new(plan: &'a Plan, minimum: Minimum, costs: Costs) -> Schedule<'a> {
        let next_rep = plan
            .workloads
            .iter()
            .map(|&w| plan.warmup + minimum.rounds(w))
            .collect();
        Schedule {
            plan,
            minimum,
            costs,
            started: 0,
            cursor: 0,
            next_rep,
            queue: VecDeque::new(),
            extra: 0,
            stop: None,
            ratios: Ratios::default(),
        }
    }

    /// How many of the plan's pairs are decided now, of how many have a ratio.
    pub fn decided(&self, results: &Results) -> (usize, usize) {
        let mut counts = (0, 0);
        for &w in &self.plan.workloads {
            for &e in self.plan.envs.iter().filter(|e| !e.is_native()) {
                if let Some(r) = self.ratios.of(results, w, e) {
                    counts.1 += 1;
                    if stats::decision(&r, self.plan.margin) != Decision::Undecided {
                        counts.0 += 1;
                    }
                }
            }
        }
        counts
    }

    /// The minimum this schedule runs.
    pub fn minimum(&self) -> &Minimum {
        &self.minimum
    }

    /// Why it stopped adding rounds, once it has.
    pub fn stopped(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }

    /// Measured trials expected so far (grows as extra rounds are added).
    pub fn total(&self) -> usize {
        let minimum: usize = self
            .plan
            .workloads
            .iter()
            .map(|&w| {
                self.plan
                    .envs
                    .iter()
                    .map(|&e| self.minimum.reps(w, e) as usize)
                    .sum::<usize>()
            })
            .sum();
        minimum + self.extra
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
            if self.stop.is_some() {
                return None;
            }
            match self.extra_round(results, elapsed) {
                Ok(steps) => {
                    self.extra += steps.len();
                    self.queue.extend(steps);
                }
                Err(stop) => self.stop = Some(stop),
            }
        }
    }

    /// Every minimum round of the workload at `index`: native and each pair with a
    /// repetition still to do, interleaved.
    fn queue_minimum(&mut self, index: usize) {
        let plan = self.plan;
        let workload = plan.workloads[index];
        match plan.mode {
            Mode::Warm => self.queue.extend(plan.envs.iter().map(|&env| Step {
                workload,
                env,
                rep: 0,
                runs: plan.warmup + self.minimum.reps(workload, env),
                warmup: plan.warmup,
            })),
            Mode::Cold => {
                for round in 0..self.minimum.rounds(workload) {
                    let rep = plan.warmup + round;
                    let envs = plan.env_order(index, rep).into_iter();
                    self.queue.extend(
                        envs.filter(|&e| self.minimum.reps(workload, e) > round)
                            .map(|env| Step {
                                workload,
                                env,
                                rep,
                                runs: 1,
                                warmup: 0,
                            }),
                    );
                }
            }
        }
    }

    /// The next extra round, or why there is none.
    fn extra_round(&mut self, results: &Results, elapsed: Duration) -> Result<Vec<Step>, Stop> {
        let plan = self.plan;
        let adaptive = plan
            .adaptive
            .filter(|_| plan.mode == Mode::Cold)
            .ok_or(Stop::Fixed)?;
        let left = adaptive.max_time.checked_sub(elapsed).ok_or(Stop::Budget)?;
        let wants = self.wants(results, &adaptive)?;
        // The workload whose cheapest pair is predicted to decide soonest; its round takes
        // every undecided pair of it predicted to decide in the time left. A pair predicted to
        // need more than is left gets none: the time goes where it decides.
        let chosen = *wants
            .iter()
            .filter(|w| w.cost <= left)
            .min_by_key(|w| w.cost)
            .ok_or(Stop::NoneAffordable)?;
        let index = chosen.index;
        let envs: Vec<EnvKind> = wants
            .iter()
            .filter(|w| w.index == index && w.cost <= left)
            .map(|w| w.env)
            .collect();
        self.cursor = index + 1;
        let rep = self.next_rep[index];
        self.next_rep[index] += 1;
        Ok(plan
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
            .collect())
    }

    /// Every pair that wants another round, or why none does.
    fn wants(&self, results: &Results, adaptive: &Adaptive) -> Result<Vec<Want>, Stop> {
        let plan = self.plan;
        let mut wants = Vec::new();
        let (mut undecided, mut capped) = (0, 0);
        for offset in 0..plan.workloads.len() {
            let index = (self.cursor + offset) % plan.workloads.len();
            let w = plan.workloads[index];
            let done = self.next_rep[index] - plan.warmup;
            let native = self.costs.of(results, w, EnvKind::Native);
            for env in self.undecided(results, w, adaptive) {
                undecided += 1;
                if done >= adaptive.max_reps {
                    capped += 1;
                    continue;
                }
                let Some(to_go) = self.to_go(results, w, env, done, adaptive) else {
                    continue;
                };
                let round = native + self.costs.of(results, w, env);
                wants.push(Want {
                    index,
                    env,
                    cost: round * to_go,
                });
            }
        }
        match (wants.is_empty(), undecided) {
            (false, _) => Ok(wants),
            (true, 0) => Err(Stop::AllDecided),
            (true, n) if n == capped => Err(Stop::MaxReps),
            (true, _) => Err(Stop::NoneAffordable),
        }
    }

    /// The environments of `w` not decided yet: pairs whose ratio's verdict could still
    /// change kind (or, for a plan of native alone, a median not yet known to the target).
    fn undecided(&self, results: &Results, w: Workload, adaptive: &Adaptive) -> Vec<EnvKind> {
        let plan = self.plan;
        if plan.envs == [EnvKind::Native] {
            let known = half_width(results, w, EnvKind::Native)
                .is_some_and(|h| h * 100.0 <= adaptive.target_pct);
            return if known {
                Vec::new()
            } else {
                vec![EnvKind::Native]
            };
        }
        plan.envs
            .iter()
            .copied()
            .filter(|&e| !e.is_native() && self.minimum.reps(w, e) > 0)
            .filter(|&e| {
                // A pair that has no ratio yet (its trials failed) gets none from more rounds.
                self.ratios
                    .of(results, w, e)
                    .is_some_and(|r| stats::decision(&r, plan.margin) == Decision::Undecided)
            })
            .collect()
    }

    /// The further rounds `env` running `w` is predicted to need to be decided (at least one,
    /// within the repetition cap); `None` when no number of rounds would.
    fn to_go(
        &self,
        results: &Results,
        w: Workload,
        env: EnvKind,
        done: u32,
        adaptive: &Adaptive,
    ) -> Option<u32> {
        // A pair predicted to need more rounds than its cap allows gets none.
        let room = adaptive.max_reps - done;
        let to_go = if env.is_native() {
            let half = half_width(results, w, env)?;
            let needed = f64::from(done.max(1)) * (half * 100.0 / adaptive.target_pct).powi(2);
            (needed.ceil() as u32).saturating_sub(done).max(1)
        } else {
            let ratio = self.ratios.of(results, w, env)?;
            let per_round = results.round_ratios(w, env);
            let needed = stats::rounds_to_decide(&ratio, &per_round, self.plan.margin)?;
            needed.saturating_sub(per_round.len() as u32).max(1)
        };
        (to_go <= room).then_some(to_go)
    }
}

/// Where each pair of the run ended: decided or not, converged or not, and why not.
pub fn pairs_record(
    plan: &Plan,
    schedule: &Schedule,
    results: &Results,
    left_when_stopped: Duration,
) -> Vec<crate::results::PairRecord> {
    let target = plan.adaptive.map_or(f64::INFINITY, |a| a.target_pct);
    let mut pairs = Vec::new();
    for &w in &plan.workloads {
        for &env in plan.envs.iter().filter(|e| !e.is_native()) {
            let minimum = schedule.minimum.reps(w, env);
            let left_out = schedule
                .minimum
                .left_out
                .iter()
                .find(|(e, lw, _)| *e == env && *lw == w);
            let ratio = results.ratio_to_native(w, env);
            if ratio.is_none() && left_out.is_none() {
                continue;
            }
            let rounds = results.values_by_round(w, env).len() as u32;
            let decision = ratio.map_or(Decision::Undecided, |r| stats::decision(&r, plan.margin));
            let converged = half_width(results, w, env).is_some_and(|h| h * 100.0 <= target);
            let why = match (left_out, decision) {
                (Some((_, _, why)), _) => Some(format!("left out: {why}")),
                (None, Decision::Undecided) => Some(undecided_why(
                    schedule,
                    results,
                    w,
                    env,
                    rounds,
                    left_when_stopped,
                )),
                (None, Decision::Same | Decision::Different) => None,
            };
            pairs.push(crate::results::PairRecord {
                env,
                workload: w,
                minimum,
                rounds,
                decision,
                converged,
                why,
            });
        }
    }
    pairs
}

/// Why an undecided pair stayed so: its cap, or what deciding it would have cost.
fn undecided_why(
    schedule: &Schedule,
    results: &Results,
    w: Workload,
    env: EnvKind,
    rounds: u32,
    left: Duration,
) -> String {
    let plan = schedule.plan;
    let Some(adaptive) = plan.adaptive.filter(|_| plan.mode == Mode::Cold) else {
        return "a fixed plan: its repetitions were not enough to decide".into();
    };
    if rounds >= adaptive.max_reps {
        return format!("it reached its most repetitions ({})", adaptive.max_reps);
    }
    let needed = results
        .ratio_to_native(w, env)
        .and_then(|r| stats::rounds_to_decide(&r, &results.round_ratios(w, env), plan.margin));
    let round = schedule.costs.of(results, w, env) + schedule.costs.of(results, w, EnvKind::Native);
    match needed {
        Some(n) if n > adaptive.max_reps => format!(
            "about {} more round(s) were needed, more than --max-reps ({}) allows",
            n.saturating_sub(rounds),
            adaptive.max_reps
        ),
        Some(n) => format!(
            "the budget ended: about {} more round(s) ({:.0} s) were needed, {:.0} s were left",
            n.saturating_sub(rounds),
            (round * n.saturating_sub(rounds)).as_secs_f64(),
            left.as_secs_f64()
        ),
        None => {
            "its ratio sits on the margin's edge: no number of rounds is predicted to decide it"
                .into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Order;
    use crate::plan::tests::{plan, trials};

    fn adaptive(max_reps: u32, seconds: u64) -> Option<Adaptive> {
        Some(Adaptive {
            target_pct: 3.0,
            max_reps,
            max_time: Duration::from_secs(seconds),
        })
    }

    fn all_steps(s: &mut Schedule, results: &Results, elapsed: Duration) -> Vec<Step> {
        std::iter::from_fn(|| s.next(results, elapsed)).collect()
    }

    #[test]
    fn a_cold_schedule_interleaves_each_workloads_measured_rounds() {
        let mut p = plan(Order::Fixed);
        p.envs = vec![EnvKind::Native, EnvKind::Container];
        p.reps = 2;
        let results = crate::results::tests::sample_results();
        let mut s = Schedule::new(&p, Minimum::fixed(&p), Costs::default());
        let steps: Vec<_> = all_steps(&mut s, &results, Duration::ZERO)
            .into_iter()
            .map(|st| (st.workload, st.env, st.rep, st.warmup))
            .collect();
        use EnvKind::{Container as C, Native as N};
        use Workload::{Noop, Syscall};
        assert_eq!(
            steps,
            vec![
                (Noop, N, 1, 0),
                (Noop, C, 1, 0),
                (Noop, N, 2, 0),
                (Noop, C, 2, 0),
                (Syscall, N, 1, 0),
                (Syscall, C, 1, 0),
                (Syscall, N, 2, 0),
                (Syscall, C, 2, 0),
            ]
        );
        assert_eq!(s.total(), steps.len());
        assert_eq!(s.stopped(), Some(&Stop::Fixed));
    }

    #[test]
    fn a_warm_schedule_runs_every_repetition_in_one_instance() {
        let mut p = plan(Order::Fixed);
        p.mode = Mode::Warm;
        p.envs = vec![EnvKind::Native, EnvKind::VmTcg];
        p.reps = 3;
        let results = crate::results::tests::sample_results();
        let mut s = Schedule::new(&p, Minimum::fixed(&p), Costs::default());
        let steps = all_steps(&mut s, &results, Duration::ZERO);
        assert_eq!(steps.len(), 4, "one instance per workload and environment");
        assert!(steps.iter().all(|s| s.runs == 4 && s.warmup == 1));
    }

    #[test]
    fn a_pair_far_from_one_stops_at_its_minimum_and_a_near_one_gets_the_rounds() {
        // A slow guest at 10× native, known at once; a container within a few percent of
        // native, spread ±6%: only the container's pair gets extra rounds, with native.
        let mut p = plan(Order::Fixed);
        p.workloads = vec![Workload::CpuInt];
        p.envs = vec![EnvKind::Native, EnvKind::Container, EnvKind::VmTcg];
        (p.reps, p.warmup) = (5, 0);
        p.adaptive = adaptive(40, 600);
        let mut results = crate::results::tests::sample_results();
        let ms = Duration::from_millis(100);
        results.trials = [
            trials(Workload::CpuInt, EnvKind::Native, &[100.0; 5], ms),
            trials(
                Workload::CpuInt,
                EnvKind::Container,
                &[94.0, 106.0, 100.0, 97.0, 103.0],
                ms,
            ),
            trials(
                Workload::CpuInt,
                EnvKind::VmTcg,
                &[10.0, 10.5, 9.5],
                ms * 30,
            ),
        ]
        .concat();
        let costs = Costs::known(
            [
                ((Workload::CpuInt, EnvKind::Native), ms),
                ((Workload::CpuInt, EnvKind::Container), ms),
                ((Workload::CpuInt, EnvKind::VmTcg), ms * 30),
            ]
            .into(),
        );
        // The guest's minimum is three rounds: what the planner gives a dear pair.
        let minimum = Minimum::plan(&p, &costs, &results, Duration::from_secs(600), &|_, _| true);
        assert_eq!(minimum.reps(Workload::CpuInt, EnvKind::VmTcg), 3);
        let mut s = Schedule::new(&p, minimum, costs);
        let minimum_steps: Vec<Step> = (0..13).map_while(|_| s.next(&results, ms)).collect();
        assert_eq!(minimum_steps.len(), 13, "5 native + 5 container + 3 guest");
        let extra: Vec<EnvKind> = (0..8)
            .map_while(|_| s.next(&results, ms))
            .map(|st| st.env)
            .collect();
        assert!(!extra.is_empty(), "the container's pair is not decided yet");
        assert!(
            !extra.contains(&EnvKind::VmTcg),
            "the guest's is: {extra:?}"
        );
        assert!(extra.contains(&EnvKind::Container) && extra.contains(&EnvKind::Native));
    }

    #[test]
    fn a_schedule_stops_once_every_pair_is_decided() {
        let mut p = plan(Order::Fixed);
        p.workloads = vec![Workload::CpuInt];
        p.envs = vec![EnvKind::Native, EnvKind::Container];
        (p.reps, p.warmup) = (5, 0);
        p.adaptive = adaptive(50, 600);
        let mut results = crate::results::tests::sample_results();
        let ms = Duration::from_millis(100);
        results.trials = [
            trials(Workload::CpuInt, EnvKind::Native, &[100.0; 5], ms),
            trials(Workload::CpuInt, EnvKind::Container, &[100.0; 5], ms),
        ]
        .concat();
        let mut s = Schedule::new(&p, Minimum::fixed(&p), Costs::default());
        assert_eq!(all_steps(&mut s, &results, ms).len(), 10);
        assert_eq!(s.stopped(), Some(&Stop::AllDecided));
        let record = pairs_record(&p, &s, &results, Duration::from_secs(500));
        assert_eq!(record.len(), 1);
        assert_eq!(record[0].decision, Decision::Same);
        assert!(record[0].converged && record[0].why.is_none());
    }

    #[test]
    fn the_cheapest_pair_to_decide_goes_first_and_an_undecided_one_says_why() {
        let mut p = plan(Order::Fixed);
        p.workloads = vec![Workload::CpuInt, Workload::MemBw];
        p.envs = vec![EnvKind::Native, EnvKind::Container];
        (p.reps, p.warmup) = (5, 0);
        p.adaptive = adaptive(50, 60);
        let mut results = crate::results::tests::sample_results();
        let ms = Duration::from_millis(100);
        let native = [100.0; 5];
        // cpu-int: ratios spread ±12% around 1 (far from deciding); mem-bw: 8% worse, its
        // interval just reaching into the margin (near).
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
                &[87.0, 97.5, 90.0, 94.0, 92.0],
                ms,
            ),
        ]
        .concat();
        let mut s = Schedule::new(&p, Minimum::fixed(&p), Costs::default());
        let minimum: Vec<Step> = (0..20).map_while(|_| s.next(&results, ms)).collect();
        assert_eq!(minimum.len(), 20);
        let next = s.next(&results, ms).unwrap();
        assert_eq!(
            (next.workload, next.rep),
            (Workload::MemBw, 5),
            "the nearer pair first"
        );
        // Out of time: the undecided pairs say what deciding them would have taken.
        let mut s = Schedule::new(&p, Minimum::fixed(&p), Costs::default());
        assert_eq!(
            all_steps(&mut s, &results, Duration::from_secs(61)).len(),
            20
        );
        assert_eq!(s.stopped(), Some(&Stop::Budget));
        let record = pairs_record(&p, &s, &results, Duration::ZERO);
        let cpu = record
            .iter()
            .find(|r| r.workload == Workload::CpuInt)
            .unwrap();
        assert_eq!(cpu.decision, Decision::Undecided);
        assert!(
            cpu.why.as_deref().unwrap().contains("--max-reps (50)"),
            "{cpu:?}"
        );
        let mem = record
            .iter()
            .find(|r| r.workload == Workload::MemBw)
            .unwrap();
        assert!(
            mem.why.as_deref().unwrap().contains("the budget ended"),
            "{mem:?}"
        );
    }

    #[test]
    fn an_adaptive_schedule_stops_at_its_repetition_cap() {
        let mut p = plan(Order::Fixed);
        p.workloads = vec![Workload::CpuInt];
        p.envs = vec![EnvKind::Native, EnvKind::Container];
        (p.reps, p.warmup) = (2, 0);
        p.adaptive = adaptive(2, 60);
        let mut results = crate::results::tests::sample_results();
        let ms = Duration::from_millis(100);
        results.trials = [
            trials(Workload::CpuInt, EnvKind::Native, &[100.0, 100.0], ms),
            trials(Workload::CpuInt, EnvKind::Container, &[80.0, 120.0], ms),
        ]
        .concat();
        let mut s = Schedule::new(&p, Minimum::fixed(&p), Costs::default());
        assert_eq!(all_steps(&mut s, &results, ms).len(), 4);
        assert_eq!(s.stopped(), Some(&Stop::MaxReps));
    }
}
