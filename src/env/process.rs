//! The one launch → watch → reap sequence every environment shares, and the one way an
//! instance's first process is created.
//!
//! An environment supplies only what differs, through [`Instance`]: how to start (which
//! program, which child steps, which process to sample), how to kill, and what to read and
//! remove at the end. [`run`] does the rest the same way for all: collector, output watch with
//! its deadline and Ctrl-C, process-group kill, reap with resource usage, exit status.
//!
//! Processes are created with `clone` directly rather than `std::process::Command`: the child
//! must arm a parent-death signal (so a killed vmbench leaves no instance running), pin itself
//! and set up namespaces without allocating, and a plain process must still be started the
//! cheap way posix_spawn does it (`CLONE_VM | CLONE_VFORK`), since a full fork of the harness
//! would add its page-table copy to every startup figure.

use super::child::{child_main, ChildPlan, Mark, Record, Step};
use super::watch::{self, Observed};
use super::{EnvError, Outcome, Spec};
use crate::collector::{Collector, Target};
use crate::ids::Phase;
use nix::sched::CloneFlags;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// `CLONE_INTO_CGROUP` (Linux 5.7): the child starts inside the cgroup given by a descriptor.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// How the first process of an instance is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneMode {
    /// As posix_spawn does: the child shares the parent's memory until it execs.
    Vfork,
    /// A copy of the parent in new namespaces (`clone3`), created directly inside a cgroup v2
    /// when a directory descriptor is given.
    Namespaces {
        /// Namespaces to create.
        flags: CloneFlags,
        /// A cgroup v2 directory to start in (`CLONE_INTO_CGROUP`).
        cgroup: Option<RawFd>,
    },
}

/// A hook run in the parent right after the clone; an error is the launch's failure.
pub type AfterClone<'a> = Box<dyn FnOnce(Pid) -> Result<(), String> + 'a>;

/// What to start.
pub struct Program<'a> {
    /// Absolute path of the program, as the child sees it.
    pub exe: &'a str,
    /// Arguments after the program name.
    pub args: &'a [String],
    /// The environment it gets; `None`: the harness's own.
    pub env: Option<&'a [(String, String)]>,
    /// Child steps before the exec.
    pub steps: Vec<Step>,
    /// How the process is created.
    pub clone: CloneMode,
    /// Runs in the parent right after the clone, while the child may wait for it (moving it
    /// into a cgroup); an error is the launch's failure.
    pub after_clone: Option<AfterClone<'a>>,
    /// The read end of a pipe that becomes its stdin (else `/dev/null`).
    pub input: Option<RawFd>,
}

impl<'a> Program<'a> {
    /// A program started on the host the plain way (as posix_spawn does), with the harness's
    /// environment, dying with vmbench, leading its own process group, pinned to `cpus`.
    pub fn host(exe: &'a str, args: &'a [String], cpus: Option<&[usize]>) -> Program<'a> {
        Program {
            exe,
            args,
            env: None,
            steps: host_child_steps(cpus),
            clone: CloneMode::Vfork,
            after_clone: None,
            input: None,
        }
    }
}

/// A started process, as the parent saw it come up.
#[derive(Debug)]
pub struct Spawned {
    /// Taken just before the clone.
    pub t0: Instant,
    /// The new process.
    pub pid: Pid,
    /// Clone returned in the parent, since `t0`.
    pub cloned: Duration,
    /// The exec happened (the phase pipe closed), since `t0`.
    pub exec_seen: Duration,
    /// Moments the child reported, since `t0`.
    pub marks: Vec<(Mark, Duration)>,
    /// A child step or the exec failed: what and why.
    pub failure: Option<String>,
    /// The write end of its standard input, when the caller gave none: held while the
    /// instance lives, closed when vmbench dies (the instance's `--watch-stdin` ends it).
    pub stdin: Option<OwnedFd>,
}

fn sys(what: &str) -> impl FnOnce(nix::errno::Errno) -> EnvError + '_ {
    move |source| EnvError::Sys {
        what: what.to_string(),
        source,
    }
}

/// A close-on-exec pipe.
pub fn pipe() -> Result<(OwnedFd, OwnedFd), EnvError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("create a pipe"))
}

/// Starts `program` with stdout and stderr on `output` and returns once it has exec'd (or
/// failed to). Signals are blocked around the clone so no handler of the harness runs in the
/// child; the child restores the mask just before its exec.
pub fn spawn(program: Program, output: OwnedFd) -> Result<Spawned, EnvError> {
    let (phase_read, phase_write) = pipe()?;
    let inherited: Vec<(String, String)>;
    let env = match program.env {
        Some(env) => env,
        None => {
            inherited = std::env::vars().collect();
            &inherited
        }
    };
    let mut plan = ChildPlan::new(
        program.steps,
        (phase_write.as_raw_fd(), output.as_raw_fd()),
        program.exe,
        program.args,
        env,
    );
    // Without an input of the caller's, a pipe vmbench holds: its end is the instance's.
    let held = match program.input {
        Some(_) => None,
        None => Some(pipe()?),
    };
    plan.input = program
        .input
        .or(held.as_ref().map(|(read, _)| read.as_raw_fd()));
    let (t0, mono0, result) = clone_masked(&mut plan, program.clone)?;
    let cloned = t0.elapsed();
    let pid = result.map_err(sys("clone the instance's first process"))?;
    let parent_failure = program.after_clone.and_then(|hook| hook(pid).err());
    // Our copies of the child's ends must go, or the pipes never report end of file.
    drop((phase_write, output));
    let mut bytes = Vec::new();
    let _ = std::fs::File::from(phase_read).read_to_end(&mut bytes);
    let exec_seen = t0.elapsed();
    let mut spawned = Spawned {
        t0,
        pid,
        cloned,
        exec_seen,
        marks: Vec::new(),
        failure: parent_failure,
        stdin: held.map(|(_, write)| write),
    };
    for record in Record::decode_all(&bytes) {
        match record {
            Record::Reached(mark, ns) => spawned
                .marks
                .push((mark, Duration::from_nanos(ns.saturating_sub(mono0)))),
            Record::Failed { index, errno } => {
                spawned
                    .failure
                    .get_or_insert_with(|| plan.failure(index, errno));
            }
        }
    }
    Ok(spawned)
}

/// Clones the child with every signal blocked (no handler of the harness may run in it; it
/// restores the mask just before its exec): the instant taken just before, the monotonic clock
/// then (the child's marks are on it), and what the clone gave.
fn clone_masked(
    plan: &mut ChildPlan,
    mode: CloneMode,
) -> Result<(Instant, u64, Result<Pid, nix::errno::Errno>), EnvError> {
    let mut stack = match mode {
        CloneMode::Vfork => vec![0u8; 64 * 1024],
        CloneMode::Namespaces { .. } => Vec::new(),
    };
    let all = nix::sys::signal::SigSet::all();
    let mut old = nix::sys::signal::SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&all),
        Some(&mut old),
    )
    .map_err(sys("block signals"))?;
    plan.signal_mask = Some(*old.as_ref());
    let plan = &*plan;
    let t0 = Instant::now();
    let mono0 = super::child::monotonic_ns();
    let result = match mode {
        CloneMode::Vfork => {
            // SAFETY: the child shares our memory until it execs and runs `child_main`, which
            // makes only system calls; the stack outlives the call (the parent is suspended
            // until the child execs or exits).
            unsafe {
                nix::sched::clone(
                    Box::new(|| child_main(plan)),
                    &mut stack,
                    CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK,
                    Some(libc::SIGCHLD),
                )
            }
        }
        CloneMode::Namespaces { flags, cgroup } => clone3(plan, flags, cgroup),
    };
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&old),
        None,
    );
    Ok((t0, mono0, result))
}

/// `clone3` with fork semantics: the child gets a copy of our memory and runs `child_main`.
fn clone3(
    plan: &ChildPlan,
    flags: CloneFlags,
    cgroup: Option<RawFd>,
) -> Result<Pid, nix::errno::Errno> {
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let args = CloneArgs {
        flags: flags.bits() as u64 | cgroup.map_or(0, |_| CLONE_INTO_CGROUP),
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.map_or(0, |fd| fd as u64),
    };
    // SAFETY: clone3 with no stack behaves as fork: the child continues here on a copy of our
    // stack and memory, and `child_main` makes only system calls until it execs or exits.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        0 => child_main(plan),
        -1 => Err(nix::errno::Errno::last()),
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}

/// A started instance, handed to [`run`] by [`Instance::start`].
pub struct Started {
    /// Taken just before the instance was started (clone, spawn, runtime exec, QEMU exec).
    pub t0: Instant,
    /// The process to reap: workload, container init, runtime, engine client or QEMU.
    pub pid: Pid,
    /// It leads its own process group: anything left in the group is killed before the reap.
    pub own_group: bool,
    /// Read end of its output (stdout and stderr share one pipe).
    pub output: std::fs::File,
    /// What the collector samples.
    pub target: Target,
    /// Startup phases seen so far, nanoseconds since `t0`.
    pub phases: BTreeMap<Phase, u64>,
    /// A setup failure the child reported before its exec.
    pub failure: Option<String>,
    /// The write end of its standard input, held while it lives.
    pub stdin: Option<OwnedFd>,
}

impl Started {
    /// A started process from [`spawn`]: its exec time as the phase `exec_phase`, its marks.
    pub fn from_spawned(
        spawned: Spawned,
        output: std::fs::File,
        target: Target,
        own_group: bool,
        exec_phase: Phase,
    ) -> Started {
        let mut phases = BTreeMap::new();
        for (mark, at) in &spawned.marks {
            phases.insert(mark.phase(), at.as_nanos() as u64);
        }
        if spawned.failure.is_none() {
            phases.insert(exec_phase, spawned.exec_seen.as_nanos() as u64);
        }
        Started {
            t0: spawned.t0,
            pid: spawned.pid,
            own_group,
            output,
            target,
            phases,
            failure: spawned.failure,
            stdin: spawned.stdin,
        }
    }
}

/// What an environment supplies for one instance.
pub trait Instance {
    /// Starts the instance.
    fn start(&mut self, spec: &Spec) -> Result<Started, EnvError>;

    /// Runs after the start, before the output is watched (e.g. resuming a restored VM).
    fn after_start(&mut self, _started: &Started, _outcome: &mut Outcome) -> Result<(), EnvError> {
        Ok(())
    }

    /// Kills the instance (deadline passed or the user interrupted).
    fn kill(&mut self, started: &Started) {
        kill_started(started);
    }

    /// CPU time the instance used that `wait4` of the started process does not see (an
    /// engine's container is a child of the engine, not of the client vmbench starts).
    fn cpu_outside_ns(&self) -> Option<u64> {
        None
    }

    /// The files of the instance's image, evicted from the page cache before a cold start.
    fn image_files(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }

    /// After the reap: reads what is left to read (cgroup accounting) and removes what the
    /// instance used (cgroups, runtime state), recording teardown phases.
    fn finish(&mut self, _outcome: &mut Outcome) -> Result<(), EnvError> {
        Ok(())
    }
}

/// SIGKILL to the started process, or to its whole group when it leads one.
pub fn kill_started(started: &Started) {
    if started.own_group {
        let _ = killpg(started.pid, Signal::SIGKILL);
    } else {
        let _ = nix::sys::signal::kill(started.pid, Signal::SIGKILL);
    }
}

/// Kills and reaps a started process unless it was reaped: no instance outlives an error.
struct Reaper {
    pid: Pid,
    own_group: bool,
    reaped: bool,
}

impl Reaper {
    fn reap(&mut self) -> Result<(nix::sys::wait::WaitStatus, vmbench_workload::Rusage), EnvError> {
        let r = reap(self.pid).map_err(|source| EnvError::Sys {
            what: format!("wait for pid {}", self.pid),
            source,
        });
        self.reaped = true;
        r
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if !self.reaped {
            if self.own_group {
                let _ = killpg(self.pid, Signal::SIGKILL);
            }
            let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
            let _ = reap(self.pid);
        }
    }
}

/// An instance from its start to its reap: what [`run`] and [`Live`] share.
struct Begun {
    collector: Option<Collector>,
    probe: Option<crate::noise::Probe>,
    started: Started,
    reaper: Reaper,
    outcome: Outcome,
}

/// Starts an instance with its collector (and, with `noise`, the host-noise probe).
fn begin(instance: &mut dyn Instance, spec: &Spec, noise: bool) -> Result<Begun, EnvError> {
    let evicted = (spec.page_cache == crate::ids::PageCache::Cold)
        .then(|| crate::env::container::image::evict(&instance.image_files()));
    // Created before the start: a thread spawned while startup is timed would count in it.
    let mut collector = spec.sample_interval.map(Collector::prepare);
    let probe = if noise {
        crate::noise::Probe::start(spec.cpus)
    } else {
        None
    };
    let mut started = instance.start(spec)?;
    let reaper = Reaper {
        pid: started.pid,
        own_group: started.own_group,
        reaped: false,
    };
    let mut outcome = Outcome {
        phases: std::mem::take(&mut started.phases),
        evicted_bytes: evicted,
        ..Outcome::default()
    };
    if let Some(c) = collector.as_mut() {
        c.start(started.target.clone(), started.t0);
    }
    instance.after_start(&started, &mut outcome)?;
    Ok(Begun {
        collector,
        probe,
        started,
        reaper,
        outcome,
    })
}

/// Once the output is watched to its end: the group killed, the collector stopped, the
/// instance reaped and finished.
fn conclude(
    instance: &mut dyn Instance,
    begun: Begun,
    observed: Observed,
) -> Result<Outcome, EnvError> {
    let Begun {
        collector,
        probe,
        mut started,
        mut reaper,
        mut outcome,
    } = begun;
    // Children the workload left behind go with it; before the reap, while the leader's
    // zombie still holds the group id, so the signal cannot reach a reused group.
    if started.own_group {
        let _ = killpg(started.pid, Signal::SIGKILL);
    }
    if let Some(c) = collector {
        let (samples, cost) = c.finish();
        outcome.samples = samples;
        outcome.collector_cost = Some(cost);
    }
    let (status, rusage) = reaper.reap()?;
    let lifetime = started.t0.elapsed();
    outcome.lifetime = Some(lifetime);
    // At least what the instance's cgroup or its process tree's counter saw: a sandbox's
    // helpers (gVisor's ptrace stubs) are reaped by no process of ours.
    let last = |f: fn(&crate::results::Sample) -> Option<u64>| {
        outcome.samples.iter().rev().find_map(f).unwrap_or(0)
    };
    let sampled = last(|s| s.cpu_ns).max(last(|s| s.cgroup_cpu_ns));
    let own_cpu =
        (rusage.user_ns + rusage.sys_ns + instance.cpu_outside_ns().unwrap_or(0)).max(sampled);
    outcome.noise = probe.and_then(|p| p.finish(lifetime, own_cpu));
    outcome.exit = exit_info(status);
    outcome.exit.timed_out = observed.timed_out;
    outcome.host_rusage = Some(rusage);
    outcome.observed = observed;
    if let Some(failure) = started.failure.take() {
        outcome.observed.errors.insert(0, failure);
    }
    instance.finish(&mut outcome)?;
    Ok(outcome)
}

/// Launches one instance through `instance` and watches it to its end.
pub fn run(instance: &mut dyn Instance, spec: &Spec) -> Result<Outcome, EnvError> {
    let begun = begin(instance, spec, true)?;
    let mut host_uid = None;
    let observed: Observed = watch::watch(
        &begun.started.output,
        begun.started.t0,
        spec.timeout,
        &mut || instance.kill(&begun.started),
        &mut || {
            if let Some(c) = begun.collector.as_ref() {
                c.ready();
            }
            // Who the workload really is on the host, while it runs (an engine may name its
            // pid a moment after the workload said it was ready).
            let target = &begun.started.target;
            let deadline = Instant::now() + Duration::from_millis(50);
            host_uid = loop {
                let uid = target
                    .workload_pid()
                    .and_then(crate::env::container::userns::host_uid);
                if uid.is_some() || Instant::now() > deadline {
                    break uid;
                }
                std::thread::sleep(Duration::from_millis(2));
            };
        },
    );
    let mut outcome = conclude(instance, begun, observed)?;
    outcome.host_uid = host_uid;
    Ok(outcome)
}

/// An instance left running (a density step): its output read by the caller, who watches
/// several at once, until it is released.
pub struct Live<'e> {
    instance: Box<dyn Instance + 'e>,
    begun: Begun,
    reader: watch::Reader,
}

impl<'e> Live<'e> {
    /// Starts one instance of `env`; it runs until [`Live::release`].
    pub fn start(env: &'e dyn super::Environment, spec: &Spec) -> Result<Live<'e>, EnvError> {
        let mut instance = env.instance()?;
        let begun = begin(instance.as_mut(), spec, false)?;
        Ok(Live {
            instance,
            begun,
            reader: watch::Reader::default(),
        })
    }

    /// The output to poll.
    pub fn output(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.begun.started.output.as_fd()
    }

    /// Reads what the output has now; false once it has closed.
    pub fn read(&mut self) -> bool {
        let was_ready = self.reader.seen.ready.is_some();
        let open = self
            .reader
            .read_from(&mut &self.begun.started.output, self.begun.started.t0);
        if !was_ready && self.reader.seen.ready.is_some() {
            if let Some(c) = self.begun.collector.as_ref() {
                c.ready();
            }
        }
        open
    }

    /// What the output said so far.
    pub fn seen(&self) -> &Observed {
        &self.reader.seen
    }

    /// When it was launched.
    pub fn t0(&self) -> Instant {
        self.begun.started.t0
    }

    /// What the collector samples: the instance's process and cgroup.
    pub fn target(&self) -> &Target {
        &self.begun.started.target
    }

    /// Kills the instance, reads the rest of its output and reaps it; its cgroups and state
    /// are removed as after any run.
    pub fn release(mut self) -> Result<Outcome, EnvError> {
        self.instance.kill(&self.begun.started);
        self.reader.drain(
            &mut &self.begun.started.output,
            self.begun.started.t0,
            Duration::from_secs(5),
        );
        conclude(self.instance.as_mut(), self.begun, self.reader.seen)
    }
}

/// Waits for `pid` and returns its status with its resource usage (all threads, and the
/// children it reaped).
pub fn reap(
    pid: Pid,
) -> Result<(nix::sys::wait::WaitStatus, vmbench_workload::Rusage), nix::errno::Errno> {
    let mut status = 0;
    // SAFETY: wait4 fills `status` and the zeroed rusage struct for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above.
        let r = unsafe { libc::wait4(pid.as_raw(), &mut status, 0, &mut ru) };
        match nix::errno::Errno::result(r) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    let ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1000;
    let usage = vmbench_workload::Rusage {
        user_ns: ns(ru.ru_utime),
        sys_ns: ns(ru.ru_stime),
        max_rss_bytes: ru.ru_maxrss as u64 * 1024,
        minor_faults: ru.ru_minflt as u64,
        major_faults: ru.ru_majflt as u64,
        voluntary_switches: ru.ru_nvcsw as u64,
        involuntary_switches: ru.ru_nivcsw as u64,
    };
    Ok((nix::sys::wait::WaitStatus::from_raw(pid, status)?, usage))
}

/// Exit information from a wait status.
pub fn exit_info(status: nix::sys::wait::WaitStatus) -> crate::results::ExitInfo {
    use crate::results::ExitInfo;
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(_, code) => ExitInfo {
            code: Some(code),
            ..ExitInfo::default()
        },
        WaitStatus::Signaled(_, sig, _) => ExitInfo {
            signal: Some(sig as i32),
            ..ExitInfo::default()
        },
        _ => ExitInfo::default(),
    }
}

/// The steps every process vmbench starts on the host takes first: die with vmbench, lead
/// its own process group, run on the workload's CPUs.
pub fn host_child_steps(cpus: Option<&[usize]>) -> Vec<Step> {
    let mut steps = vec![
        Step::DieWithParent(Some(std::process::id() as i32)),
        Step::NewProcessGroup,
    ];
    if let Some(cpus) = cpus {
        steps.push(Step::Pin(cpus.to_vec()));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A plain shell command as an instance: what every environment shares, without root.
    struct Shell {
        script: &'static str,
        finished: bool,
    }

    impl Instance for Shell {
        fn start(&mut self, spec: &Spec) -> Result<Started, EnvError> {
            let args = vec!["-c".to_string(), self.script.to_string()];
            let (output, output_write) = pipe()?;
            let spawned = spawn(Program::host("/bin/sh", &args, spec.cpus), output_write)?;
            let target = Target::process(spawned.pid.as_raw());
            Ok(Started::from_spawned(
                spawned,
                output.into(),
                target,
                true,
                Phase::Spawn,
            ))
        }

        fn finish(&mut self, _outcome: &mut Outcome) -> Result<(), EnvError> {
            self.finished = true;
            Ok(())
        }
    }

    fn spec(timeout: Duration) -> Spec<'static> {
        Spec {
            binary: Path::new("/bin/sh"),
            invocation: vmbench_workload::Invocation {
                workload: vmbench_workload::Workload::Noop,
                size: vmbench_workload::Size::Small,
                runs: 1,
                data_dir: "/tmp".into(),
                fault: None,
                identity: false,
                bind: vmbench_workload::default_bind(),
                watch_stdin: false,
            },
            cpus: None,
            memory_mib: 64,
            cpu_quota: None,
            timeout,
            data_dir: Path::new("/tmp"),
            sample_interval: Some(Duration::from_millis(5)),
            page_cache: Default::default(),
            net: None,
        }
    }

    fn alive(pid: i32) -> bool {
        nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
    }

    #[test]
    fn an_instance_is_watched_reaped_and_finished_with_its_exit_status() {
        let mut shell = Shell {
            script: "echo '@vmbench not json'; echo hello; exit 3",
            finished: false,
        };
        let outcome = run(&mut shell, &spec(Duration::from_secs(20))).unwrap();
        assert!(shell.finished, "the environment's finish ran");
        assert_eq!(outcome.exit.code, Some(3));
        assert!(!outcome.exit.timed_out);
        assert!(outcome.observed.ready.is_none());
        assert!(outcome
            .lifetime
            .is_some_and(|l| l < Duration::from_secs(20)));
        assert!(outcome.phases.contains_key(&Phase::Spawn));
        assert!(outcome.host_rusage.is_some());
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group() {
        // The shell leaves a grandchild that would outlive it, and reports its pid first.
        let mut shell = Shell {
            script: "sleep 30 & echo $!; wait",
            finished: false,
        };
        let started = Instant::now();
        let outcome = run(&mut shell, &spec(Duration::from_millis(300))).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the deadline held"
        );
        assert!(outcome.exit.timed_out && outcome.observed.timed_out);
        assert_eq!(outcome.exit.signal, Some(libc::SIGKILL));
        assert!(shell.finished);
        let grandchild: i32 = outcome
            .observed
            .noise_tail(5)
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .expect("the grandchild's pid was printed");
        let gone = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !alive(grandchild)
                || std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        });
        assert!(gone, "the grandchild {grandchild} outlived the timeout");
    }
}
