//! The collector on real processes: the number of samples follows the interval, RSS matches a
//! known allocation, and its own cost is recorded.

mod common;

use std::time::Duration;
use vmbench::env::{native, EnvKind, Environment};
use vmbench::plan::Step;
use vmbench_workload::invocation::Fault;
use vmbench_workload::Workload;

fn hold(mib: u64, ms: u64, interval: Duration) -> vmbench::env::Outcome {
    let binary = common::workload_binary();
    let data = common::scratch();
    let mut spec = common::spec(
        &binary.path,
        data.path(),
        Workload::Noop,
        Some(Fault::Hold(mib, ms)),
        512,
        Duration::from_secs(30),
    );
    spec.invocation.identity = false;
    spec.sample_interval = Some(interval);
    native::Native.launch(&spec).unwrap()
}

#[test]
fn sample_count_follows_the_interval() {
    for interval_ms in [10u64, 25] {
        let outcome = hold(1, 1000, Duration::from_millis(interval_ms));
        let lifetime = outcome.lifetime.unwrap();
        let expected = lifetime.as_millis() as f64 / interval_ms as f64;
        let got = outcome.samples.len() as f64;
        assert!(
            (got - expected).abs() <= expected * 0.2,
            "{got} samples at {interval_ms} ms over {lifetime:?}, expected ~{expected}"
        );
        let cost = outcome.collector_cost.unwrap();
        assert_eq!(cost.samples, outcome.samples.len());
        assert!(cost.cpu_ns > 0 && cost.wall_ns > 0);
        // Timestamps rise by about the interval.
        let gaps: Vec<u64> = outcome
            .samples
            .windows(2)
            .map(|w| w[1].t_ns - w[0].t_ns)
            .collect();
        let median_gap =
            vmbench::stats::median(&gaps.iter().map(|g| *g as f64).collect::<Vec<_>>()).unwrap();
        assert!(
            (median_gap / 1e6 - interval_ms as f64).abs() < interval_ms as f64 * 0.2,
            "{median_gap}"
        );
    }
}

#[test]
fn peak_rss_matches_a_known_allocation() {
    let baseline = hold(0, 300, Duration::from_millis(10));
    let held = hold(200, 600, Duration::from_millis(10));
    let base = vmbench::collector::summarise(&baseline.samples)
        .unwrap()
        .peak_rss_bytes as f64;
    let peak = vmbench::collector::summarise(&held.samples)
        .unwrap()
        .peak_rss_bytes as f64;
    let allocated = (200u64 << 20) as f64;
    let measured = peak - base;
    assert!(
        (measured - allocated).abs() <= allocated * 0.1,
        "measured {measured} bytes over a baseline of {base}, allocated {allocated}"
    );
    let pss = vmbench::collector::summarise(&held.samples)
        .unwrap()
        .peak_pss_bytes
        .unwrap() as f64;
    assert!(
        (pss - base - allocated).abs() <= allocated * 0.1,
        "pss {pss}"
    );
}

#[test]
fn trials_carry_samples_and_summaries() {
    let outcome = hold(16, 200, Duration::from_millis(10));
    let step = Step {
        workload: Workload::Noop,
        env: EnvKind::Native,
        rep: 0,
        runs: 1,
        warmup: 0,
    };
    let trial = vmbench::runner::to_trial(&step, Ok(outcome), "", Duration::from_secs(30));
    let summary = trial.summary.unwrap();
    assert_eq!(summary.samples, trial.samples.len());
    assert!(summary.peak_rss_bytes >= 16 << 20);
    assert!(summary.mean_rss_bytes <= summary.peak_rss_bytes);
}

#[test]
fn a_pinned_busy_loop_reads_one_core_in_every_sample() {
    let allowed = vmbench::config::allowed_cpus();
    let cpu = *allowed.last().unwrap();
    // Keep this test's own threads off the workload's CPU, as the harness does.
    vmbench::pinning::move_harness_off(&[cpu]);
    let binary = common::workload_binary();
    let data = common::scratch();
    let mut spec = common::spec(
        &binary.path,
        data.path(),
        Workload::CpuInt,
        None,
        512,
        Duration::from_secs(60),
    );
    spec.invocation.size = vmbench_workload::Size::Default;
    let cpus = [cpu];
    spec.cpus = Some(&cpus);
    let outcome = native::Native.launch(&spec).unwrap();
    let rates: Vec<f64> = outcome
        .samples
        .windows(2)
        .filter_map(|w| {
            let dt = (w[1].t_ns - w[0].t_ns) as f64;
            Some((w[1].cpu_ns? - w[0].cpu_ns?) as f64 / dt)
        })
        .collect();
    assert!(rates.len() >= 10, "{} samples", outcome.samples.len());
    // The first and last intervals straddle the start and the end of the work.
    let inner = &rates[1..rates.len() - 1];
    let median = vmbench::stats::median(inner).unwrap();
    assert!(
        (median - 1.0).abs() <= 0.05,
        "median {median:.3} cores: {inner:?}"
    );
    let max = inner.iter().copied().fold(0.0, f64::max);
    assert!(max <= 1.1, "a sample read {max:.3} cores: {inner:?}");
}

#[test]
fn a_short_trial_still_carries_its_memory_at_ready() {
    let binary = common::workload_binary();
    let data = common::scratch();
    let spec = common::spec(
        &binary.path,
        data.path(),
        Workload::CpuInt,
        None,
        512,
        Duration::from_secs(60),
    );
    let outcome = native::Native.launch(&spec).unwrap();
    assert!(
        outcome.lifetime.unwrap() < Duration::from_millis(500),
        "{:?}",
        outcome.lifetime
    );
    assert!(
        outcome.samples.iter().any(|s| s.pss_bytes.is_some()),
        "no PSS in {} samples",
        outcome.samples.len()
    );
}
