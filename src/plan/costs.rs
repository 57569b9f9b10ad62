//! What each trial of a pair is expected to cost in wall time: predicted from its probe (the
//! warm-up at the small size, scaled to any size) before any measured trial, then taken from
//! the trials themselves.

use crate::ids::EnvKind;
use crate::results::Results;
use std::collections::BTreeMap;
use std::time::Duration;
use vmbench_workload::{Size, Workload};

/// A trial's cost when nothing is known of its pair yet.
const UNKNOWN: Duration = Duration::from_secs(1);

/// A pair's probe: its fixed part (startup and teardown) and its working time, at a size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Probe {
    fixed_s: f64,
    work_s: f64,
    size: Size,
}

impl Probe {
    fn at(&self, size: Size) -> Duration {
        let factor = size.scale(1000) as f64 / self.size.scale(1000) as f64;
        Duration::from_secs_f64((self.fixed_s + self.work_s * factor).max(0.0))
    }
}

/// Expected wall time of one trial per pair.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Costs {
    probes: BTreeMap<(Workload, EnvKind), Probe>,
}

impl Costs {
    /// The predictions the warm-ups and probes of `results` give (the dearest of a pair's,
    /// the first one paying for cold caches).
    pub fn predict(results: &Results) -> Costs {
        let mut probes: BTreeMap<(Workload, EnvKind), Probe> = BTreeMap::new();
        for t in results.warmup_trials.iter().filter(|t| t.error.is_none()) {
            let Some(life) = t.lifetime_ns.map(|ns| ns as f64 / 1e9) else {
                continue;
            };
            let fixed = (t.startup_ns.unwrap_or(0) + t.teardown_ns.unwrap_or(0)) as f64 / 1e9;
            let probe = Probe {
                fixed_s: fixed.min(life),
                work_s: (life - fixed).max(0.0),
                size: t.size.unwrap_or(results.config.size),
            };
            let key = (t.workload, t.env);
            let dearer = probes
                .get(&key)
                .is_none_or(|p| probe.at(Size::Default) > p.at(Size::Default));
            if dearer {
                probes.insert(key, probe);
            }
        }
        Costs { probes }
    }

    /// Fixed costs whatever the size, for tests and callers that know them.
    pub fn known(costs: BTreeMap<(Workload, EnvKind), Duration>) -> Costs {
        let probes = costs
            .into_iter()
            .map(|(k, d)| {
                let probe = Probe {
                    fixed_s: d.as_secs_f64(),
                    work_s: 0.0,
                    size: Size::Default,
                };
                (k, probe)
            })
            .collect();
        Costs { probes }
    }

    /// One trial of `env` running `workload`: the mean of its measured trials when it has
    /// some, else the prediction at the workload's size.
    pub fn of(&self, results: &Results, workload: Workload, env: EnvKind) -> Duration {
        let lifetimes: Vec<u64> = results
            .trials
            .iter()
            .filter(|t| t.workload == workload && t.env == env)
            .filter_map(|t| t.lifetime_ns)
            .collect();
        if !lifetimes.is_empty() {
            return Duration::from_nanos(lifetimes.iter().sum::<u64>() / lifetimes.len() as u64);
        }
        self.at(workload, env, results.size_of(workload))
    }

    /// The prediction at `size`, else a second.
    pub fn at(&self, workload: Workload, env: EnvKind, size: Size) -> Duration {
        self.probes
            .get(&(workload, env))
            .map_or(UNKNOWN, |p| p.at(size))
    }
}
