//! The amount of work per workload: every environment of a run does the same amount, the
//! largest (up to the one asked for) that the run's slowest environment finishes within the
//! per-trial limit. A probe round at the small size times each environment first; the
//! prediction scales its working time (lifetime less startup and teardown) by the sizes' ratio.
//!
//! Pure: the runner feeds it the probe trials and records the choice in the results.

use crate::config::RunConfig;
use crate::ids::EnvKind;
pub use crate::results::SizeChoice;
use crate::results::Trial;
use std::collections::BTreeMap;
use std::time::Duration;
use vmbench_workload::Size;

/// The per-trial limit when the run has no time budget.
pub const UNBUDGETED_LIMIT: Duration = Duration::from_secs(60);

/// Part of the timeout a predicted trial may use: predictions from one small probe are rough.
const TIMEOUT_SHARE: f64 = 0.5;

/// Whether `config` sizes its workloads from a probe: asked for, and larger than small.
pub fn enabled(config: &RunConfig) -> bool {
    config.auto_size && config.size != Size::Small
}

/// The longest a trial should be predicted to take: half the timeout, and, with a time
/// budget, twice what lets the slowest environment's warm-ups and fewest rounds of every
/// workload fit the minimum's share of it (else [`UNBUDGETED_LIMIT`]): the minimum's planner
/// lowers the dearest workloads further when the whole does not fit.
pub fn trial_limit(config: &RunConfig) -> Duration {
    if let Some(s) = config.trial_limit_s {
        return Duration::from_secs_f64(s.max(0.0));
    }
    let from_timeout = config.timeout().mul_f64(TIMEOUT_SHARE);
    let share = match config.adaptive() {
        Some(a) => {
            let fewest = config.reps.min(crate::config::FEWEST_REPS);
            let rounds = (config.workloads.len().max(1) as u32) * (config.warmup + fewest).max(1);
            (a.max_time / rounds).mul_f64(2.0 * crate::config::MINIMUM_SHARE)
        }
        None => UNBUDGETED_LIMIT,
    };
    from_timeout.min(share)
}

/// How many times the small size's work `size` is.
fn factor(size: Size) -> f64 {
    size.scale(1000) as f64 / Size::Small.scale(1000) as f64
}

/// A trial's predicted length at `size` from a successful probe at the small size.
pub fn predict(probe: &Trial, size: Size) -> Option<f64> {
    predict_from(probe, Size::Small, size)
}

/// A trial's predicted length at `size` from a successful trial that ran at `ran`: its
/// startup and teardown as they were, its working time scaled by the sizes' ratio.
pub fn predict_from(trial: &Trial, ran: Size, size: Size) -> Option<f64> {
    if trial.error.is_some() {
        return None;
    }
    let life = trial.lifetime_ns? as f64 / 1e9;
    let fixed = (trial.startup_ns.unwrap_or(0) + trial.teardown_ns.unwrap_or(0)) as f64 / 1e9;
    let work = (life - fixed).max(0.0);
    Some(fixed + work * factor(size) / factor(ran))
}

/// The largest size up to `requested` whose predicted trial fits `limit` in every
/// environment probed; small when a probe failed.
pub fn choose(requested: Size, limit: Duration, probes: &[&Trial]) -> SizeChoice {
    let predicted: BTreeMap<EnvKind, Option<f64>> = probes
        .iter()
        .map(|t| (t.env, predict(t, requested)))
        .collect();
    let slowest = if predicted.values().any(Option::is_none) {
        None
    } else {
        predicted
            .iter()
            .filter_map(|(e, s)| Some((*e, (*s)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(e, _)| e)
    };
    let fits = |size: Size| {
        probes
            .iter()
            .all(|t| predict(t, size).is_some_and(|s| s <= limit.as_secs_f64()))
    };
    let size = Size::ALL
        .into_iter()
        .rev()
        .filter(|&s| factor(s) <= factor(requested))
        .find(|&s| fits(s))
        .unwrap_or(Size::Small);
    SizeChoice {
        size,
        requested,
        limit_s: limit.as_secs_f64(),
        predicted_s: predicted,
        slowest,
        fitted_from: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmbench_workload::Workload;

    fn probe(env: EnvKind, startup_s: f64, life_s: f64) -> Trial {
        let mut t = Trial::new(env, Workload::Syscall, 0, true);
        t.startup_ns = Some((startup_s * 1e9) as u64);
        t.lifetime_ns = Some((life_s * 1e9) as u64);
        t.teardown_ns = Some(0);
        t
    }

    #[test]
    fn the_slowest_environment_decides_for_all() {
        let native = probe(EnvKind::Native, 0.001, 0.07);
        let gvisor = probe(EnvKind::ContainerGvisor, 0.2, 7.0);
        let limit = Duration::from_secs(20);
        let c = choose(Size::Default, limit, &[&native, &gvisor]);
        assert_eq!(c.size, Size::Small);
        assert_eq!(c.slowest, Some(EnvKind::ContainerGvisor));
        let predicted = c.predicted_s[&EnvKind::ContainerGvisor].unwrap();
        assert!((predicted - 68.2).abs() < 0.01, "{predicted}");
        assert!(
            c.explain().contains("instead of default"),
            "{}",
            c.explain()
        );
        // Without it, the default size fits.
        let c = choose(Size::Default, limit, &[&native]);
        assert_eq!(c.size, Size::Default);
        assert!(!c.lowered());
    }

    #[test]
    fn startup_is_not_scaled_and_sizes_step_down_one_at_a_time() {
        // 1.5 s of boot and 1 s of work: default predicts 11.5 s, large 41.5 s.
        let vm = probe(EnvKind::VmTcg, 1.5, 2.5);
        let c = choose(Size::Large, Duration::from_secs(20), &[&vm]);
        assert_eq!(c.size, Size::Default);
        assert!((c.predicted_s[&EnvKind::VmTcg].unwrap() - 41.5).abs() < 0.01);
    }

    #[test]
    fn a_failed_probe_means_small() {
        let mut broken = probe(EnvKind::ContainerRunc, 0.02, 0.1);
        broken.error = Some("exit 1".into());
        let c = choose(Size::Default, Duration::from_secs(60), &[&broken]);
        assert_eq!(c.size, Size::Small);
        assert_eq!(c.slowest, None);
        assert!(c.explain().contains("probe failed"));
    }

    #[test]
    fn the_limit_is_a_share_of_the_budget_and_of_the_timeout() {
        let mut config = RunConfig {
            workloads: Workload::ALL[..10].to_vec(),
            target_ci_pct: Some(3.0),
            max_time_s: Some(600.0),
            ..RunConfig::default()
        };
        // 60% of 600 s over 10 workloads × (1 warm-up + 3 rounds), twice over.
        assert_eq!(trial_limit(&config), Duration::from_secs(18));
        config.target_ci_pct = None;
        assert_eq!(trial_limit(&config), UNBUDGETED_LIMIT);
        config.timeout_s = 30.0;
        assert_eq!(trial_limit(&config), Duration::from_secs(15));
        config.trial_limit_s = Some(5.0);
        assert_eq!(trial_limit(&config), Duration::from_secs(5));
    }
}
