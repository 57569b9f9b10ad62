//! The fault matrix, for real: concurrent runs, SIGKILL and signals during set-up, bad VM
//! inputs, OOM through an OCI runtime, a corrupted kernel cache, and the inputs that used to
//! panic. After each, nothing of vmbench's is left on the host.

mod common;

use serial_test::serial;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vmbench::results::Results;

fn vmbench_cmd(state: &Path) -> Command {
    let mut cmd = common::process();
    cmd.env("VMBENCH_STATE", state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn wait_for_trials(out: &Path, n: usize, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if Results::load(out).map(|r| r.trials.len()).unwrap_or(0) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{n} trials did not appear in {}", out.display());
}

fn finish(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[serial]
fn three_concurrent_container_runs_lose_no_trial() {
    if !common::root(
        "three_concurrent_container_runs_lose_no_trial",
        "this scenario (containers, cgroups)",
    ) {
        return;
    }
    let state = common::scratch();
    let dir = common::scratch();
    let children: Vec<(PathBuf, Child)> = (0..3)
        .map(|i| {
            let out = dir.path().join(format!("r{i}.json"));
            let child = vmbench_cmd(state.path())
                .args(["run", "--env", "container", "--workload", "noop"])
                .args([
                    "--reps",
                    "60",
                    "--warmup",
                    "0",
                    "--allow-concurrent",
                    "--quiet",
                ])
                .arg("--out")
                .arg(&out)
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    let pids: Vec<u32> = children.iter().map(|(_, c)| c.id()).collect();
    for (out, child) in children {
        let (code, stderr) = finish(child);
        assert_eq!(code, Some(0), "{stderr}");
        let r = Results::load(&out).unwrap();
        assert_eq!(r.trials.len(), 60);
        assert!(
            r.trials.iter().all(|t| t.error.is_none()),
            "{:?}",
            r.trials.iter().find(|t| t.error.is_some())
        );
        assert!(
            r.trials
                .iter()
                .any(|t| t.noise.as_ref().is_some_and(|n| n.concurrent_runs > 0)),
            "the other runs are recorded as noise"
        );
    }
    for pid in pids {
        let left = common::settled_leftovers(pid);
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
#[serial]
fn a_second_run_is_refused_while_one_runs_and_the_same_out_is_never_shared() {
    let state = common::scratch();
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    let first = vmbench_cmd(state.path())
        .args([
            "run",
            "--env",
            "native",
            "--workload",
            "cpu-int",
            "--reps",
            "400",
            "--quiet",
        ])
        .arg("--out")
        .arg(&out)
        .spawn()
        .unwrap();
    wait_for_trials(&out, 1, Duration::from_secs(60));
    let refused = vmbench_cmd(state.path())
        .args([
            "run",
            "--env",
            "native",
            "--workload",
            "noop",
            "--reps",
            "1",
            "--quiet",
        ])
        .arg("--out")
        .arg(dir.path().join("other.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another vmbench run") && stderr.contains("--allow-concurrent"),
        "{stderr}"
    );
    let same = vmbench_cmd(state.path())
        .args([
            "run",
            "--env",
            "native",
            "--workload",
            "noop",
            "--reps",
            "1",
            "--quiet",
        ])
        .arg("--allow-concurrent")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&same.stderr);
    assert_eq!(same.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("being written by another vmbench run"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let (code, _) = finish(first);
    assert_eq!(code, Some(1));
    assert!(!Results::load(&out).unwrap().complete);
}

#[test]
#[serial]
fn sigkill_leaves_nothing_the_next_run_does_not_remove() {
    if !common::root(
        "sigkill_leaves_nothing_the_next_run_does_not_remove",
        "this scenario (containers, cgroups)",
    ) {
        return;
    }
    let has_crun = vmbench::tool::which("crun").is_some();
    let state = common::scratch();
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    let envs = if has_crun {
        "container,container-crun,vm"
    } else {
        "container,vm"
    };
    let child = vmbench_cmd(state.path())
        .args([
            "run",
            "--env",
            envs,
            "--workload",
            "file-io,cpu-int",
            "--reps",
            "50",
        ])
        .args(["--size", "small", "--quiet", "--out"])
        .arg(&out)
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_for_trials(&out, 4, Duration::from_secs(180));
    // Mid-trial, whichever it is.
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = finish(child);
    let locks = || -> Vec<String> {
        std::fs::read_dir(state.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("out-"))
            .collect()
    };
    assert_eq!(locks().len(), 1, "the killed run's results-file lock");
    let cleaned = vmbench_cmd(state.path()).arg("clean").output().unwrap();
    assert!(cleaned.status.success());
    // QEMU and the workloads die with vmbench (parent-death signal): a large QEMU takes a
    // moment to tear down its memory.
    let after = common::settled_leftovers(pid);
    assert!(after.is_empty(), "left after SIGKILL and clean: {after:?}");
    assert!(
        std::fs::read_dir(state.path().join("runs"))
            .unwrap()
            .count()
            == 0,
        "registry entry of the dead run removed"
    );
    assert!(
        locks().is_empty(),
        "stale results-file locks: {:?}",
        locks()
    );
}

/// Waits until the process `pid` holds SIGTERM blocked or handled (vmbench's `main` has begun),
/// or has ended, for at most five seconds.
fn wait_until_running(pid: u32) {
    let sigterm = 1u64 << (libc::SIGTERM - 1);
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return;
        };
        let mask = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .unwrap_or(0)
        };
        if status.contains("State:\tZ") || (mask("SigBlk:") | mask("SigCgt:")) & sigterm != 0 {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
#[serial]
fn sigterm_during_set_up_exits_1_and_leaves_nothing() {
    let qemu = vmbench::env::vm::find_qemu(None).is_ok();
    if !common::capability(
        "sigterm_during_set_up_exits_1_and_leaves_nothing",
        qemu,
        "qemu-system-x86_64 (apt-get install qemu-system-x86)",
    ) {
        return;
    }
    for delay_ms in [10u64, 30, 60, 120] {
        let state = common::scratch();
        let dir = common::scratch();
        let child = vmbench_cmd(state.path())
            .args([
                "run",
                "--env",
                "vm",
                "--workload",
                "file-io",
                "--reps",
                "1",
                "--quiet",
            ])
            .arg("--out")
            .arg(dir.path().join("r.json"))
            .spawn()
            .unwrap();
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // A signal before `main`'s first instruction (exec, the dynamic loader relocating a
        // 130 MB debug binary on a busy host) kills any program: wait until vmbench runs.
        wait_until_running(pid);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let (code, stderr) = finish(child);
        assert_eq!(code, Some(1), "after {delay_ms} ms: {stderr}");
        let left = common::settled_leftovers(pid);
        assert!(left.is_empty(), "after {delay_ms} ms: {left:?}");
    }
}

#[test]
#[serial]
fn a_signal_during_kernel_provisioning_leaves_no_half_built_kernel() {
    let apt = vmbench::tool::which("apt-get").is_some() && common::is_root();
    if !common::capability(
        "a_signal_during_kernel_provisioning_leaves_no_half_built_kernel",
        apt,
        "apt-get and root (the kernel is provisioned from the distribution's package)",
    ) {
        return;
    }
    let state = common::scratch();
    let cache = common::scratch();
    let dir = common::scratch();
    let mut cmd = vmbench_cmd(state.path());
    cmd.env("VMBENCH_CACHE", cache.path());
    let child = cmd
        .args([
            "run",
            "--env",
            "vm",
            "--workload",
            "noop",
            "--reps",
            "1",
            "--quiet",
        ])
        .arg("--out")
        .arg(dir.path().join("r.json"))
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the staging folder exists: the provisioning is under way.
    let start = Instant::now();
    let kernels = cache.path().join("kernel");
    while start.elapsed() < Duration::from_secs(60) {
        let staging = std::fs::read_dir(&kernels)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(".staging-"))
            })
            .unwrap_or(false);
        if staging {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(1), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(&kernels)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.iter().all(|n| !n.starts_with(".staging")), "{left:?}");
    let tools = Command::new("pgrep")
        .args(["-x", "dpkg-deb|apt-get"])
        .output()
        .unwrap();
    assert!(tools.stdout.is_empty(), "a provisioning tool still runs");
    let after = common::settled_leftovers(pid);
    assert!(after.is_empty(), "{after:?}");
}

fn one_line_exit_2(args: &[&str], envs: &[(&str, &str)], needles: &[&str]) {
    let state = common::scratch();
    let dir = common::scratch();
    let mut cmd = vmbench_cmd(state.path());
    cmd.current_dir(dir.path()).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: {n:?} not in {stderr}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "{args:?} created something before refusing"
    );
}

#[test]
fn bad_vm_inputs_are_refused_before_anything_starts() {
    let vm = [
        "run",
        "--env",
        "vm-tcg",
        "--workload",
        "noop",
        "--reps",
        "1",
    ];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut a: Vec<&'static str> = vm.to_vec();
        a.extend_from_slice(extra);
        a
    };
    let qemu = vmbench::env::vm::find_qemu(None).is_ok();
    if !common::capability(
        "bad_vm_inputs_are_refused_before_anything_starts",
        qemu,
        "needs QEMU (apt-get install qemu-system-x86)",
    ) {
        return;
    }
    one_line_exit_2(
        &with(&["--qemu", "/nonexistent"]),
        &[],
        &["/nonexistent", "does not exist"],
    );
    one_line_exit_2(
        &vm,
        &[("VMBENCH_QEMU", "/nonexistent")],
        &["does not exist"],
    );
    one_line_exit_2(&with(&["--qemu", "/bin/false"]), &[], &["is not QEMU"]);
    one_line_exit_2(
        &with(&["--kernel", "/etc/passwd"]),
        &[],
        &["not a Linux kernel image"],
    );
    one_line_exit_2(&with(&["--memory", "64"]), &[], &["at least 96 MiB"]);
    one_line_exit_2(
        &with(&["--memory", "1048576"]),
        &[],
        &["more than this host has"],
    );
}

#[test]
fn inputs_that_used_to_panic_get_one_line_and_exit_2() {
    one_line_exit_2(
        &["run", "--timeout", "1e30"],
        &[],
        &["--timeout", "too long"],
    );
    one_line_exit_2(
        &["run", "--max-time", "1e30"],
        &[],
        &["--max-time", "too long"],
    );
    one_line_exit_2(&["run", "--timeout", "1e19"], &[], &["--timeout"]);
    one_line_exit_2(&["run", "--reps", "-1"], &[], &["--reps"]);
    use std::os::unix::ffi::OsStrExt;
    let state = common::scratch();
    let out = vmbench_cmd(state.path())
        .arg("compare")
        .arg(std::ffi::OsStr::from_bytes(b"bad\xff.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read results file"), "{stderr}");
}

#[test]
fn messages_name_the_problem_and_the_fix() {
    one_line_exit_2(
        &[
            "run",
            "--workload",
            "noop",
            "--out",
            "no/such/folder/r.json",
        ],
        &[],
        &["no/such/folder", "does not exist", "create it"],
    );
    one_line_exit_2(
        &["run", "--workload", "noop", "--data-dir", "/proc"],
        &[],
        &["--data-dir /proc"],
    );
    one_line_exit_2(
        &["run", "--workload", "noop"],
        &[("VMBENCH_CACHE", "/proc/vmbench-cache")],
        &["VMBENCH_CACHE"],
    );
    let dir = common::scratch();
    let foreign = dir.path().join("package.json");
    std::fs::write(&foreign, r#"{"name": "not ours"}"#).unwrap();
    one_line_exit_2(
        &["compare", foreign.to_str().unwrap(), "--out", "r.html"],
        &[],
        &["not a vmbench results file"],
    );
}

#[test]
#[serial]
fn oci_runtimes_report_oom_and_signals() {
    for program in ["runc", "crun"] {
        let present = common::is_root() && vmbench::tool::which(program).is_some();
        if !common::capability(
            "oci_runtimes_report_oom_and_signals",
            present,
            &format!("root and {program} (apt-get install {program})"),
        ) {
            continue;
        }
        let kind = if program == "runc" {
            vmbench::env::EnvKind::ContainerRunc
        } else {
            vmbench::env::EnvKind::ContainerCrun
        };
        let env = common::prepared(kind);
        let binary = common::workload_binary();
        let data = common::scratch();
        let spec = common::spec(
            &binary.path,
            data.path(),
            vmbench_workload::Workload::CpuInt,
            Some(vmbench_workload::invocation::Fault::Alloc(256)),
            64,
            Duration::from_secs(60),
        );
        let t = common::trial(env.as_ref(), &spec, &binary.sha256);
        assert!(t.exit.oom, "{program}: {:?} {:?}", t.exit, t.error);
        assert_eq!(t.exit.signal, Some(9), "{program}: 137 decoded as SIGKILL");
        assert!(
            t.error.as_deref().unwrap().contains("OOM"),
            "{program}: {:?}",
            t.error
        );
        assert!(
            t.cgroup.as_ref().is_some_and(|c| c.oom_kills >= 1),
            "{program}"
        );
    }
}

#[test]
#[serial]
fn a_guest_oom_is_reported_from_its_console() {
    let qemu = vmbench::env::vm::find_qemu(None).is_ok();
    if !common::capability(
        "a_guest_oom_is_reported_from_its_console",
        qemu,
        "qemu-system-x86_64 (apt-get install qemu-system-x86)",
    ) {
        return;
    }
    let env = common::prepared(vmbench::env::best_vm());
    let binary = common::workload_binary();
    let data = common::scratch();
    let spec = common::spec(
        &binary.path,
        data.path(),
        vmbench_workload::Workload::CpuInt,
        Some(vmbench_workload::invocation::Fault::Alloc(1024)),
        128,
        Duration::from_secs(240),
    );
    let t = common::trial(env.as_ref(), &spec, &binary.sha256);
    assert!(t.exit.oom, "{t:?}");
    assert!(
        t.error.as_deref().unwrap().contains("out of memory"),
        "{:?}",
        t.error
    );
}

#[test]
#[serial]
fn a_corrupted_kernel_cache_is_noticed_and_provisioned_again() {
    let apt = vmbench::tool::which("apt-get").is_some()
        && common::is_root()
        && vmbench::env::vm::find_qemu(None).is_ok();
    if !common::capability(
        "a_corrupted_kernel_cache_is_noticed_and_provisioned_again",
        apt,
        "apt-get, root and QEMU",
    ) {
        return;
    }
    // A private copy of the shared cache's kernel, then truncated.
    let cache = common::scratch();
    let shared = common::cache_dir().join("kernel");
    let prepared = common::prepared(vmbench::env::best_vm());
    drop(prepared);
    let version = std::fs::read_dir(&shared)
        .unwrap()
        .flatten()
        .find(|e| e.path().join("vmlinux").is_file())
        .unwrap()
        .path();
    let copy = cache
        .path()
        .join("kernel")
        .join(version.file_name().unwrap());
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(&version)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let vmlinux = copy.join("vmlinux");
    let len = std::fs::metadata(&vmlinux).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&vmlinux)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let state = common::scratch();
    let doctor = vmbench_cmd(state.path())
        .env("VMBENCH_CACHE", cache.path())
        .arg("doctor")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    let line = text.lines().find(|l| l.contains("guest kernel")).unwrap();
    assert!(line.contains("corrupt"), "{text}");
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    let run = vmbench_cmd(state.path())
        .env("VMBENCH_CACHE", cache.path())
        .args([
            "run",
            "--env",
            "vm",
            "--workload",
            "noop",
            "--reps",
            "1",
            "--warmup",
            "0",
            "--quiet",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("corrupt") && stderr.contains("provisioning it again"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::metadata(&vmlinux).unwrap().len(),
        len,
        "whole again"
    );
    assert!(Results::load(&out).unwrap().trials[0].error.is_none());
}

#[test]
#[serial]
fn finished_repetitions_survive_an_interrupt_in_warm_mode() {
    let state = common::scratch();
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    let child = vmbench_cmd(state.path())
        .args([
            "run",
            "--env",
            "native",
            "--workload",
            "cpu-int",
            "--mode",
            "warm",
        ])
        .args([
            "--reps",
            "200",
            "--warmup",
            "0",
            "--interval",
            "0",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .spawn()
        .unwrap();
    // The results file is written once the instance ends; interrupt it mid-way, a few
    // seconds after its workload started.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60)
        && !common::leftovers(child.id())
            .iter()
            .any(|l| l.contains("vmbench-workloa"))
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(1), "{stderr}");
    let r = Results::load(&out).unwrap();
    assert!(!r.complete);
    assert!(
        r.trials.len() >= 3,
        "{} finished repetitions kept",
        r.trials.len()
    );
    assert!(r.trials.len() < 200);
    assert!(r
        .trials
        .iter()
        .all(|t| t.error.is_none() && t.headline().is_some()));
}

#[test]
fn a_large_results_file_renders_in_little_memory() {
    // About 60 MB of samples, as a long suite writes.
    let dir = common::scratch();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut r = Results::load(&fixtures.join("results-v1-before-env-trait.json")).unwrap();
    let sample = vmbench::results::Sample {
        t_ns: 10_000_000,
        cpu_ns: Some(9_000_000),
        rss_bytes: 1 << 20,
        pss_bytes: Some(1 << 20),
        minor_faults: Some(100),
        major_faults: Some(0),
        threads: Some(1),
        ..Default::default()
    };
    for t in &mut r.trials {
        t.samples = vec![sample.clone(); 7_000];
    }
    let path = dir.path().join("big.json");
    r.save(&path).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 40 << 20, "{size}");
    drop(r);
    let mut child = common::process()
        .arg("compare")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("big.html"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (status, peak) = common::wait_with_peak(&mut child);
    assert!(status.success(), "{status:?}");
    assert!(peak > 0, "the peak was read");
    assert!(
        peak < 3 * size,
        "peak {} MB for a {} MB file",
        peak >> 20,
        size >> 20
    );
}

/// Runs `args` with a deadline and its address space bounded (1 GiB: an unbounded read would
/// fail there, not refuse): its exit code, stderr and how long it took.
fn bounded(state: &Path, args: &[&std::ffi::OsStr]) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--as={}", 1u64 << 30))
        .arg("--")
        .arg(common::binary())
        .args(args)
        .env("VMBENCH_STATE", state)
        .env("VMBENCH_CACHE", common::cache_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = start + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = start.elapsed();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        took,
    )
}

/// What a path is, to see that it was left as it was.
fn identity(path: &Path) -> (u32, u64, Option<PathBuf>) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).unwrap();
    (meta.mode(), meta.ino(), std::fs::read_link(path).ok())
}

#[test]
fn special_files_and_endless_inputs_are_refused_untouched() {
    use std::ffi::OsStr;
    if !common::root(
        "special_files_and_endless_inputs_are_refused_untouched",
        "making a device node",
    ) {
        return;
    }
    let state = common::scratch();
    let dir = common::scratch();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let device = dir.path().join("null");
    nix::sys::stat::mknod(
        &device,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    let target = dir.path().join("target.json");
    std::fs::write(&target, "kept").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let endless = dir.path().join("zero");
    std::os::unix::fs::symlink("/dev/zero", &endless).unwrap();
    let sample = dir.path().join("sample.json");
    let mut json = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open("tests/fixtures/reports/sample.json.gz").unwrap(),
        ),
        &mut json,
    )
    .unwrap();
    std::fs::write(&sample, json).unwrap();

    let outputs: [&Path; 3] = [&fifo, &device, &link];
    let inputs: [&Path; 4] = [&fifo, &device, Path::new("/dev/zero"), &endless];
    let mut cases: Vec<Vec<&OsStr>> = Vec::new();
    for out in outputs {
        let out = out.as_os_str();
        for command in [&["run", "--workload", "noop"][..], &["density"]] {
            let mut args: Vec<&OsStr> = command.iter().map(OsStr::new).collect();
            args.extend([OsStr::new("--out"), out]);
            cases.push(args);
        }
        cases.push(vec![
            OsStr::new("compare"),
            sample.as_os_str(),
            OsStr::new("--out"),
            out,
        ]);
    }
    let qemu = common::capability(
        "special_files_and_endless_inputs_are_refused_untouched (--kernel, --qemu)",
        vmbench::env::vm::find_qemu(None).is_ok(),
        "needs QEMU (apt-get install qemu-system-x86)",
    );
    for input in inputs {
        let input = input.as_os_str();
        let run = |flag: &'static str, env: &'static str| -> Vec<&OsStr> {
            ["run", "--env", env, "--workload", "noop", flag]
                .into_iter()
                .map(OsStr::new)
                .chain([input])
                .collect()
        };
        cases.push(run("--workload-bin", "native"));
        if qemu {
            cases.push(run("--kernel", "vm-tcg"));
            cases.push(run("--qemu", "vm-tcg"));
        }
        cases.push(vec![OsStr::new("compare"), input]);
        cases.push(vec![
            OsStr::new("compare"),
            sample.as_os_str(),
            OsStr::new("--baseline"),
            input,
        ]);
    }
    let before: Vec<_> = [&fifo, &device, &link, &target]
        .map(|p| identity(p))
        .to_vec();
    for args in &cases {
        let (code, stderr, took) = bounded(state.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            [
                "not a regular file",
                "a character device",
                "a FIFO",
                "a symbolic link"
            ]
            .iter()
            .any(|n| stderr.contains(n)),
            "{args:?}: {stderr}"
        );
        assert!(took < Duration::from_secs(1), "{args:?} took {took:?}");
    }
    let after: Vec<_> = [&fifo, &device, &link, &target]
        .map(|p| identity(p))
        .to_vec();
    assert_eq!(before, after, "a special file was replaced");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept");
}
