//! Criterion benches of every environment this host can run: startup (`noop`, launch to
//! `ready`, measured by the host) and a few workloads (the workload's own timing of its
//! measured part), through `iter_custom`. An unavailable environment is skipped with the
//! reason printed.
//!
//! `cargo bench --bench environments` (add `-- startup` or `-- cpu-int` to filter).

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;
use vmbench::env::EnvKind;
use vmbench_workload::{Size, Workload};

const WORKLOADS: [Workload; 3] = [Workload::Noop, Workload::CpuInt, Workload::Syscall];

fn benches(c: &mut Criterion) {
    let (binary, data) = common::binary_and_scratch();
    let envs = common::prepared(EnvKind::ALL, &WORKLOADS, &binary, data.path());
    let cpus = common::workload_cpu().map(|c| vec![c]);
    if let Some(cpus) = &cpus {
        vmbench::pinning::move_harness_off(cpus);
    }
    for workload in WORKLOADS {
        let name = if workload == Workload::Noop {
            "startup".to_string()
        } else {
            workload.name().to_string()
        };
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        for env in &envs {
            let mut spec = common::spec(
                &binary.path,
                data.path(),
                workload,
                Size::Small,
                cpus.as_deref(),
                None,
            );
            spec.invocation.identity = false;
            let kind = env.kind();
            group.bench_function(kind.name(), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let outcome = env.launch(&spec).expect("instance runs");
                        let measured = if workload == Workload::Noop {
                            outcome.observed.ready.as_ref().map(|(at, _)| *at)
                        } else {
                            outcome
                                .observed
                                .results
                                .first()
                                .map(|r| Duration::from_nanos(r.elapsed_ns))
                        };
                        total += measured.unwrap_or_else(|| {
                            panic!(
                                "{kind} {workload}: no measurement: {:?}",
                                outcome.observed.errors
                            )
                        });
                    }
                    total
                })
            });
        }
        group.finish();
    }
}

criterion_group!(environments, benches);
criterion_main!(environments);
