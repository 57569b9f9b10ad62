//! The native environment: the workload as a plain child process of the harness, in its own
//! process group (so a timeout kills any children it forked), optionally pinned to CPUs.

use super::{instance, EnvError, Outcome, Spec};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Builds the CPU set for `cpus`.
pub fn cpu_set(cpus: &[usize]) -> Result<CpuSet, EnvError> {
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu).map_err(|source| EnvError::Sys {
            what: format!("cpu {cpu} is out of range"),
            source,
        })?;
    }
    Ok(set)
}

/// Spawns `cmd` pinned to `cpus`; returns the instant taken just before the spawn.
///
/// The child inherits the spawning thread's affinity. Setting it here rather than in a
/// pre_exec hook keeps std on its posix_spawn (vfork) path: a full fork of the harness would
/// add its page-table copy to every startup figure.
pub fn spawn_pinned(
    cmd: &mut Command,
    cpus: Option<&[usize]>,
) -> Result<(Instant, std::io::Result<std::process::Child>), EnvError> {
    let pinned = cpus.map(cpu_set).transpose()?;
    let restore = match &pinned {
        Some(set) => {
            let previous = sched_getaffinity(Pid::from_raw(0)).ok();
            sched_setaffinity(Pid::from_raw(0), set).map_err(|source| EnvError::Sys {
                what: format!("pin to CPUs {:?}", cpus.unwrap_or_default()),
                source,
            })?;
            previous
        }
        None => None,
    };
    let t0 = Instant::now();
    let spawned = cmd.spawn();
    if let Some(previous) = restore {
        let _ = sched_setaffinity(Pid::from_raw(0), &previous);
    }
    Ok((t0, spawned))
}

/// Runs one native instance to its end.
pub fn run(spec: &Spec) -> Result<Outcome, EnvError> {
    let mut invocation = spec.invocation.clone();
    invocation.data_dir = spec.data_dir.to_path_buf();
    // stdout and stderr share one pipe: protocol lines are told apart by their prefix, and one
    // pipe needs no second reader.
    let (output, writer, writer_err) = super::output_pipe()?;
    let mut cmd = Command::new(spec.binary);
    cmd.args(invocation.to_args())
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_err)
        .process_group(0);
    let mut collector = super::prepare_collector(spec);
    let (t0, spawned) = spawn_pinned(&mut cmd, spec.cpus)?;
    let spawned_at = t0.elapsed();
    let child = spawned.map_err(|source| EnvError::Spawn {
        program: spec.binary.display().to_string(),
        source,
    })?;
    // Our copies of the write end must go, or the pipe never reports end of file.
    drop(cmd);
    let pgid = Pid::from_raw(child.id() as i32);
    super::start_collector(
        &mut collector,
        crate::collector::Target::process(pgid.as_raw()),
        t0,
    );
    let kill_group = move || {
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    };
    let mut kill = kill_group;
    let observed = instance::watch(output, t0, spec.timeout, &mut kill);
    // Children the workload left behind go with it; before the reap, while the leader's
    // zombie still holds the group id, so the signal cannot reach a reused group.
    kill_group();
    let mut sampled = Outcome::default();
    super::finish_collector(collector, &mut sampled);
    let (status, rusage) = super::reap(pgid).map_err(|source| EnvError::Sys {
        what: format!("wait for workload pid {pgid}"),
        source,
    })?;
    let lifetime = t0.elapsed();
    let mut exit = super::exit_info(status);
    exit.timed_out = observed.timed_out;
    let mut outcome = Outcome {
        samples: sampled.samples,
        collector_cost: sampled.collector_cost,
        observed,
        exit,
        lifetime: Some(lifetime),
        host_rusage: Some(rusage),
        io_path: Some(format!(
            "host {} directory",
            super::filesystem_of(spec.data_dir)
        )),
        ..Outcome::default()
    };
    outcome
        .phases
        .insert("spawn".into(), spawned_at.as_nanos() as u64);
    Ok(outcome)
}
