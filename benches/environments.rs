//! Criterion benches of every environment this host can run: startup (`noop`, launch to
//! `ready`, measured by the host) and a few workloads (the workload's own timing of its
//! measured part), through `iter_custom`. An unavailable environment is skipped with the
//! reason printed.
//!
//! `cargo bench --bench environments` (add `-- startup` or `-- cpu-int` to filter).

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;
use vmbench::env::{self, EnvKind, Spec};
use vmbench::runner::{launch, Mode, RunSettings};
use vmbench_workload::{Invocation, Size, Workload};

const WORKLOADS: [Workload; 3] = [Workload::Noop, Workload::CpuInt, Workload::Syscall];

fn settings(
    host: &mut vmbench::host::HostInfo,
    data: &std::path::Path,
    binary: &vmbench::results::BinaryInfo,
) -> RunSettings {
    let cache = vmbench::cache::cache_dir();
    let container = env::availability(EnvKind::Container, host)
        .ok()
        .and_then(|_| env::container::prepare(binary, &cache).ok());
    let vm = env::availability(EnvKind::VmTcg, host).ok().and_then(|_| {
        env::vm::prepare(
            binary,
            &WORKLOADS,
            &cache,
            data,
            &env::vm::VmOptions::default(),
            host,
        )
        .ok()
    });
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    RunSettings {
        size: Size::Small,
        cpus: (online >= 2).then(|| vec![online - 1]),
        memory_mib: 512,
        cpu_quota: None,
        timeout: Duration::from_secs(300),
        data_dir: data.to_path_buf(),
        out: data.join("unused.json"),
        sample_interval: None,
        mode: Mode::Cold,
        adaptive: None,
        container,
        vm,
    }
}

fn benches(c: &mut Criterion) {
    let cache = vmbench::cache::cache_dir();
    let binary = vmbench::workload_bin::resolve(None, &cache).expect("workload binary");
    let data = tempfile::Builder::new()
        .prefix("vmbench-bench-")
        .tempdir_in("/var/tmp")
        .expect("scratch");
    let mut host = vmbench::app::full_host_info();
    let settings = settings(&mut host, data.path(), &binary);
    if let Some(cpus) = &settings.cpus {
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
        for kind in EnvKind::ALL {
            if let Err(reason) = env::availability(kind, &host) {
                println!("skip {kind} ({}): {reason}", workload.name());
                continue;
            }
            let spec = Spec {
                binary: &binary.path,
                invocation: Invocation {
                    workload,
                    size: Size::Small,
                    runs: 1,
                    data_dir: data.path().to_path_buf(),
                    fault: None,
                    identity: false,
                },
                cpus: settings.cpus.as_deref(),
                memory_mib: settings.memory_mib,
                cpu_quota: None,
                timeout: settings.timeout,
                data_dir: data.path(),
                sample_interval: None,
            };
            group.bench_function(kind.name(), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let outcome = launch(kind, &spec, &settings).expect("instance runs");
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
