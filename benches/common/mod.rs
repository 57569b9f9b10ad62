//! What the benches share: environments prepared as a run prepares them, and one instance's
//! spec.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;
use vmbench::config::RunConfig;
use vmbench::env::{self, EnvKind, Environment, Shared, Spec};
use vmbench::results::BinaryInfo;
use vmbench_workload::{Invocation, Size, Workload};

/// The last CPU this process may use, when it may use two or more (the workload's CPU).
pub fn workload_cpu() -> Option<usize> {
    let allowed = vmbench::config::allowed_cpus();
    (allowed.len() >= 2).then(|| *allowed.last().expect("two or more"))
}

/// The workload binary (resolved as a run resolves it) and a scratch folder in /var/tmp.
pub fn binary_and_scratch() -> (BinaryInfo, tempfile::TempDir) {
    let cache = vmbench::cache::cache_dir();
    let binary = vmbench::workload_bin::resolve(None, &cache).expect("workload binary");
    let data = tempfile::Builder::new()
        .prefix("vmbench-bench-")
        .tempdir_in("/var/tmp")
        .expect("scratch");
    (binary, data)
}

/// Every environment of `kinds` this host can run, prepared; the others are skipped with
/// their reason printed.
pub fn prepared(
    kinds: &[EnvKind],
    workloads: &[Workload],
    binary: &BinaryInfo,
    data: &Path,
) -> Vec<Box<dyn Environment>> {
    let mut host = vmbench::session::host_facts();
    let config = RunConfig {
        envs: kinds.to_vec(),
        workloads: workloads.to_vec(),
        data_dir: data.to_path_buf(),
        ..RunConfig::default()
    };
    let mut shared = Shared::new(
        &config,
        binary,
        vmbench::cache::cache_dir(),
        data.to_path_buf(),
        &mut host,
    );
    let mut out = Vec::new();
    for &kind in kinds {
        match env::prepare_one(kind, &mut shared) {
            Ok((e, _)) => out.push(e),
            Err(err) => println!("skip {kind}: {}", vmbench::error_chain(&err)),
        }
    }
    out
}

/// One instance of `workload` on `cpus`, no collector unless `interval` is given.
pub fn spec<'a>(
    binary: &'a Path,
    data: &'a Path,
    workload: Workload,
    size: Size,
    cpus: Option<&'a [usize]>,
    interval: Option<Duration>,
) -> Spec<'a> {
    Spec {
        binary,
        invocation: Invocation {
            workload,
            size,
            runs: 1,
            data_dir: data.to_path_buf(),
            fault: None,
            identity: true,
            bind: vmbench_workload::default_bind(),
            watch_stdin: true,
        },
        cpus,
        memory_mib: 512,
        cpu_quota: None,
        timeout: Duration::from_secs(300),
        data_dir: data,
        sample_interval: interval,
        page_cache: Default::default(),
        net: None,
    }
}
