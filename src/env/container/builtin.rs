//! vmbench's own container: `clone` into new pid, mount, uts, ipc and net namespaces, attach to
//! a fresh cgroup, then (in the child) a cgroup namespace, private mounts, pivot_root into the
//! image, and exec of the workload as the container's PID 1.

use super::cgroup::{Cgroup, Limits};
use super::namespaces::{self, ChildPlan, MountPlan, RECORD_BYTES, TAG_FAILED, TAG_SETUP_DONE};
use super::ContainerSettings;
use crate::env::{instance, EnvError, EnvKind, Outcome, Spec};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Host name inside the builtin container.
pub const HOSTNAME: &str = "vmbench-container";

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A unique name for an instance's cgroup.
pub fn instance_name() -> String {
    format!(
        "vmbench-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

fn sys(what: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> EnvError {
    let what = what.into();
    move |source| EnvError::Sys { what, source }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), EnvError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("create pipe"))
}

/// Runs one instance in the builtin container.
pub fn run(spec: &Spec, settings: &ContainerSettings) -> Result<Outcome, EnvError> {
    let limits = Limits {
        cpus: spec.cpus.map(<[usize]>::to_vec),
        cpu_quota_us: spec
            .cpu_quota
            .map(|cpus| ((cpus * 100_000.0).round() as u64, 100_000)),
        memory_bytes: Some(spec.memory_mib << 20),
        pids_max: Some(settings.pids_max),
    };
    let cgroup = Cgroup::create(
        &settings.layout,
        &settings.own_cgroup,
        &instance_name(),
        &limits,
    )
    .map_err(|e| EnvError::Setup(crate::error_chain(&e)))?;

    let mut invocation = spec.invocation.clone();
    invocation.data_dir = "/data".into();
    let (output_read, output_write) = pipe()?;
    let (sync_read, sync_write) = pipe()?;
    let (phase_read, phase_write) = pipe()?;
    let setup = namespaces::setup_steps(&MountPlan {
        rootfs: &settings.image.rootfs,
        data_dir: spec.data_dir,
        hostname: HOSTNAME,
        cgroup_mounts: settings.cgroup_mounts.clone(),
    });
    let plan = ChildPlan::new(
        setup,
        (
            sync_read.as_raw_fd(),
            phase_write.as_raw_fd(),
            output_write.as_raw_fd(),
        ),
        super::image::WORKLOAD_PATH,
        &invocation.to_args(),
        &[("PATH", "/"), ("HOME", "/")],
    );
    let mut stack = vec![0u8; 256 * 1024];

    let mut collector = crate::env::prepare_collector(spec);
    let t0 = Instant::now();
    let mono0 = namespaces::monotonic_ns();
    // SAFETY: the child runs `child_main`, which makes only system calls until execve; the
    // stack is ours and outlives the call (the child gets a copy of the address space).
    let pid = unsafe {
        nix::sched::clone(
            Box::new(|| namespaces::child_main(&plan)),
            &mut stack,
            namespaces::CLONE_NAMESPACES,
            Some(libc::SIGCHLD),
        )
    }
    .map_err(sys("clone the container's namespaces"))?;
    let cloned = t0.elapsed();
    drop((output_write, sync_read, phase_write));
    let mut outcome = Outcome::default();
    outcome
        .phases
        .insert("clone".into(), cloned.as_nanos() as u64);

    let reap =
        |pid: Pid| crate::env::reap(pid).map_err(sys(format!("wait for container pid {pid}")));
    if let Err(e) = cgroup.attach(pid.as_raw()) {
        let _ = kill(pid, Signal::SIGKILL);
        drop(sync_write);
        let _ = reap(pid);
        return Err(EnvError::Setup(crate::error_chain(&e)));
    }
    outcome
        .phases
        .insert("cgroup_attach".into(), t0.elapsed().as_nanos() as u64);
    nix::unistd::write(&sync_write, &[1]).map_err(sys("release the container child"))?;
    drop(sync_write);

    // The phase pipe closes on exec (close-on-exec) or when the child dies.
    let mut phase = std::fs::File::from(phase_read);
    let mut records = Vec::new();
    let _ = phase.read_to_end(&mut records);
    let exec_seen = t0.elapsed();
    let mut setup_error = None;
    for record in records.chunks_exact(RECORD_BYTES) {
        let word = |i: usize| u64::from_le_bytes(record[i * 8..i * 8 + 8].try_into().unwrap());
        match word(0) {
            TAG_SETUP_DONE => {
                outcome
                    .phases
                    .insert("mounts_pivot_root".into(), word(1).saturating_sub(mono0));
            }
            TAG_FAILED => {
                let errno = nix::errno::Errno::from_raw(word(2) as i32);
                setup_error = Some(match plan.steps.get(word(1) as usize) {
                    Some(step) => format!(
                        "container setup failed: {} {}: {errno}",
                        step.name(),
                        step.path()
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ),
                    None => format!(
                        "container setup failed: exec {}: {errno}",
                        super::image::WORKLOAD_PATH
                    ),
                });
            }
            _ => {}
        }
    }
    if setup_error.is_none() {
        outcome
            .phases
            .insert("exec".into(), exec_seen.as_nanos() as u64);
    }

    crate::env::start_collector(
        &mut collector,
        crate::collector::Target {
            cgroup_memory: cgroup.memory_file(),
            cgroup_cpu: cgroup.cpu_file(),
            ..crate::collector::Target::process(pid.as_raw())
        },
        t0,
    );
    // Killing the container's PID 1 takes every process of its pid namespace with it.
    let mut kill_init = || {
        let _ = kill(pid, Signal::SIGKILL);
    };
    outcome.observed = instance::watch(
        std::fs::File::from(output_read),
        t0,
        spec.timeout,
        &mut kill_init,
    );
    crate::env::finish_collector(collector, &mut outcome);
    if let Some(e) = setup_error {
        outcome.observed.errors.insert(0, e);
    }
    let (status, rusage) = reap(pid)?;
    outcome.host_rusage = Some(rusage);
    outcome.lifetime = Some(t0.elapsed());
    let usage = cgroup.usage();
    outcome.exit = crate::env::exit_info(status);
    outcome.exit.timed_out = outcome.observed.timed_out;
    outcome.exit.oom = usage.oom_kills > 0;
    outcome.io_path = Some(format!(
        "bind mount of a host {} directory",
        crate::env::filesystem_of(spec.data_dir)
    ));
    outcome.cgroup = Some(usage);
    let removal = Instant::now();
    cgroup
        .remove()
        .map_err(|e| EnvError::Setup(crate::error_chain(&e)))?;
    outcome.phases.insert(
        "teardown_cgroup_remove".into(),
        removal.elapsed().as_nanos() as u64,
    );
    Ok(outcome)
}

/// Whether the builtin container can run here.
pub fn availability(host: &crate::host::HostInfo) -> Result<String, String> {
    if !host.root {
        return Err(format!(
            "{} needs root: fix: run vmbench as root (sudo)",
            EnvKind::Container
        ));
    }
    if host.cgroup.starts_with("no cgroup") {
        return Err(format!(
            "{}: fix: mount cgroup2 on /sys/fs/cgroup",
            host.cgroup
        ));
    }
    Ok(format!(
        "namespaces + cgroups ({})",
        host.cgroup.split(' ').next().unwrap_or("?")
    ))
}
