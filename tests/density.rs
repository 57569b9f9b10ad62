//! Density sweeps for real: native and container instances alive together with their page
//! cache shared, a VM step with KSM off and on (the host's setting put back, also after
//! Ctrl-C), the refusal of a step that would leave too little memory, bad options, and the
//! report's density section; nothing is left behind.

mod common;

use serial_test::serial;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use vmbench::results::Results;

fn ksm_settings() -> Option<String> {
    let dir = Path::new("/sys/kernel/mm/ksm");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    Some(format!(
        "{} {} {}",
        read("run")?.trim(),
        read("pages_to_scan")?.trim(),
        read("sleep_millisecs")?.trim()
    ))
}

fn density(args: &[&str], out: &Path) -> (Option<i32>, String, u32) {
    let (pid, o) = common::run_to_end("density", args, out);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        pid,
    )
}

#[test]
#[serial]
fn native_and_container_instances_share_the_binarys_pages() {
    let test = "native_and_container_instances_share_the_binarys_pages";
    if !common::capability(test, common::is_root(), "needs root (containers, cgroups)") {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("density.json");
    let (code, err, pid) = density(&["--env", "native,container", "--counts", "1,2"], &out);
    assert_eq!(code, Some(0), "{err}");
    let record = Results::load(&out)
        .unwrap()
        .density
        .expect("a density section");
    for env in ["native", "container"] {
        let steps: Vec<_> = record
            .steps
            .iter()
            .filter(|s| s.env.name() == env)
            .collect();
        assert_eq!(
            steps.iter().map(|s| s.count).collect::<Vec<_>>(),
            [1, 2],
            "{env}"
        );
        for s in &steps {
            assert_eq!(s.startup_ms.len(), s.count as usize);
            assert!(s.all_ready_ms >= s.startup_ms.iter().cloned().fold(0.0, f64::max) - 1.0);
            assert!(s.pss_bytes > 0 && s.rss_bytes >= s.pss_bytes / 2);
        }
        // The page cache is shared: each instance's share of the binary's pages halves.
        let one = steps[0].binary_pss_bytes.unwrap();
        let two = steps[1].binary_pss_bytes.unwrap();
        assert!(
            two < one * 0.75,
            "{env}: binary PSS {one} with one, {two} each with two"
        );
    }
    let container = record
        .steps
        .iter()
        .find(|s| s.env.name() == "container")
        .unwrap();
    assert!(
        container.cgroup_bytes.is_some_and(|b| b > 0),
        "a container is charged to its cgroup"
    );
    assert!(common::settled_leftovers(pid).is_empty());

    // The report renders the density section.
    let html = dir.path().join("density.html");
    let text = common::rendered(&[&out], &html);
    assert!(
        text.contains("id=\"density\"") && text.contains("<svg"),
        "density section"
    );
    assert!(text.contains("page cache"), "the lecture note");
}

#[test]
#[serial]
fn a_vm_step_runs_with_ksm_off_and_on_and_the_hosts_setting_comes_back() {
    let test = "a_vm_step_runs_with_ksm_off_and_on_and_the_hosts_setting_comes_back";
    let ready = common::is_root() && vmbench::env::vm::find_qemu(None).is_ok();
    if !common::capability(
        test,
        ready,
        "needs root and QEMU (apt-get install qemu-system-x86)",
    ) {
        return;
    }
    let before = ksm_settings();
    let dir = common::scratch();
    let out = dir.path().join("vm.json");
    let (code, err, pid) = density(&["--env", "vm", "--counts", "1", "--ksm", "both"], &out);
    assert_eq!(code, Some(0), "{err}");
    let record = Results::load(&out).unwrap().density.unwrap();
    let vm: Vec<_> = record
        .steps
        .iter()
        .filter(|s| s.env.family() == vmbench::ids::Family::Vm)
        .collect();
    assert!(!vm.is_empty());
    for s in &vm {
        assert!(
            s.guest_mem_total_bytes.is_some_and(|b| b > 64 << 20),
            "guest RAM seen"
        );
        assert!(
            s.binary_in_guest_bytes.is_some_and(|b| b > 100_000),
            "the binary lives in guest RAM"
        );
        assert!(s.exe_pss_bytes.is_some(), "QEMU's own executable");
        assert!(s.pss_bytes > 32 << 20, "a guest holds tens of MiB at least");
    }
    if record.ksm_available {
        assert_eq!(
            vm.iter().map(|s| s.ksm).collect::<Vec<_>>(),
            [Some(false), Some(true)]
        );
        assert!(vm[1].ksm_saved_bytes.is_some());
    } else {
        println!("note: this host has no KSM; the VM step ran once");
    }
    assert_eq!(ksm_settings(), before, "KSM put back as it was");
    assert!(common::settled_leftovers(pid).is_empty());
}

/// Starts a sweep whose VM step merges, waits until KSM is on, sends `signal`; returns the
/// pid and the exit code.
fn interrupt_merging(signal: nix::sys::signal::Signal) -> (u32, Option<i32>) {
    let dir = common::scratch();
    let mut child = common::process()
        .args([
            "density", "--env", "vm", "--counts", "2,4", "--ksm", "on", "--out",
        ])
        .arg(dir.path().join("x.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let start = Instant::now();
    while ksm_settings().is_some_and(|s| s.starts_with('0')) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "KSM was never switched on"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    (pid, child.wait().unwrap().code())
}

fn merging_ready(test: &str) -> bool {
    let ready = common::is_root()
        && vmbench::env::vm::find_qemu(None).is_ok()
        && ksm_settings().is_some_and(|s| s.starts_with('0'));
    common::capability(
        test,
        ready,
        "needs root, QEMU and KSM switched off on the host",
    )
}

#[test]
#[serial]
fn ctrl_c_in_a_merging_step_puts_ksm_back_and_removes_every_guest() {
    if !merging_ready("ctrl_c_in_a_merging_step_puts_ksm_back_and_removes_every_guest") {
        return;
    }
    let before = ksm_settings();
    let (pid, code) = interrupt_merging(nix::sys::signal::Signal::SIGINT);
    assert_eq!(code, Some(1), "an interrupted sweep ends with 1");
    assert_eq!(ksm_settings(), before, "KSM put back after Ctrl-C");
    assert!(common::settled_leftovers(pid).is_empty());
}

#[test]
#[serial]
fn after_a_sigkill_in_a_merging_step_the_next_clean_up_puts_ksm_back() {
    if !merging_ready("after_a_sigkill_in_a_merging_step_the_next_clean_up_puts_ksm_back") {
        return;
    }
    let before = ksm_settings();
    let (pid, code) = interrupt_merging(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(code, None, "killed");
    assert_ne!(ksm_settings(), before, "nothing could put KSM back yet");
    let o = common::vmbench().arg("clean").output().unwrap();
    let said =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains("KSM settings a killed density run had switched"),
        "{said}"
    );
    assert_eq!(ksm_settings(), before, "KSM put back by the clean-up");
    assert!(common::settled_leftovers(pid).is_empty());
}

#[test]
#[serial]
fn a_step_that_would_leave_too_little_memory_is_refused_before_anything_starts() {
    let test = "a_step_that_would_leave_too_little_memory_is_refused_before_anything_starts";
    let ready = common::is_root() && vmbench::env::vm::find_qemu(None).is_ok();
    if !common::capability(test, ready, "needs root and QEMU") {
        return;
    }
    let host = vmbench::session::host_facts();
    let guest_mib = (host.memory_bytes >> 20) / 2;
    let dir = common::scratch();
    let out = dir.path().join("x.json");
    let (code, err, _) = density(
        &[
            "--env",
            "vm",
            "--counts",
            "8",
            "--memory",
            &guest_mib.to_string(),
            "--quiet",
        ],
        &out,
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("nothing was started") && err.contains("less than 20%"),
        "{err}"
    );
    let steps = Results::load(&out)
        .ok()
        .and_then(|r| r.density)
        .map_or(0, |d| d.steps.len());
    assert_eq!(steps, 0);
}

#[test]
fn bad_density_options_are_one_line_naming_them() {
    for (args, needle) in [
        (vec!["--counts", "4,2"], "must increase"),
        (vec!["--counts", "0"], "bad count"),
        (vec!["--ksm", "maybe"], "KSM mode"),
        (vec!["--env", "mainframe"], "mainframe"),
    ] {
        let o = common::vmbench()
            .arg("density")
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

/// Names of `engine`'s running containers whose name starts with `prefix`.
fn running(engine: &str, prefix: &str) -> Vec<String> {
    let out = std::process::Command::new(engine)
        .args([
            "ps",
            "--filter",
            &format!("name={prefix}"),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

#[test]
#[serial]
fn engine_instances_of_a_sigkilled_density_step_end_with_it() {
    let test = "engine_instances_of_a_sigkilled_density_step_end_with_it";
    if !common::root(test, "engines")
        || !common::capability(test, common::docker_answers(), "no Docker daemon answers")
        || !common::capability(
            test,
            vmbench::tool::which("podman").is_some(),
            "podman is not installed",
        )
    {
        return;
    }
    for (env, engine) in [
        ("container-docker", "docker"),
        ("container-podman", "podman"),
    ] {
        let dir = common::scratch();
        // Several steps: an engine's instances live only from their start to the
        // step's measurement, so the test stops the run (SIGSTOP) as soon as two workloads
        // exist, checks the engine lists both, and lets it go on to the next step if not.
        let mut child = common::process()
            .args(["density", "--env", env, "--counts", "2,3,4,5,6", "--out"])
            .arg(dir.path().join("d.json"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id();
        let run = nix::unistd::Pid::from_raw(pid as i32);
        let prefix = format!("vmbench-{pid}-");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "{env}: the sweep ended ({status}) before its instances ran: {}",
                    std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{env}: no instances"
            );
            let workloads = common::processes_left(common::Owner::Run(pid))
                .into_iter()
                .filter(|p| p.contains("vmbench-workloa"))
                .count();
            if workloads >= 2 {
                nix::sys::signal::kill(run, nix::sys::signal::Signal::SIGSTOP).unwrap();
                if running(engine, &prefix).len() >= 2 {
                    break;
                }
                nix::sys::signal::kill(run, nix::sys::signal::Signal::SIGCONT).unwrap();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            running(engine, &prefix),
            Vec::<String>::new(),
            "{env}: instances still running 1 s after their run was killed"
        );
        let workloads: Vec<String> = common::processes_left(common::Owner::Run(pid))
            .into_iter()
            .filter(|p| p.contains("vmbench-workload"))
            .collect();
        assert!(workloads.is_empty(), "{env}: {workloads:?}");
        let o = common::vmbench().arg("clean").output().unwrap();
        assert!(o.status.success());
        assert!(common::settled_leftovers(pid).is_empty(), "{env}");
    }
}
