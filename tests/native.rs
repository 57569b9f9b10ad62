//! The native environment for real: a full `vmbench run` through the binary, and crashing or
//! hanging workloads recorded with their error while the run goes on.

mod common;

use std::time::Duration;
use vmbench::env::native;
use vmbench::results::Results;
use vmbench_workload::invocation::Fault;
use vmbench_workload::Workload;

#[test]
#[serial_test::serial]
fn run_writes_every_trial_with_startup_and_headline() {
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    common::vmbench()
        .args([
            "run",
            "--env",
            "native",
            "--workload",
            "noop,cpu-int,mem-bw,syscall,file-io",
        ])
        .args(["--reps", "3", "--size", "small", "--quiet", "--out"])
        .arg(&out)
        .assert()
        .success();
    let results = Results::load(&out).unwrap();
    assert_eq!(results.schema_version, vmbench::results::SCHEMA_VERSION);
    assert!(results.complete);
    assert_eq!(results.workload_binary.sha256.len(), 64);
    assert!(!results.host.kernel.is_empty() && results.host.cores > 0);
    assert_eq!(results.trials.len(), 15);
    assert_eq!(results.warmup_trials.len(), 5);
    for t in &results.trials {
        assert_eq!(t.error, None, "{t:?}");
        assert!(t.startup_ns.unwrap() > 0);
        let spec = t.workload.headline();
        let headline = t.headline().unwrap();
        assert_eq!(headline.name, spec.name);
        assert!(headline.value > 0.0);
        let view = t.guest_view.as_ref().unwrap();
        assert_eq!(view.sha256, results.workload_binary.sha256);
        assert_eq!(t.exit.code, Some(0));
    }
    let io = results
        .trials
        .iter()
        .find(|t| t.workload == Workload::FileIo)
        .unwrap();
    assert!(io.io_path.as_deref().unwrap().starts_with("host "));
    // No temporary file left beside the results.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("r.json")]);
}

fn faulty(fault: Fault, timeout: Duration) -> vmbench::results::Trial {
    let binary = common::workload_binary();
    let data = common::scratch();
    let spec = common::spec(
        &binary.path,
        data.path(),
        Workload::CpuInt,
        Some(fault),
        256,
        timeout,
    );
    common::trial(&native::Native, &spec, &binary.sha256)
}

#[test]
fn a_crashing_workload_is_recorded_with_its_signal() {
    let t = faulty(Fault::Crash, Duration::from_secs(30));
    assert_eq!(t.exit.signal, Some(libc::SIGABRT));
    let err = t.error.unwrap();
    assert!(err.contains("signal 6"), "{err}");
    assert!(t.startup_ns.is_some(), "ready came before the crash");
}

#[test]
fn a_hanging_workload_is_killed_at_the_timeout() {
    let start = std::time::Instant::now();
    let t = faulty(Fault::Hang, Duration::from_millis(500));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(t.exit.timed_out);
    assert_eq!(t.exit.signal, Some(libc::SIGKILL));
    assert!(t.error.unwrap().contains("timed out"));
}

#[test]
#[serial_test::serial]
fn without_warm_ups_the_size_probes_are_said_and_counted() {
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    let run = common::vmbench()
        .args(["run", "--env", "native", "--workload", "noop,cpu-int"])
        .args(["--reps", "2", "--warmup", "0", "--out"])
        .arg(&out)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 6, "{stderr}");
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("[{}/6]", i + 1)), "{stderr}");
        assert_eq!(line.contains("(size probe)"), i < 2, "{line}");
        assert!(!line.contains("warm-up"), "{line}");
    }
    let results = Results::load(&out).unwrap();
    assert!(results.warmup_trials.iter().all(|t| t.probe));
    assert_eq!(results.warmup_trials.len(), 2);
    assert!(results.trials.iter().all(|t| !t.probe));
}
