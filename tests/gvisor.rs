//! gVisor for real: runsc runs the same binary on its own user-space kernel, a slow system
//! call lowers the size for every environment of the run, and nothing of runsc's is left
//! behind (sandbox, state directory, process, cgroup) after success, timeout or Ctrl-C.

mod common;

use serial_test::serial;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vmbench::ids::EnvKind;
use vmbench::results::Results;
use vmbench_workload::{Size, Workload};

fn gvisor_present(test: &str) -> bool {
    common::capability(test, common::is_root(), "needs root")
        && common::capability(
            test,
            vmbench::tool::which("runsc").is_some(),
            "runsc is not installed (apt-get install runsc)",
        )
}

fn vmbench_cmd(args: &[&str], out: &Path) -> Command {
    let mut cmd = common::process();
    cmd.args(args)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

#[test]
#[serial]
fn gvisor_runs_the_same_binary_on_its_own_kernel_and_its_syscalls_lower_the_size() {
    let test = "gvisor_runs_the_same_binary_on_its_own_kernel_and_its_syscalls_lower_the_size";
    if !gvisor_present(test) {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("g.json");
    let child = vmbench_cmd(
        &[
            "run",
            "--env",
            "native,container,container-gvisor",
            "--workload",
            "noop,syscall,proc-spawn",
            "--reps",
            "2",
            "--trial-limit",
            "10",
        ],
        &out,
    )
    .spawn()
    .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("size of syscall: small instead of default"),
        "{stderr}"
    );
    let r = Results::load(&out).unwrap();
    assert_eq!(r.trials.len(), 3 * 3 * 2);
    let host_kernel = nix::sys::utsname::uname().unwrap();
    let host_kernel = host_kernel.release().to_string_lossy().into_owned();
    for t in &r.trials {
        assert_eq!(t.error, None, "{} {}", t.env, t.workload);
        let view = t.guest_view.as_ref().unwrap();
        assert_eq!(
            view.sha256, r.workload_binary.sha256,
            "one binary everywhere"
        );
        if t.env == EnvKind::ContainerGvisor {
            assert_ne!(view.kernel, host_kernel, "gVisor's Sentry answers uname");
            assert_eq!(view.pid, 1);
            assert_eq!(view.net_interfaces, vec!["lo".to_string()]);
            // The sandbox (Sentry and gofer) is charged to the instance's cgroup.
            let cgroup = t.cgroup.as_ref().unwrap();
            assert!(cgroup.memory_peak_bytes.unwrap() > 4 << 20, "{cgroup:?}");
            // The host CPU charged to the instance covers the Sentry running the workload:
            // at least the CPU the workload saw itself in the sandbox (its own getrusage).
            let noise = t.noise.as_ref().unwrap();
            let seen_inside = t.rusage.as_ref().unwrap();
            assert!(
                noise.own_cpu_ns as f64 >= 0.9 * (seen_inside.user_ns + seen_inside.sys_ns) as f64,
                "{} {}: host {} ns < inside {:?}",
                t.env,
                t.workload,
                noise.own_cpu_ns,
                seen_inside
            );
        }
    }
    // The slowest environment decided, for every environment of the run.
    let choice = &r.sizes[&Workload::Syscall];
    assert_eq!(choice.size, Size::Small);
    assert_eq!(choice.slowest, Some(EnvKind::ContainerGvisor));
    assert_eq!(r.size_of(Workload::Noop), Size::Default);
    // 2 000 sequential spawns: under ptrace each left a host stub for a while, which the
    // sandbox's pids limit must leave room for (else the Sentry panics).
    assert_eq!(r.size_of(Workload::ProcSpawn), Size::Default);
    assert!(r
        .trials
        .iter()
        .filter(|t| t.workload == Workload::Syscall)
        .all(|t| t.size == Some(Size::Small)));
    // Every system call crosses into the user-space kernel: far dearer than natively.
    let ratio = r
        .ratio_to_native(Workload::Syscall, EnvKind::ContainerGvisor)
        .unwrap();
    assert!(
        ratio.value > 5.0,
        "gVisor syscall / native = {}",
        ratio.value
    );
    let builtin = r
        .ratio_to_native(Workload::Syscall, EnvKind::Container)
        .unwrap();
    assert!(
        builtin.value < 2.0,
        "namespaces cost a syscall nothing: {}",
        builtin.value
    );
    let left = common::settled_leftovers(pid);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
#[serial]
fn a_hung_sandbox_is_killed_at_the_timeout_and_leaves_nothing() {
    let test = "a_hung_sandbox_is_killed_at_the_timeout_and_leaves_nothing";
    if !gvisor_present(test) {
        return;
    }
    let env = common::prepared(EnvKind::ContainerGvisor);
    let binary = common::workload_binary();
    let data = common::scratch();
    let spec = common::spec(
        &binary.path,
        data.path(),
        Workload::CpuInt,
        Some(vmbench_workload::invocation::Fault::Hang),
        256,
        Duration::from_secs(3),
    );
    let t = common::trial(env.as_ref(), &spec, &binary.sha256);
    assert!(t.exit.timed_out, "{t:?}");
    assert!(t.error.unwrap().contains("timed out"));
    drop(env);
    let left = common::settled_leftovers(std::process::id());
    assert!(left.is_empty(), "{left:?}");
}

#[test]
#[serial]
fn ctrl_c_during_a_sandboxed_trial_leaves_nothing_of_runsc() {
    let test = "ctrl_c_during_a_sandboxed_trial_leaves_nothing_of_runsc";
    if !gvisor_present(test) {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("i.json");
    // The default size of syscall under gVisor runs for a minute: time enough to interrupt.
    let mut child = vmbench_cmd(
        &[
            "run",
            "--env",
            "container-gvisor",
            "--workload",
            "syscall",
            "--reps",
            "1",
            "--warmup",
            "0",
            "--fixed-size",
        ],
        &out,
    )
    .spawn()
    .unwrap();
    let pid = child.id();
    let start = Instant::now();
    while !common::processes_left(common::Owner::Any)
        .iter()
        .any(|p| p.contains("runsc-sandbox"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no sandbox started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let stopped = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "an interrupted run exits 1");
    assert!(
        stopped.elapsed() < Duration::from_secs(20),
        "{:?}",
        stopped.elapsed()
    );
    let r = Results::load(&out).unwrap();
    assert!(!r.complete);
    let left = common::settled_leftovers(pid);
    assert!(left.is_empty(), "{left:?}");
}
