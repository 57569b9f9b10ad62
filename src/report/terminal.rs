//! The terminal summary: per workload, each environment's median headline value and its ratio
//! to native with a 95% confidence interval; then startup median and p99 per environment.

use crate::results::{Results, Trial};
use crate::stats::{self, Summary};
use std::collections::BTreeMap;
use std::fmt::Write;
use vmbench_workload::Better;

/// Headline values of the measured, successful trials: workload → env → values.
pub fn headline_values(results: &Results) -> BTreeMap<String, BTreeMap<String, Vec<f64>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for t in results.measured().filter(|t| t.error.is_none()) {
        if let Some(m) = t.headline() {
            out.entry(t.workload.clone())
                .or_default()
                .entry(t.env.clone())
                .or_default()
                .push(m.value);
        }
    }
    out
}

/// Environments in the order they were asked for.
fn env_order(results: &Results) -> Vec<String> {
    let mut envs: Vec<String> = Vec::new();
    for t in &results.trials {
        if !envs.contains(&t.env) {
            envs.push(t.env.clone());
        }
    }
    envs
}

/// Words for a ratio env/native given which direction is better.
pub fn ratio_words(ratio: f64, better: Better) -> String {
    let change = (ratio - 1.0) * 100.0;
    if change.abs() < 0.05 {
        return "same".into();
    }
    let worse = match better {
        Better::Higher => ratio < 1.0,
        Better::Lower => ratio > 1.0,
    };
    let word = if worse { "worse" } else { "better" };
    let factor = ratio.max(1.0 / ratio);
    if factor >= 2.0 {
        return format!("{factor:.1}x {word}");
    }
    format!("{:.1}% {word}", change.abs())
}

/// Renders the summary.
pub fn render(results: &Results) -> String {
    let mut s = String::new();
    let values = headline_values(results);
    let envs = env_order(results);
    let first_metric = |workload: &str| -> Option<(String, String, Better)> {
        results
            .measured()
            .filter(|t| t.workload == workload)
            .find_map(|t| {
                t.headline()
                    .map(|m| (m.name.clone(), m.unit.clone(), m.better))
            })
    };
    let mut order: Vec<&String> = results
        .config
        .workloads
        .iter()
        .filter(|w| values.contains_key(*w))
        .collect();
    order.extend(
        values
            .keys()
            .filter(|w| !results.config.workloads.contains(w)),
    );
    for workload in order {
        let by_env = &values[workload];
        let Some((metric, unit, better)) = first_metric(workload) else {
            continue;
        };
        let dir = if better == Better::Higher {
            "higher"
        } else {
            "lower"
        };
        let _ = writeln!(s, "{workload}: {metric} in {unit} ({dir} is better)");
        let _ = writeln!(
            s,
            "  {:<16} {:>3} {:>12} {:>8}  vs native [95% CI]",
            "env", "n", "median", "cv"
        );
        let native = by_env.get("native");
        for env in &envs {
            let Some(xs) = by_env.get(env) else {
                continue;
            };
            let Some(sum) = Summary::of(xs) else {
                continue;
            };
            let ratio = match native {
                Some(n) if env != "native" => stats::ratio_of_medians(xs, n).map(|r| {
                    let ci =
                        r.ci.map(|c| format!(" [{:.3}, {:.3}]", c.lo, c.hi))
                            .unwrap_or_default();
                    format!("{:.3}x{ci} {}", r.value, ratio_words(r.value, better))
                }),
                _ => None,
            }
            .unwrap_or_default();
            let mut notes = Vec::new();
            if sum.is_noisy() {
                notes.push("noisy".to_string());
            }
            if !sum.outliers.is_empty() {
                notes.push(format!("{} outlier(s)", sum.outliers.len()));
            }
            let _ = writeln!(
                s,
                "  {:<16} {:>3} {:>12} {:>7.1}%  {:<28} {}",
                env,
                sum.n,
                super::export::num(sum.median),
                sum.cv * 100.0,
                ratio,
                notes.join(", ")
            );
        }
    }
    let startup = startup_by_env(results);
    if !startup.is_empty() {
        let _ = writeln!(s, "startup (host-measured, launch to ready), ms:");
        let _ = writeln!(
            s,
            "  {:<16} {:>3} {:>10} {:>10} {:>10}",
            "env", "n", "median", "p99", "max"
        );
        for env in &envs {
            if let Some(sum) = startup.get(env).and_then(|xs| Summary::of(xs)) {
                let _ = writeln!(
                    s,
                    "  {:<16} {:>3} {:>10.3} {:>10.3} {:>10.3}",
                    env, sum.n, sum.median, sum.p99, sum.max
                );
            }
        }
    }
    let failed: Vec<&Trial> = results
        .trials
        .iter()
        .filter(|t| t.error.is_some())
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "{} trial(s) failed:", failed.len());
        for t in failed.iter().take(10) {
            let _ = writeln!(
                s,
                "  {} {} rep {}: {}",
                t.env,
                t.workload,
                t.rep,
                t.error.as_deref().unwrap_or("")
            );
        }
    }
    for e in results.environments.iter().filter(|e| !e.available) {
        let _ = writeln!(s, "not run: {}: {}", e.env, e.reason);
    }
    s
}

/// Startup times in milliseconds per environment, measured trials only.
pub fn startup_by_env(results: &Results) -> BTreeMap<String, Vec<f64>> {
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for t in results.measured().filter(|t| t.error.is_none()) {
        if let Some(ns) = t.startup_ns {
            out.entry(t.env.clone()).or_default().push(ns as f64 / 1e6);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_words_follow_the_metric_direction() {
        assert_eq!(ratio_words(0.9, Better::Higher), "10.0% worse");
        assert_eq!(ratio_words(0.9, Better::Lower), "10.0% better");
        assert_eq!(ratio_words(1.25, Better::Lower), "25.0% worse");
        assert_eq!(ratio_words(1.0, Better::Lower), "same");
        assert_eq!(ratio_words(1936.0, Better::Lower), "1936.0x worse");
        assert_eq!(ratio_words(0.161, Better::Higher), "6.2x worse");
    }
}
