//! Questions every reader of a run asks of its records: the measured trials, the successful
//! values of one workload in one environment round by round, and an environment's ratio to
//! native. Pure, over the records; the plan and the report both ask them.

use super::{Results, Trial};
use crate::config::Mode;
use crate::ids::EnvKind;
use crate::stats::{self, Ratio};
use vmbench_workload::Workload;

impl Results {
    /// The amount of work `workload` ran at: chosen per workload, else the one asked for.
    pub fn size_of(&self, workload: Workload) -> vmbench_workload::Size {
        self.sizes
            .get(&workload)
            .map_or(self.config.size, |c| c.size)
    }

    /// The measured trials.
    pub fn measured(&self) -> impl Iterator<Item = &Trial> {
        self.trials.iter().filter(|t| !t.warmup)
    }

    /// Records a trial in the list it belongs to.
    pub fn record(&mut self, trial: Trial) {
        if trial.exceeded.is_some() {
            self.limit_trials.push(trial);
        } else if trial.spacing.is_some() {
            self.start_trials.push(trial);
        } else if trial.warmup {
            self.warmup_trials.push(trial);
        } else {
            self.trials.push(trial);
        }
    }

    /// The successful measured trials of `env`.
    pub fn succeeded(&self, env: EnvKind) -> impl Iterator<Item = &Trial> {
        self.measured()
            .filter(move |t| t.env == env && t.error.is_none())
    }

    /// Headline values of the successful measured trials of `workload` in `env`, each with
    /// its repetition (its round, in an interleaved plan).
    pub fn values_by_round(&self, workload: Workload, env: EnvKind) -> Vec<(u32, f64)> {
        self.succeeded(env)
            .filter(|t| t.workload == workload)
            .filter_map(|t| Some((t.rep, t.headline()?.value)))
            .collect()
    }

    /// The ratio to native of each round `env` and native both measured for `workload`.
    pub fn round_ratios(&self, workload: Workload, env: EnvKind) -> Vec<f64> {
        stats::round_ratios(
            &self.values_by_round(workload, env),
            &self.values_by_round(workload, EnvKind::Native),
        )
    }

    /// An environment's figure relative to native for `workload`. Cold plans interleave the
    /// environments round by round, so each round's ratio is taken and drift cancels; warm
    /// plans run each environment's repetitions in one go, so medians are compared.
    pub fn ratio_to_native(&self, workload: Workload, env: EnvKind) -> Option<Ratio> {
        let xs = self.values_by_round(workload, env);
        let native = self.values_by_round(workload, EnvKind::Native);
        if env.is_native() || xs.is_empty() || native.is_empty() {
            return None;
        }
        match self.config.mode {
            Mode::Cold => stats::paired_ratio(&xs, &native),
            Mode::Warm => {
                let values = |v: &[(u32, f64)]| v.iter().map(|x| x.1).collect::<Vec<f64>>();
                stats::ratio_of_medians(&values(&xs), &values(&native))
            }
        }
    }
}
