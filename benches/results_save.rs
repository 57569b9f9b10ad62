//! What saving the results file after every trial costs: a results file the size of the
//! default suite's (300 trials, ~30 000 samples) saved atomically, median of several saves.
//!
//! `cargo bench --bench results_save`

use std::collections::BTreeMap;
use vmbench::config::RunConfig;
use vmbench::ids::EnvKind;
use vmbench::results::{BinaryInfo, ExitInfo, Results, Sample, Trial, SCHEMA_VERSION};
use vmbench_workload::Workload;

fn synthetic() -> Results {
    let trial = |i: u32| Trial {
        env: EnvKind::Container,
        workload: Workload::CpuInt,
        rep: i,
        warmup: false,
        probe: false,
        size: None,
        startup_ns: Some(2_000_000),
        lifetime_ns: Some(300_000_000),
        teardown_ns: Some(100_000),
        phases: BTreeMap::from([
            (vmbench::ids::Phase::Clone, 700_000u64),
            (vmbench::ids::Phase::Exec, 1_500_000),
        ]),
        metrics: vec![],
        guest_view: Some(Default::default()),
        rusage: Some(Default::default()),
        detail: None,
        io_path: None,
        samples: (0..100)
            .map(|k| Sample {
                t_ns: k * 10_000_000,
                cpu_user_ns: k * 9_000_000,
                rss_bytes: 9 << 20,
                pss_bytes: Some(9 << 20),
                minor_faults: Some(500),
                major_faults: Some(0),
                threads: Some(1),
                ..Sample::default()
            })
            .collect(),
        summary: None,
        cgroup: None,
        cgroup_attach: None,
        noise: None,
        host_rusage: None,
        evicted_bytes: None,
        host_uid: None,
        net: None,
        spacing: None,
        exceeded: None,
        exit: ExitInfo::default(),
        error: None,
    };
    Results {
        schema_version: SCHEMA_VERSION,
        vmbench_version: "bench".into(),
        created_at: String::new(),
        updated_at: String::new(),
        complete: true,
        host: Default::default(),
        config: RunConfig::default(),
        workload_binary: BinaryInfo {
            path: "/w".into(),
            sha256: String::new(),
            bytes: 0,
        },
        environments: vec![],
        trials: (0..300).map(trial).collect(),
        warmup_trials: vec![],
        start_trials: Vec::new(),
        limit_trials: Vec::new(),
        collector: None,
        image: None,
        sizes: Default::default(),
        note: None,
        skipped: Vec::new(),
        fleet: None,
        density: None,
        adaptive: None,
        snapshot: None,
    }
}

fn main() {
    let results = synthetic();
    let dir = tempfile::tempdir().expect("scratch");
    let path = dir.path().join("r.json");
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = std::time::Instant::now();
        results.save(&path).expect("save");
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "results save: median {:.1} ms for {} trials, {} samples, {:.1} MB (atomic: temp file, fsync, rename)",
        vmbench::stats::median(&times).unwrap(),
        results.trials.len(),
        results.trials.iter().map(|t| t.samples.len()).sum::<usize>(),
        size as f64 / 1e6
    );
}
