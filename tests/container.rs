//! The container environments for real, as root: isolation (pid, hostname, network, files),
//! containment (OOM kill at the memory limit, fork stopped at the pids limit), the OCI
//! runtimes, and cleanup: no cgroup, mount or process left behind after success, crash,
//! timeout, OOM and Ctrl-C.

mod common;

use serial_test::serial;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vmbench::env::container::oci::Runtime;
use vmbench::env::container::{self, ContainerSettings};
use vmbench::env::{process, EnvKind, Environment};
use vmbench::ids::Phase;
use vmbench::results::{AttachPath, Results, Trial};
use vmbench_workload::invocation::Fault;
use vmbench_workload::Workload;

fn settings() -> (vmbench::results::BinaryInfo, ContainerSettings) {
    let binary = common::workload_binary();
    let settings = container::prepare(
        Default::default(),
        &binary,
        &common::cache_dir(),
        &common::work_dir(),
    )
    .unwrap();
    (binary, settings)
}

/// The environment of `kind` over these container settings.
fn env_with(kind: EnvKind, settings: &ContainerSettings) -> Box<dyn Environment> {
    let settings = Arc::new(settings.clone());
    match kind {
        EnvKind::Container => Box::new(container::builtin::Builtin::with(settings)),
        EnvKind::ContainerRunc => Box::new(container::oci::Oci::with(Runtime::Runc, settings)),
        _ => Box::new(container::oci::Oci::with(Runtime::Crun, settings)),
    }
}

fn mounts_of(rootfs: &Path) -> usize {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter(|l| l.contains(rootfs.to_str().unwrap()))
        .count()
}

fn run_one(
    kind: EnvKind,
    settings: &ContainerSettings,
    binary: &vmbench::results::BinaryInfo,
    workload: Workload,
    fault: Option<Fault>,
    memory_mib: u64,
    timeout: Duration,
) -> Trial {
    let data = common::scratch();
    let spec = common::spec(
        &binary.path,
        data.path(),
        workload,
        fault,
        memory_mib,
        timeout,
    );
    common::trial(env_with(kind, settings).as_ref(), &spec, &binary.sha256)
}

fn assert_isolated(t: &Trial, sha256: &str) {
    assert_eq!(t.error, None, "{t:?}");
    let view = t.guest_view.as_ref().unwrap();
    assert_eq!(
        view.pid, 1,
        "the workload is PID 1 of its own pid namespace"
    );
    assert_eq!(
        view.processes_visible,
        Some(1),
        "sees only its own processes"
    );
    assert_eq!(
        view.net_interfaces,
        vec!["lo".to_string()],
        "sees only loopback"
    );
    assert_eq!(view.hostname, container::builtin::HOSTNAME);
    assert_eq!(view.sha256, sha256);
    // None of the host's files: only the image's own entries.
    for entry in &view.root_entries {
        assert!(
            [
                "data",
                "dev",
                "layer",
                "proc",
                "sys",
                "tmp",
                "vmbench-workload"
            ]
            .contains(&entry.as_str()),
            "unexpected /{entry} in {:?}",
            view.root_entries
        );
    }
    assert!(
        !view.root_entries.contains(&"etc".to_string())
            && !view.root_entries.contains(&"usr".to_string())
    );
}

#[test]
#[serial]
fn builtin_container_isolates_and_limits() {
    if !common::root(
        "builtin_container_isolates_and_limits",
        "containers (namespaces, cgroups, pivot_root)",
    ) {
        return;
    }
    let (binary, settings) = settings();
    let t = run_one(
        EnvKind::Container,
        &settings,
        &binary,
        Workload::NetLoopback,
        None,
        256,
        Duration::from_secs(60),
    );
    assert_isolated(&t, &binary.sha256);
    let view = t.guest_view.clone().unwrap();
    assert_eq!(
        view.limits.memory_max_bytes,
        Some(256 << 20),
        "the container sees its own memory limit"
    );
    assert_eq!(view.limits.pids_max, Some(settings.pids_max));
    assert!(t.headline().unwrap().value > 0.0, "loopback is up inside");
    for phase in [
        Phase::Clone,
        Phase::CgroupAttach,
        Phase::MountsPivotRoot,
        Phase::Exec,
    ] {
        assert!(
            t.phases.contains_key(&phase),
            "phase {phase} missing: {:?}",
            t.phases
        );
    }
    assert!(t.cgroup.as_ref().unwrap().memory_peak_bytes.unwrap() > 0);
    let left = common::settled_leftovers(std::process::id());
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(mounts_of(&settings.image.rootfs), 0);
}

#[test]
#[serial]
fn allocation_past_the_memory_limit_is_oom_killed_and_recorded() {
    if !common::root(
        "allocation_past_the_memory_limit_is_oom_killed_and_recorded",
        "containers (namespaces, cgroups, pivot_root)",
    ) {
        return;
    }
    let (binary, settings) = settings();
    let t = run_one(
        EnvKind::Container,
        &settings,
        &binary,
        Workload::CpuInt,
        Some(Fault::Alloc(256)),
        64,
        Duration::from_secs(60),
    );
    assert!(t.exit.oom, "{t:?}");
    assert_eq!(t.exit.signal, Some(libc::SIGKILL));
    assert!(t.error.as_deref().unwrap().contains("OOM"), "{:?}", t.error);
    assert!(t.cgroup.unwrap().oom_kills >= 1);
    // The next instance runs normally.
    let next = run_one(
        EnvKind::Container,
        &settings,
        &binary,
        Workload::Noop,
        None,
        64,
        Duration::from_secs(60),
    );
    assert_eq!(next.error, None);
    let left = common::settled_leftovers(std::process::id());
    assert!(left.is_empty(), "{left:?}");
}

#[test]
#[serial]
fn a_fork_loop_stops_at_the_pids_limit() {
    if !common::root(
        "a_fork_loop_stops_at_the_pids_limit",
        "containers (namespaces, cgroups, pivot_root)",
    ) {
        return;
    }
    let (binary, mut settings) = settings();
    settings.pids_max = 32;
    let t = run_one(
        EnvKind::Container,
        &settings,
        &binary,
        Workload::CpuInt,
        Some(Fault::Forks(500)),
        256,
        Duration::from_secs(60),
    );
    let err = t.error.unwrap();
    // PID 1 itself and its stdin watcher thread count (pids.max counts tasks): at most 30
    // children fit.
    assert!(err.contains("fork stopped after 30 children"), "{err}");
    let left = common::settled_leftovers(std::process::id());
    assert!(left.is_empty(), "{left:?}");
}

#[test]
#[serial]
fn crashes_and_timeouts_leave_nothing_behind() {
    if !common::root(
        "crashes_and_timeouts_leave_nothing_behind",
        "containers (namespaces, cgroups, pivot_root)",
    ) {
        return;
    }
    let (binary, settings) = settings();
    let crashed = run_one(
        EnvKind::Container,
        &settings,
        &binary,
        Workload::CpuInt,
        Some(Fault::Crash),
        256,
        Duration::from_secs(60),
    );
    // A namespace's PID 1 ignores its own SIGABRT, so glibc's abort() ends in SIGSEGV there.
    assert!(
        matches!(
            crashed.exit.signal,
            Some(libc::SIGABRT) | Some(libc::SIGSEGV)
        ),
        "{crashed:?}"
    );
    assert!(
        crashed
            .error
            .as_deref()
            .unwrap()
            .contains("killed by signal"),
        "{crashed:?}"
    );
    let hung = run_one(
        EnvKind::Container,
        &settings,
        &binary,
        Workload::CpuInt,
        Some(Fault::Hang),
        256,
        Duration::from_millis(700),
    );
    assert!(hung.exit.timed_out && hung.error.unwrap().contains("timed out"));
    let left = common::settled_leftovers(std::process::id());
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(mounts_of(&settings.image.rootfs), 0);
}

#[test]
#[serial]
fn oci_runtimes_run_the_same_image() {
    for (kind, program) in [
        (EnvKind::ContainerRunc, "runc"),
        (EnvKind::ContainerCrun, "crun"),
    ] {
        let present = common::is_root() && vmbench::tool::which(program).is_some();
        if !common::capability(
            "oci_runtimes_run_the_same_image",
            present,
            &format!("{program} (apt-get install {program}) and root"),
        ) {
            continue;
        }
        let (binary, settings) = settings();
        let t = run_one(
            kind,
            &settings,
            &binary,
            Workload::NetLoopback,
            None,
            256,
            Duration::from_secs(60),
        );
        assert_isolated(&t, &binary.sha256);
        assert_eq!(
            t.guest_view.unwrap().limits.memory_max_bytes,
            Some(256 << 20),
            "{program}"
        );
        let hung = run_one(
            kind,
            &settings,
            &binary,
            Workload::CpuInt,
            Some(Fault::Hang),
            256,
            Duration::from_millis(1500),
        );
        assert!(hung.exit.timed_out, "{program}: {hung:?}");
        // The runtime's cgroups, in every hierarchy (named ones too), are gone; the shared
        // parent stays while a run may use it, and goes once none is alive.
        let left = common::settled_leftovers(std::process::id());
        assert!(left.is_empty(), "{left:?}");
        vmbench::state::clean(false);
        let layout = container::cgroup::Layout::probe().unwrap();
        for mount in &layout.v1_mounts {
            let parent = mount.join(container::cgroup::PARENT);
            assert!(!parent.exists(), "{program} left {}", parent.display());
        }
    }
}

#[test]
#[serial]
fn run_through_the_cli_and_interrupt_keeps_finished_trials() {
    if !common::root(
        "run_through_the_cli_and_interrupt_keeps_finished_trials",
        "containers (namespaces, cgroups, pivot_root)",
    ) {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    let mut child = common::process()
        .args([
            "run",
            "--env",
            "native,container",
            "--workload",
            "noop,cpu-int",
            "--reps",
            "200",
            "--warmup",
            "0",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let some trials finish, then Ctrl-C.
    let start = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let n = Results::load(&out).map(|r| r.trials.len()).unwrap_or(0);
        if n >= 6 || start.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "an interrupted run exits 1");
    let results = Results::load(&out).unwrap();
    assert!(!results.complete);
    assert!(results.trials.len() >= 6);
    assert!(results
        .trials
        .iter()
        .any(|t| t.env == EnvKind::Container && t.error.is_none()));
    let left = common::settled_leftovers_of(common::Owner::Any);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
#[serial]
fn a_cpu_quota_is_visible_inside_and_throttles() {
    if !common::root(
        "a_cpu_quota_is_visible_inside_and_throttles",
        "containers (namespaces, cgroups, pivot_root)",
    ) {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("q.json");
    common::vmbench()
        .args([
            "run",
            "--env",
            "container",
            "--workload",
            "cpu-int",
            "--reps",
            "1",
            "--warmup",
            "0",
        ])
        .args(["--cpu-quota", "0.5", "--quiet", "--out"])
        .arg(&out)
        .assert()
        .success();
    let results = Results::load(&out).unwrap();
    let t = &results.trials[0];
    let view = t.guest_view.as_ref().unwrap();
    assert_eq!(
        view.limits.cpu_max.as_deref(),
        Some("50000 100000"),
        "{:?}",
        view.limits
    );
    let usage = t.cgroup.as_ref().unwrap();
    assert!(
        usage.nr_throttled.unwrap() > 0,
        "a CPU-bound workload at half a CPU is throttled: {usage:?}"
    );
    assert_eq!(results.config.cpu_quota, Some(0.5));
    // The collector read the cgroup's CPU time too.
    assert!(t
        .samples
        .iter()
        .any(|s| s.cgroup_cpu_ns.is_some_and(|ns| ns > 0)));
}

#[test]
#[serial]
fn the_child_enters_its_cgroup_itself_and_the_slow_path_still_works() {
    if !common::root(
        "the_child_enters_its_cgroup_itself_and_the_slow_path_still_works",
        "containers (namespaces, cgroups, pivot_root)",
    ) {
        return;
    }
    let (binary, settings) = settings();
    let t = run_one(
        EnvKind::Container,
        &settings,
        &binary,
        Workload::Noop,
        None,
        256,
        Duration::from_secs(60),
    );
    assert_eq!(t.error, None, "{t:?}");
    assert_eq!(t.cgroup_attach, Some(settings.attach));
    assert_ne!(
        t.cgroup_attach,
        Some(AttachPath::ParentProcs),
        "a fast path here"
    );
    // The child marks its attach before its pivot_root. Not after the parent's clone()
    // returned: the child may run first, and did once in a loaded run (stop 37).
    let attach = t.phases[&Phase::CgroupAttach];
    assert!(attach > 0 && attach <= t.phases[&Phase::MountsPivotRoot]);
    // The parent migrating the child: slower on v1, but the same container.
    let slow = ContainerSettings {
        attach: AttachPath::ParentProcs,
        ..settings.clone()
    };
    let t = run_one(
        EnvKind::Container,
        &slow,
        &binary,
        Workload::Noop,
        None,
        256,
        Duration::from_secs(60),
    );
    assert_eq!(t.error, None, "{t:?}");
    assert_eq!(t.cgroup_attach, Some(AttachPath::ParentProcs));
    assert_eq!(
        t.guest_view.unwrap().limits.memory_max_bytes,
        Some(256 << 20)
    );
    let left = common::settled_leftovers(std::process::id());
    assert!(left.is_empty(), "{left:?}");
}

#[test]
#[serial]
fn clone3_starts_a_process_inside_a_unified_cgroup() {
    let layout = container::cgroup::Layout::probe().unwrap();
    let present = common::is_root() && layout.unified.is_some();
    if !common::capability(
        "clone3_starts_a_process_inside_a_unified_cgroup",
        present,
        "root and a mounted cgroup2 tree",
    ) {
        return;
    }
    // Limits live in the unified tree on a v2 host; here only the tree itself is used.
    let unified = container::cgroup::Layout {
        version: container::cgroup::Version::V2,
        v1: Default::default(),
        v1_mounts: vec![],
        ..layout.clone()
    };
    let name = container::instance_name();
    let cgroup =
        container::cgroup::Cgroup::create(&unified, "", &name, &Default::default()).unwrap();
    let entry = cgroup.entry().unwrap();
    assert_eq!(entry.path, AttachPath::Clone3IntoCgroup);
    let binary = common::workload_binary();
    let (output, output_write) = process::pipe().unwrap();
    let exe = binary.path.display().to_string();
    let spawned = process::spawn(
        process::Program {
            exe: &exe,
            args: &[
                "--workload".into(),
                "noop".into(),
                "--fault".into(),
                "hold:0:2000".into(),
            ],
            env: Some(&[]),
            steps: process::host_child_steps(None),
            clone: process::CloneMode::Namespaces {
                flags: nix::sched::CloneFlags::empty(),
                cgroup: entry.clone_into.as_ref().map(|fd| fd.as_raw_fd()),
            },
            after_clone: None,
            input: None,
        },
        output_write,
    )
    .unwrap();
    assert_eq!(spawned.failure, None);
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", spawned.pid)).unwrap();
    let _ = nix::sys::signal::kill(spawned.pid, nix::sys::signal::Signal::SIGKILL);
    let _ = process::reap(spawned.pid);
    drop(output);
    let line = own.lines().find(|l| l.starts_with("0::")).unwrap();
    assert!(
        line.ends_with(&format!("/{}/{name}", container::cgroup::PARENT)),
        "started outside its cgroup: {own}"
    );
    cgroup.remove().unwrap();
}
