//! What the collector costs: its own CPU time over wall time at 10 ms and 1 ms, and whether a
//! workload's headline figure moves when it runs. Collector-on and collector-off trials
//! alternate in one run (the machine is shared and noisy), and the on/off ratio of the medians
//! is given with its 95% bootstrap interval.
//!
//! `cargo bench --bench collector_overhead` (set VMBENCH_BENCH_REPS to change the count).

mod common;

use std::time::Duration;
use vmbench::env::{native, Environment};
use vmbench_workload::{Size, Workload};

fn run(
    binary: &std::path::Path,
    workload: Workload,
    interval: Option<Duration>,
    cpus: Option<&[usize]>,
    data: &std::path::Path,
) -> (f64, Option<vmbench::collector::Cost>) {
    let mut spec = common::spec(binary, data, workload, Size::Default, cpus, interval);
    spec.invocation.identity = false;
    let outcome = native::Native.launch(&spec).expect("native run");
    let value = outcome
        .observed
        .results
        .first()
        .and_then(|r| r.metrics.first())
        .map(|m| m.value)
        .expect("headline");
    (value, outcome.collector_cost)
}

fn main() {
    let reps: usize = std::env::var("VMBENCH_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let cache = vmbench::cache::cache_dir();
    let binary = vmbench::workload_bin::resolve(None, &cache).expect("workload binary");
    let data = tempfile::tempdir().expect("scratch");
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = (online >= 2).then(|| vec![online - 1]);
    if let Some(cpus) = &pinned {
        vmbench::pinning::move_harness_off(cpus);
    }
    println!("collector overhead, {reps} alternating on/off runs per workload, workload pinned to {pinned:?}");
    for workload in [Workload::CpuInt, Workload::MemBw] {
        for interval_ms in [10u64, 1] {
            let interval = Duration::from_micros(interval_ms * 1000);
            let (mut on, mut off) = (Vec::new(), Vec::new());
            let mut cost = vmbench::collector::Cost::default();
            for _ in 0..reps {
                let (v, c) = run(
                    &binary.path,
                    workload,
                    Some(interval),
                    pinned.as_deref(),
                    data.path(),
                );
                on.push(v);
                cost.add(c.unwrap_or_default());
                off.push(run(&binary.path, workload, None, pinned.as_deref(), data.path()).0);
            }
            let ratio = vmbench::stats::ratio_of_medians(&on, &off).expect("ratio");
            let ci = ratio
                .ci
                .map(|c| format!("[{:.4}, {:.4}]", c.lo, c.hi))
                .unwrap_or_default();
            println!(
                "{:<8} interval {:>2} ms: collector {:.3}% of one core ({:.1} us/sample); headline on/off = {:.4} {ci} (on {:.1}, off {:.1} {})",
                workload.name(),
                interval_ms,
                cost.fraction_of_core() * 100.0,
                cost.cpu_ns as f64 / cost.samples.max(1) as f64 / 1e3,
                ratio.value,
                vmbench::stats::median(&on).unwrap(),
                vmbench::stats::median(&off).unwrap(),
                workload.headline().unit
            );
        }
    }
}
