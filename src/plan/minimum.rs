//! The minimum rounds of an adaptive plan, planned against its budget before they start: an
//! expensive pair (a TCG guest, gVisor's slow workloads) gets the fewest repetitions that can
//! decide a large difference, a cheap one more. A minimum that would take more than its share
//! of the budget is shrunk before it starts: the dearest workloads run at a smaller size
//! first (every environment of a workload keeps the same size), then cheap pairs give up
//! repetitions, and what still does not fit is left out, said so.

use super::costs::Costs;
use super::Plan;
use crate::ids::EnvKind;
use crate::results::Results;
use std::collections::BTreeMap;
use std::time::Duration;
use vmbench_workload::{Size, Workload};

pub use crate::config::{FEWEST_REPS as FEWEST, MINIMUM_SHARE};

/// A pair is expensive when one of its trials costs more than this...
const EXPENSIVE_TRIAL: Duration = Duration::from_secs(1);
/// ...and more than this many times native's trial of the same workload.
const EXPENSIVE_FACTOR: u32 = 10;

/// Repetitions per pair in the minimum rounds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Minimum {
    reps: BTreeMap<(Workload, EnvKind), u32>,
    /// Native's rounds for a workload no pair runs.
    alone: u32,
    /// What the minimum is predicted to take.
    pub predicted: Duration,
    /// How it was shrunk to fit, when it was.
    pub shrunk: Option<String>,
    /// Pairs left out because even their fewest repetitions did not fit, with why.
    pub left_out: Vec<(EnvKind, Workload, String)>,
    /// Workloads whose size was lowered to fit, with the size they run at.
    pub lowered: BTreeMap<Workload, Size>,
}

/// The next smaller size, if any.
fn smaller(size: Size) -> Option<Size> {
    match size {
        Size::Large => Some(Size::Default),
        Size::Default => Some(Size::Small),
        Size::Small => None,
    }
}

impl Minimum {
    /// The plan's repetitions for every pair (a fixed plan, or nothing known to plan with).
    pub fn fixed(plan: &Plan) -> Minimum {
        let reps = pairs(plan, &|_, _| true).map(|p| (p, plan.reps)).collect();
        Minimum {
            reps,
            alone: plan.reps,
            ..Minimum::default()
        }
    }

    /// The minimum of an adaptive plan with `budget` left, from the pairs' predicted costs;
    /// `runs` says which pairs their environment can run at all.
    pub fn plan(
        plan: &Plan,
        costs: &Costs,
        results: &Results,
        budget: Duration,
        runs: &dyn Fn(Workload, EnvKind) -> bool,
    ) -> Minimum {
        let mut fit = Fit {
            plan,
            costs,
            results,
            sizes: plan
                .workloads
                .iter()
                .map(|&w| (w, results.size_of(w)))
                .collect(),
            fewest: plan.reps.min(FEWEST),
            share: budget.mul_f64(MINIMUM_SHARE),
        };
        let mut m = Minimum {
            reps: pairs(plan, runs)
                .map(|(w, e)| {
                    let reps = if fit.expensive(w, e) {
                        fit.fewest
                    } else {
                        plan.reps
                    };
                    ((w, e), reps)
                })
                .collect(),
            alone: plan.reps,
            ..Minimum::default()
        };
        let asked = fit.time(&m);
        // The dearest workloads run at a smaller size first, then cheap pairs give up
        // repetitions, down to the fewest, then the dearest pairs are left out.
        let steps: Vec<String> = [
            fit.lower_sizes(&mut m),
            fit.fewer_cheap_reps(&mut m),
            fit.leave_out(&mut m),
        ]
        .into_iter()
        .flatten()
        .collect();
        m.predicted = fit.time(&m);
        if !steps.is_empty() {
            m.shrunk = Some(format!(
                "the minimum would have taken {:.0} s, over {:.0}% of the {:.0} s left: it {}",
                asked.as_secs_f64(),
                MINIMUM_SHARE * 100.0,
                budget.as_secs_f64(),
                steps.join("; ")
            ));
        }
        m
    }

    /// The minimum repetitions of `env` running `workload` (0 when left out); native's are
    /// its workload's most, as it joins every round.
    pub fn reps(&self, workload: Workload, env: EnvKind) -> u32 {
        if env.is_native() {
            return self.rounds(workload);
        }
        self.reps.get(&(workload, env)).copied().unwrap_or(0)
    }

    /// The rounds of `workload`'s minimum: its pairs' most, or the plan's repetitions for
    /// native alone when no pair runs it.
    pub fn rounds(&self, workload: Workload) -> u32 {
        self.reps
            .iter()
            .filter(|((w, _), _)| *w == workload)
            .map(|(_, r)| *r)
            .max()
            .unwrap_or(self.alone)
    }

    /// The time the minimum takes at these costs: every round of a workload runs native and
    /// each pair that still has a repetition to do.
    fn time(&self, plan: &Plan, cost: &dyn Fn(Workload, EnvKind) -> Duration) -> Duration {
        plan.workloads
            .iter()
            .map(|&w| self.workload_time(w, cost))
            .sum()
    }

    /// The time of one workload's minimum rounds.
    fn workload_time(&self, w: Workload, cost: &dyn Fn(Workload, EnvKind) -> Duration) -> Duration {
        let envs: Duration = self
            .reps
            .iter()
            .filter(|((pw, _), _)| *pw == w)
            .map(|((_, e), r)| cost(w, *e) * *r)
            .sum();
        envs + cost(w, EnvKind::Native) * self.rounds(w)
    }
}

/// Fitting a minimum into its share of the budget: the sizes as lowered so far.
struct Fit<'a> {
    plan: &'a Plan,
    costs: &'a Costs,
    results: &'a Results,
    sizes: BTreeMap<Workload, Size>,
    fewest: u32,
    share: Duration,
}

impl Fit<'_> {
    /// A pair's predicted trial at its workload's size.
    fn cost(&self, w: Workload, e: EnvKind) -> Duration {
        self.costs.at(w, e, self.sizes[&w])
    }

    /// Whether a pair is dear: its trial long, and much longer than native's.
    fn expensive(&self, w: Workload, e: EnvKind) -> bool {
        let c = self.cost(w, e);
        c > EXPENSIVE_TRIAL && c > self.cost(w, EnvKind::Native) * EXPENSIVE_FACTOR
    }

    /// The time `m` takes at the current sizes.
    fn time(&self, m: &Minimum) -> Duration {
        m.time(self.plan, &|w, e| self.cost(w, e))
    }

    /// Lowers the dearest workload's size until the minimum fits (only sizes the run chose,
    /// not one the user fixed); what it did, if anything.
    fn lower_sizes(&mut self, m: &mut Minimum) -> Option<String> {
        while self.time(m) > self.share {
            let dearest = self
                .plan
                .workloads
                .iter()
                .filter(|w| {
                    self.results.sizes.contains_key(*w) && smaller(self.sizes[*w]).is_some()
                })
                .max_by_key(|&&w| m.workload_time(w, &|w, e| self.cost(w, e)));
            let Some(&w) = dearest else { break };
            let size = smaller(self.sizes[&w]).expect("filtered");
            self.sizes.insert(w, size);
            m.lowered.insert(w, size);
        }
        let names: Vec<String> = m
            .lowered
            .iter()
            .map(|(w, s)| format!("{w} at {s}"))
            .collect();
        (!names.is_empty()).then(|| format!("ran {}", names.join(", ")))
    }

    /// Takes repetitions from the cheap pairs, down to the fewest, until the minimum fits.
    fn fewer_cheap_reps(&self, m: &mut Minimum) -> Option<String> {
        let mut cheap = self.plan.reps;
        while self.time(m) > self.share && cheap > self.fewest {
            cheap -= 1;
            for ((w, e), reps) in m.reps.iter_mut() {
                if !self.expensive(*w, *e) {
                    *reps = (*reps).min(cheap);
                }
            }
        }
        (cheap < self.plan.reps).then(|| {
            format!(
                "ran cheap pairs {cheap} repetitions instead of {}",
                self.plan.reps
            )
        })
    }

    /// Leaves the dearest pairs out, each with why, until the rest fits.
    fn leave_out(&self, m: &mut Minimum) -> Option<String> {
        while self.time(m) > self.share {
            let Some((&(w, e), _)) = m
                .reps
                .iter()
                .max_by_key(|((w, e), r)| self.cost(*w, *e) * **r)
            else {
                break;
            };
            let why = format!(
                "its fewest {} repetitions ({:.0} s) did not fit the minimum's share of the budget ({:.0} s)",
                self.fewest,
                (self.cost(w, e) * self.fewest).as_secs_f64(),
                self.share.as_secs_f64()
            );
            m.reps.remove(&(w, e));
            m.left_out.push((e, w, why));
        }
        (!m.left_out.is_empty()).then(|| format!("left {} pair(s) out", m.left_out.len()))
    }
}

/// Every pair of the plan (each workload with each environment but native) that `runs`.
fn pairs<'a>(
    plan: &'a Plan,
    runs: &'a dyn Fn(Workload, EnvKind) -> bool,
) -> impl Iterator<Item = (Workload, EnvKind)> + 'a {
    let alone = plan.envs.len() == 1;
    plan.workloads.iter().flat_map(move |&w| {
        plan.envs
            .iter()
            .filter(move |e| alone || !e.is_native())
            .filter(move |&&e| runs(w, e))
            .map(move |&e| (w, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Mode, Order};

    fn plan(envs: &[EnvKind], workloads: &[Workload]) -> Plan {
        Plan {
            workloads: workloads.to_vec(),
            envs: envs.to_vec(),
            reps: 5,
            warmup: 1,
            order: Order::Fixed,
            mode: Mode::Cold,
            adaptive: None,
            margin: 0.03,
        }
    }

    fn costs(pairs: &[(Workload, EnvKind, f64)]) -> Costs {
        Costs::known(
            pairs
                .iter()
                .map(|&(w, e, s)| ((w, e), Duration::from_secs_f64(s)))
                .collect(),
        )
    }

    fn empty() -> Results {
        let mut r = crate::results::tests::sample_results();
        r.trials.clear();
        r
    }

    #[test]
    fn expensive_pairs_start_with_three_repetitions_and_cheap_ones_with_more() {
        use EnvKind::{Container, Native, VmTcg};
        let p = plan(&[Native, Container, VmTcg], &[Workload::CpuInt]);
        let c = costs(&[
            (Workload::CpuInt, Native, 0.2),
            (Workload::CpuInt, Container, 0.21),
            (Workload::CpuInt, VmTcg, 5.0),
        ]);
        let m = Minimum::plan(&p, &c, &empty(), Duration::from_secs(600), &|_, _| true);
        assert_eq!(m.reps(Workload::CpuInt, VmTcg), 3);
        assert_eq!(m.reps(Workload::CpuInt, Container), 5);
        assert_eq!(
            m.reps(Workload::CpuInt, Native),
            5,
            "native joins every round"
        );
        assert!(m.shrunk.is_none() && m.left_out.is_empty());
        // 5 × (0.2 + 0.21) + 3 × 5 s.
        assert!(
            (m.predicted.as_secs_f64() - 17.05).abs() < 1e-6,
            "{:?}",
            m.predicted
        );
    }

    #[test]
    fn a_minimum_larger_than_the_budget_is_shrunk_not_run() {
        use EnvKind::{Container, Native, VmTcg};
        let workloads = [Workload::CpuInt, Workload::MemBw, Workload::Syscall];
        let p = plan(&[Native, Container, VmTcg], &workloads);
        let mut pairs = Vec::new();
        for w in workloads {
            pairs.extend([(w, Native, 1.0), (w, Container, 1.0), (w, VmTcg, 20.0)]);
        }
        let c = costs(&pairs);
        // Asked: 3 × (5 × 2 s + 3 × 20 s) = 210 s; the minimum may take 60% of 100 s.
        let m = Minimum::plan(&p, &c, &empty(), Duration::from_secs(100), &|_, _| true);
        assert!(m.predicted <= Duration::from_secs(60), "{:?}", m.predicted);
        assert!(
            m.shrunk.as_deref().unwrap().contains("210 s"),
            "{:?}",
            m.shrunk
        );
        assert_eq!(m.reps(Workload::CpuInt, Container), 3, "cheap pairs shrink");
        // Three guests' fewest rounds (180 s) cannot fit: the dearest are left out.
        assert!(!m.left_out.is_empty());
        assert!(m
            .left_out
            .iter()
            .all(|(e, _, why)| *e == VmTcg && why.contains("did not fit")));
        let kept = workloads.iter().filter(|&&w| m.reps(w, VmTcg) == 3).count();
        assert_eq!(kept, 3 - m.left_out.len());
    }

    #[test]
    fn the_dearest_workloads_run_smaller_before_any_pair_loses_a_repetition() {
        use EnvKind::{Container, Native, VmTcg};
        let p = plan(
            &[Native, Container, VmTcg],
            &[Workload::CpuInt, Workload::MemBw],
        );
        // Probes at the small size: the guest's mem-bw works 2 s there, 20 s at default.
        let mut results = empty();
        for (w, e, work_ms) in [
            (Workload::CpuInt, Native, 10),
            (Workload::CpuInt, Container, 10),
            (Workload::CpuInt, VmTcg, 100),
            (Workload::MemBw, Native, 10),
            (Workload::MemBw, Container, 10),
            (Workload::MemBw, VmTcg, 2000),
        ] {
            let mut t = crate::results::Trial::new(e, w, 0, true);
            t.size = Some(Size::Small);
            t.startup_ns = Some(0);
            t.teardown_ns = Some(0);
            t.lifetime_ns = Some(work_ms * 1_000_000);
            results.warmup_trials.push(t);
        }
        for w in [Workload::CpuInt, Workload::MemBw] {
            let probes: Vec<&crate::results::Trial> = results
                .warmup_trials
                .iter()
                .filter(|t| t.workload == w)
                .collect();
            let choice = crate::sizing::choose(Size::Default, Duration::from_secs(60), &probes);
            results.sizes.insert(w, choice);
        }
        let c = Costs::predict(&results);
        // At default: 5 × 2 × 0.1 s + 3 × 1 s and 5 × 2 × 0.1 s + 3 × 20 s = 65 s; 60% of
        // 100 s is 60 s: mem-bw, the dearest, runs small, and every pair keeps its repetitions.
        let m = Minimum::plan(&p, &c, &results, Duration::from_secs(100), &|_, _| true);
        assert_eq!(m.lowered.get(&Workload::MemBw), Some(&Size::Small));
        assert!(!m.lowered.contains_key(&Workload::CpuInt));
        assert_eq!(m.reps(Workload::MemBw, Container), 5);
        assert_eq!(m.reps(Workload::MemBw, VmTcg), 3);
        assert!(m.left_out.is_empty());
        assert!(
            m.shrunk.as_deref().unwrap().contains("mem-bw at small"),
            "{:?}",
            m.shrunk
        );
    }

    #[test]
    fn pairs_an_environment_cannot_run_are_not_planned() {
        use EnvKind::{ContainerGvisor, Native};
        let p = plan(
            &[Native, ContainerGvisor],
            &[Workload::NetRr, Workload::CpuInt],
        );
        let m = Minimum::plan(
            &p,
            &Costs::default(),
            &empty(),
            Duration::from_secs(600),
            &|w, _| w != Workload::NetRr,
        );
        assert_eq!(m.reps(Workload::NetRr, ContainerGvisor), 0);
        assert_eq!(m.rounds(Workload::NetRr), 5, "native measures it alone");
        assert_eq!(m.reps(Workload::CpuInt, ContainerGvisor), 5);
    }
}
