//! A real QEMU guest: the workload binary boots as `/init`, reports the same SHA-256 as the
//! host's, runs file-io on a virtio-blk ext4 disk, and nothing is left running afterwards.

mod common;

use serial_test::serial;
use vmbench::env::EnvKind;
use vmbench::ids::Phase;
use vmbench::results::Results;
use vmbench_workload::Workload;

fn qemu_present(test: &str) -> bool {
    let present = vmbench::env::vm::find_qemu(None).is_ok();
    common::capability(
        test,
        present,
        "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)",
    )
}

fn qemu_processes() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .map(|c| c.trim().starts_with("qemu-system"))
                .unwrap_or(false)
        })
        .count()
}

#[test]
#[serial]
fn a_guest_boots_the_same_binary_and_does_file_io_on_virtio_blk() {
    if !qemu_present("a_guest_boots_the_same_binary_and_does_file_io_on_virtio_blk") {
        return;
    }
    let before = qemu_processes();
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    let assert = common::vmbench()
        .env("VMBENCH_CACHE", common::cache_dir())
        .args([
            "run",
            "--env",
            "native,vm",
            "--workload",
            "noop,syscall,file-io",
            "--reps",
            "1",
            "--warmup",
            "0",
        ])
        .args(["--size", "small", "--timeout", "240", "--quiet", "--out"])
        .arg(&out)
        .assert();
    let output = assert.get_output();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results = Results::load(&out).unwrap();
    let kvm = vmbench::env::vm::accel::kvm_usable().is_ok();
    let vm_env = if kvm { EnvKind::VmKvm } else { EnvKind::VmTcg };
    let vm: Vec<_> = results.trials.iter().filter(|t| t.env == vm_env).collect();
    assert_eq!(
        vm.len(),
        3,
        "{:?}",
        results.trials.iter().map(|t| &t.env).collect::<Vec<_>>()
    );
    assert_eq!(
        results.host.accelerator.as_deref(),
        Some(if kvm { "kvm" } else { "tcg" })
    );
    assert!(results.host.accelerator_reason.is_some());
    for t in &vm {
        assert_eq!(t.error, None, "{t:?}");
        let view = t.guest_view.as_ref().unwrap();
        assert_eq!(
            view.sha256, results.workload_binary.sha256,
            "the guest ran the same bytes"
        );
        assert_eq!(view.pid, 1);
        let agent = view.agent.as_ref().expect("ran as the guest agent");
        assert!(agent.init_uptime_s > 0.0);
        assert!(view.mem_total_bytes > 0 && view.mem_total_bytes <= 512 << 20);
        assert!(t.startup_ns.unwrap() > 0 && t.phases.contains_key(&Phase::GuestKernelStartEst));
        assert!(
            t.host_rusage.as_ref().unwrap().max_rss_bytes > 10 << 20,
            "qemu's own footprint is recorded"
        );
        assert_ne!(
            view.kernel, results.host.kernel,
            "the guest runs its own kernel"
        );
    }
    let io = vm.iter().find(|t| t.workload == Workload::FileIo).unwrap();
    assert!(
        io.io_path.as_deref().unwrap().starts_with("virtio-blk"),
        "{:?}",
        io.io_path
    );
    let agent = io.guest_view.as_ref().unwrap().agent.as_ref().unwrap();
    assert!(
        agent.modules.iter().any(|m| m == "virtio_blk")
            && agent.modules.iter().any(|m| m == "ext4")
    );
    let noop = vm.iter().find(|t| t.workload == Workload::Noop).unwrap();
    assert!(
        noop.guest_view
            .as_ref()
            .unwrap()
            .agent
            .as_ref()
            .unwrap()
            .modules
            .is_empty(),
        "no disk, no modules"
    );
    assert_eq!(qemu_processes(), before, "qemu left running");
    let disks = std::fs::read_dir("/var/tmp")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("vmbench-disk-"))
        .count();
    assert_eq!(disks, 0, "disk image left behind");
}

#[test]
#[serial]
fn a_hung_guest_is_killed_at_the_timeout() {
    if !qemu_present("a_hung_guest_is_killed_at_the_timeout") {
        return;
    }
    let before = qemu_processes();
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    // Far too short for a boot: the guest is killed and the failure recorded.
    common::vmbench()
        .args([
            "run",
            "--env",
            "vm-tcg",
            "--workload",
            "noop",
            "--reps",
            "1",
            "--warmup",
            "0",
            "--timeout",
            "0.3",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(1);
    let results = Results::load(&out).unwrap();
    let t = &results.trials[0];
    assert!(t.exit.timed_out, "{t:?}");
    assert!(t.error.as_deref().unwrap().contains("timed out"));
    assert_eq!(qemu_processes(), before);
}

/// Snapshot state files and their sockets under the test cache and the run folders.
fn snapshot_dirs() -> Vec<std::path::PathBuf> {
    std::fs::read_dir(common::cache_dir().join("snapshot"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect()
}

fn qmp_sockets() -> Vec<String> {
    let mut found = Vec::new();
    for run in std::fs::read_dir("/var/tmp").unwrap().flatten() {
        if !run
            .file_name()
            .to_string_lossy()
            .starts_with("vmbench-run-")
        {
            continue;
        }
        for e in walkdir(&run.path()) {
            if e.extension().is_some_and(|x| x == "qmp") {
                found.push(e.display().to_string());
            }
        }
    }
    found
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Starts `vmbench run --env ENV --workload W --reps N EXTRA --warmup 0` in the background.
fn background(a: &[&str], out: &std::path::Path) -> std::process::Child {
    common::process()
        .args([
            "run",
            "--env",
            a[0],
            "--workload",
            a[1],
            "--reps",
            a[2],
            a[3],
        ])
        .args(["--warmup", "0", "--quiet", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn snapshot_run(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    common::vmbench()
        .args([
            "run",
            "--env",
            "native,vm,vm-snapshot",
            "--workload",
            "noop,cpu-int,syscall",
            "--size",
            "small",
            "--quiet",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
#[serial]
fn a_restored_guest_runs_the_same_binary_much_sooner_and_the_snapshot_is_reused() {
    let test = "a_restored_guest_runs_the_same_binary_much_sooner_and_the_snapshot_is_reused";
    if !qemu_present(test) {
        return;
    }
    let before = qemu_processes();
    let dir = common::scratch();
    let out = dir.path().join("s.json");
    let first = snapshot_run(&out, &["--reps", "3"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let r = Results::load(&out).unwrap();
    let record = r.snapshot.clone().expect("the snapshot is recorded");
    assert!(
        record.bytes > 1 << 20 && record.path.is_file(),
        "{record:?}"
    );
    let sha = &r.workload_binary.sha256;
    for t in r.trials.iter().chain(&r.warmup_trials) {
        assert_eq!(t.error, None, "{} {}", t.env, t.workload);
        assert_eq!(&t.guest_view.as_ref().unwrap().sha256, sha, "{}", t.env);
    }
    let restored: Vec<_> = r.trials.iter().filter(|t| t.env.is_snapshot()).collect();
    assert_eq!(restored.len(), 3 * 3);
    for t in &restored {
        let p = &t.phases;
        assert!(
            p[&Phase::MigrationCompleted] <= p[&Phase::Resumed]
                && p[&Phase::Resumed] <= p[&Phase::PlanSent]
        );
        assert!(t.startup_ns.unwrap() >= p[&Phase::PlanSent]);
    }
    let median = |env: fn(EnvKind) -> bool| {
        let xs: Vec<f64> = r
            .trials
            .iter()
            .filter(|t| env(t.env) && t.workload == Workload::Noop)
            .map(|t| t.startup_ns.unwrap() as f64)
            .collect();
        vmbench::stats::median(&xs).unwrap()
    };
    let booted = median(|e| e.family() == vmbench::ids::Family::Vm && !e.is_snapshot());
    let restore = median(EnvKind::is_snapshot);
    assert!(
        restore * 3.0 < booted,
        "restore {restore} ns vs boot {booted} ns"
    );
    // The second run restores the same state file: not saved again.
    let dirs = snapshot_dirs();
    let again = snapshot_run(
        &dir.path().join("t.json"),
        &["--reps", "1", "--warmup", "0"],
    );
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stderr).contains("saving it again"));
    let r2 = Results::load(&dir.path().join("t.json")).unwrap();
    assert_eq!(r2.snapshot.unwrap().sha256, record.sha256);
    assert_eq!(snapshot_dirs(), dirs);
    assert_eq!(qemu_processes(), before, "no QEMU left");
    assert!(qmp_sockets().is_empty(), "{:?}", qmp_sockets());
}

#[test]
#[serial]
fn a_corrupt_snapshot_is_saved_again_and_a_killed_restore_is_named() {
    let test = "a_corrupt_snapshot_is_saved_again_and_a_killed_restore_is_named";
    if !qemu_present(test) {
        return;
    }
    let dir = common::scratch();
    // Make sure one exists, then corrupt its state file.
    let out = dir.path().join("a.json");
    let first = snapshot_run(&out, &["--reps", "1", "--warmup", "0"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let state = Results::load(&out).unwrap().snapshot.unwrap().path;
    std::fs::write(&state, b"not a guest").unwrap();
    let second = snapshot_run(
        &dir.path().join("b.json"),
        &["--reps", "1", "--warmup", "0"],
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(
        stderr.contains("is corrupt or incomplete; saving it again"),
        "{stderr}"
    );
    assert!(std::fs::metadata(&state).unwrap().len() > 1 << 20);
    // A QEMU killed while the guest runs: the trial names the end, nothing is left.
    let before = qemu_processes();
    let mut child = background(
        &["vm-snapshot", "cpu-int", "1", "--fixed-size"],
        &dir.path().join("k.json"),
    );
    let start = std::time::Instant::now();
    let qemu = loop {
        let found = std::fs::read_dir("/proc").unwrap().flatten().find(|e| {
            std::fs::read_to_string(e.path().join("cmdline")).is_ok_and(|c| c.contains("-incoming"))
        });
        if let Some(e) = found {
            break e.file_name().to_string_lossy().parse::<i32>().unwrap();
        }
        assert!(start.elapsed().as_secs() < 60, "no restoring QEMU seen");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(qemu),
        nix::sys::signal::Signal::SIGKILL,
    );
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "a failed trial makes the run exit 1"
    );
    let r = Results::load(&dir.path().join("k.json")).unwrap();
    let error = r.trials[0].error.clone().unwrap();
    assert!(
        error.contains("signal 9") || error.contains("restoring"),
        "{error}"
    );
    assert_eq!(qemu_processes(), before);
    assert!(qmp_sockets().is_empty(), "{:?}", qmp_sockets());
}

#[test]
#[serial]
fn ctrl_c_during_restored_trials_leaves_no_qemu() {
    if !qemu_present("ctrl_c_during_restored_trials_leaves_no_qemu") {
        return;
    }
    let before = qemu_processes();
    let dir = common::scratch();
    let out = dir.path().join("c.json");
    let mut child = background(&["vm-snapshot", "noop", "50", "--size=default"], &out);
    let start = std::time::Instant::now();
    while Results::load(&out).map_or(0, |r| r.trials.len()) < 3 {
        assert!(start.elapsed().as_secs() < 120, "no trial finished");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1));
    assert!(!Results::load(&out).unwrap().complete);
    assert_eq!(qemu_processes(), before);
    assert!(qmp_sockets().is_empty(), "{:?}", qmp_sockets());
}

#[test]
#[serial]
fn a_snapshot_guest_skips_file_io_and_says_why() {
    if !qemu_present("a_snapshot_guest_skips_file_io_and_says_why") {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("f.json");
    let run = common::vmbench()
        .args([
            "run",
            "--env",
            "native,vm-snapshot",
            "--workload",
            "file-io",
            "--reps",
            "1",
            "--warmup",
            "0",
            "--size",
            "small",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("skips file-io: a snapshot guest has no data disk"),
        "{stderr}"
    );
    let r = Results::load(&out).unwrap();
    assert_eq!(r.skipped.len(), 1);
    assert!(r.trials.iter().all(|t| t.env == EnvKind::Native));
}

#[test]
#[serial]
fn a_snapshot_half_saved_by_a_dead_run_is_removed_by_clean() {
    // A staging folder named by a process that no longer exists (a run killed mid-save).
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let cache = common::scratch();
    let staging = cache
        .path()
        .join("snapshot")
        .join(format!(".staging-{pid}-x1"));
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("state"), b"half").unwrap();
    let state = common::scratch();
    let out = common::vmbench()
        .env("VMBENCH_CACHE", cache.path())
        .env("VMBENCH_STATE", state.path())
        .arg("clean")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !staging.exists(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
