//! The collector: a sampling thread per instance that reads, from the host side, the
//! instance's process (`/proc/<pid>/stat`, `smaps_rollup`) and, for containers, its cgroup.
//! For a VM the process is QEMU, so the figures include every vCPU and I/O thread.
//!
//! CPU time comes from a software perf counter (`task-clock`) attached to the workload process
//! and inherited by every thread and child it creates: nanoseconds, brought up to date by the
//! kernel when read. The tick counters of `/proc/<pid>/stat` (10 ms), a task's `schedstat` or
//! another process's CPU clock (both updated only at scheduler ticks) make a 10 ms sample of
//! a busy loop read anything from 0 to 2 cores. QEMU is the exception: a perf read costs an
//! interrupt per running thread, so its process CPU clock is read instead (nanoseconds, every
//! thread, tick-stale while running; steady over a few samples).
//!
//! The collector measures its own cost (thread CPU time over wall time) so that the overhead
//! it adds can be reported beside the figures it produced.

use crate::results::{Sample, TrialSummary};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often PSS is read at least: `smaps_rollup` walks page tables, which for a QEMU with
/// 250 MB resident cost ~2 ms a read here, so it is read far less often than the cheap
/// counters.
pub const PSS_PERIOD: Duration = Duration::from_millis(500);
/// A full sample (PSS) is spaced so that it costs at most this share of the time between two:
/// a QEMU whose `smaps_rollup` takes 2 ms is read every 2 s.
pub const FULL_SAMPLE_SHARE: u32 = 1000;

/// What to sample.
#[derive(Debug, Clone)]
pub struct Target {
    /// The instance's process: workload, container PID 1, runtime, or QEMU.
    pub pid: i32,
    /// The `/proc` to read (a fixture tree in tests).
    pub proc_root: PathBuf,
    /// cgroup file holding the memory charged now, for containers.
    pub cgroup_memory: Option<PathBuf>,
    /// cgroup file holding the highest memory charged so far (`memory.max_usage_in_bytes`,
    /// `memory.peak`): a peak between two samples is kept.
    pub cgroup_memory_peak: Option<PathBuf>,
    /// cgroup file holding the CPU time used (`cpuacct.usage` or `cpu.stat`), for containers.
    pub cgroup_cpu: Option<PathBuf>,
    /// A cgroup's `cgroup.procs` whose first process is the workload, when `pid` is not (an
    /// OCI runtime, an engine's client): the workload's process is the one sampled, and `pid`
    /// (the launcher) only for its own memory.
    pub workload_in: Option<PathBuf>,
    /// Read CPU time from the process CPU clock instead of a perf counter: for QEMU, whose
    /// several threads make each perf read cost an inter-processor interrupt per running
    /// thread (30 µs a sample here); its clock is updated at scheduler ticks only.
    pub cheap_cpu: bool,
}

impl Target {
    /// A process on the real `/proc`.
    pub fn process(pid: i32) -> Target {
        Target {
            pid,
            proc_root: PathBuf::from("/proc"),
            cgroup_memory: None,
            cgroup_memory_peak: None,
            cgroup_cpu: None,
            workload_in: None,
            cheap_cpu: false,
        }
    }

    /// The process to sample: the workload where it is not the launched process (found in
    /// its cgroup, `None` until the launcher has put it there), else the launched process.
    pub fn workload_pid(&self) -> Option<i32> {
        match &self.workload_in {
            Some(procs) => first_pid_in(procs),
            None => Some(self.pid),
        }
    }
}

/// The collector's own cost for one instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// CPU time the sampling thread used.
    pub cpu_ns: u64,
    /// Wall time it ran.
    pub wall_ns: u64,
    /// Samples taken.
    pub samples: usize,
}

impl Cost {
    /// CPU time over wall time: the fraction of one core the collector used.
    pub fn fraction_of_core(&self) -> f64 {
        if self.wall_ns == 0 {
            0.0
        } else {
            self.cpu_ns as f64 / self.wall_ns as f64
        }
    }

    /// Adds another instance's cost.
    pub fn add(&mut self, other: Cost) {
        self.cpu_ns += other.cpu_ns;
        self.wall_ns += other.wall_ns;
        self.samples += other.samples;
    }
}

/// A collector thread, created before the instance is launched and told its target after:
/// creating a thread or opening `/proc` files while startup is being timed would put the
/// collector's own work into the startup figure. Its first sample comes one interval after
/// launch.
pub struct Collector {
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
    target: Option<std::sync::mpsc::Sender<(Target, Instant)>>,
    handle: JoinHandle<(Vec<Sample>, Cost)>,
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the struct.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A signal that only interrupts the collector's sleep, for a sample at `ready`.
const WAKE_SIGNAL: libc::c_int = libc::SIGURG;

extern "C" fn wake_handler(_: libc::c_int) {}

/// Installs the no-op handler of [`WAKE_SIGNAL`] once (its default action is to ignore it,
/// which would not interrupt a sleep).
fn install_wake_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(wake_handler),
            nix::sys::signal::SaFlags::SA_RESTART,
            nix::sys::signal::SigSet::empty(),
        );
        // SAFETY: the handler does nothing, so it is async-signal-safe.
        let _ = unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGURG, &action) };
    });
}

/// Sleeps until `deadline` (CLOCK_MONOTONIC, the clock behind `Instant`), or until a signal
/// arrives: `nanosleep` is never restarted after a handler, whatever `SA_RESTART` says.
fn sleep_until(deadline: Instant, now: Instant) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the struct.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let until = deadline.saturating_duration_since(now);
    let total = ts.tv_nsec as u128 + until.subsec_nanos() as u128;
    ts.tv_sec += until.as_secs() as libc::time_t + (total / 1_000_000_000) as libc::time_t;
    ts.tv_nsec = (total % 1_000_000_000) as libc::c_long;
    // SAFETY: an absolute sleep on our timespec; an interruption only ends it early.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
}

/// Whether the launched process of `target` still has an address space (not gone, not a zombie).
fn alive(target: &Target) -> bool {
    std::fs::read_to_string(target.proc_root.join(target.pid.to_string()).join("statm"))
        .ok()
        .and_then(|t| parse_statm(&t))
        .is_some_and(|(size, _)| size > 0)
}

/// The sampling thread's loop over one target.
struct Sampling {
    target: Target,
    t0: Instant,
    interval: Duration,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
}

impl Sampling {
    fn run(self) -> (Vec<Sample>, Cost) {
        let cpu0 = thread_cpu_ns();
        let wall0 = Instant::now();
        // At once: threads the workload creates from now on are counted.
        let mut cpu = CpuCounter::open(&self.target);
        let mut samples = Vec::with_capacity(256);
        let mut next = self.t0 + self.interval;
        let mut next_full = next;
        let mut sampler: Option<Sampler> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut at_ready = self.ready.swap(false, Ordering::Relaxed);
            if next > now && !at_ready {
                sleep_until(next, now);
                if self.stop.load(Ordering::Relaxed) {
                    break;
                }
                at_ready = self.ready.swap(false, Ordering::Relaxed);
                if !at_ready && Instant::now() < next {
                    continue;
                }
            }
            if sampler.is_none() {
                sampler = Sampler::open(&self.target);
            }
            if cpu.is_none() {
                cpu = CpuCounter::open(&self.target);
            }
            let taken = Instant::now();
            let full = at_ready || taken >= next_full;
            match sampler.as_mut() {
                Some(s) => match s.sample(self.t0, cpu.as_mut(), full) {
                    Some(sample) => samples.push(sample),
                    None => break,
                },
                // The workload is not in its cgroup yet: wait for it while its launcher lives.
                None if self.target.workload_in.is_some() && alive(&self.target) => {}
                None => break,
            }
            if full {
                next_full = taken + PSS_PERIOD.max(taken.elapsed() * FULL_SAMPLE_SHARE);
            }
            next += self.interval;
            let now = Instant::now();
            if next < now {
                // Fell behind (a slow read): skip missed ticks rather than burst.
                next = now;
            }
        }
        let cost = Cost {
            cpu_ns: thread_cpu_ns() - cpu0,
            wall_ns: wall0.elapsed().as_nanos() as u64,
            samples: samples.len(),
        };
        (samples, cost)
    }
}

impl Collector {
    /// Creates the sampling thread; it waits for [`Collector::start`].
    pub fn prepare(interval: Duration) -> Collector {
        install_wake_handler();
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicBool::new(false));
        let (flag, at_ready) = (stop.clone(), ready.clone());
        let (tx, rx) = std::sync::mpsc::channel::<(Target, Instant)>();
        let handle = std::thread::Builder::new()
            .name("vmbench-collector".into())
            .spawn(move || match rx.recv() {
                Ok((target, t0)) => Sampling {
                    target,
                    t0,
                    interval,
                    stop: flag,
                    ready: at_ready,
                }
                .run(),
                Err(_) => (Vec::new(), Cost::default()),
            })
            .expect("spawn the collector thread");
        Collector {
            stop,
            ready,
            target: Some(tx),
            handle,
        }
    }

    /// The instance sent `ready`: take a full sample (PSS included) now, so that even a
    /// short-lived instance carries one.
    pub fn ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
        self.wake();
    }

    /// Interrupts the thread's sleep.
    fn wake(&self) {
        use std::os::unix::thread::JoinHandleExt;
        // SAFETY: signalling our own live thread (joined only in `finish`, after this).
        unsafe { libc::pthread_kill(self.handle.as_pthread_t(), WAKE_SIGNAL) };
    }

    /// Tells the thread what to sample; `t0` is the launch instant.
    pub fn start(&mut self, target: Target, t0: Instant) {
        if let Some(tx) = self.target.take() {
            let _ = tx.send((target, t0));
        }
    }

    /// Stops sampling and returns the samples with the collector's cost.
    pub fn finish(mut self) -> (Vec<Sample>, Cost) {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.target.take());
        self.wake();
        self.handle.join().unwrap_or_default()
    }
}

/// Reads samples of one target. The files stay open and are re-read with `pread`, and only
/// the fields used are parsed: re-opening and fully parsing `/proc/<pid>/stat` on every tick
/// cost ~130 µs per sample here, more than the whole overhead budget at 10 ms.
pub struct Sampler {
    statm: std::fs::File,
    stat: std::fs::File,
    /// utime, stime, minor and major faults, threads, from the last full sample.
    last_stat: (u64, u64, u64, u64, u64),
    smaps: Option<std::fs::File>,
    status: Option<std::fs::File>,
    cgroup_memory: Option<std::fs::File>,
    cgroup_memory_peak: Option<std::fs::File>,
    cgroup_cpu: Option<std::fs::File>,
    /// The cgroup files' paths (now, peak, CPU), opened again at full samples until they
    /// exist (a runtime or an engine makes the cgroup after the launch).
    cgroup_paths: [Option<PathBuf>; 3],
    /// The launcher's `statm`, where the sampled process is a workload it started.
    launcher: Option<std::fs::File>,
    buf: Vec<u8>,
    tick_ns: u64,
    page_bytes: u64,
}

fn pread_all(file: &std::fs::File, buf: &mut Vec<u8>) -> Option<usize> {
    use std::os::unix::fs::FileExt;
    buf.resize(buf.capacity().max(4096), 0);
    let n = file.read_at(buf, 0).ok()?;
    (n > 0).then_some(n)
}

/// Fields of `/proc/<pid>/stat`: (state, minflt, majflt, utime, stime, threads, rss pages).
pub fn parse_stat(text: &str) -> Option<(char, u64, u64, u64, u64, u64, u64)> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    // After ')': state(0) ppid pgrp session tty tpgid flags minflt(7) cminflt majflt(9)
    // cmajflt utime(11) stime(12) cutime cstime priority nice num_threads(17) itreal
    // starttime vsize rss(21)
    Some((
        f.first()?.chars().next()?,
        num(7)?,
        num(9)?,
        num(11)?,
        num(12)?,
        num(17)?,
        num(21)?,
    ))
}

impl Sampler {
    /// Opens the target's files; `None` when the process is already gone, or its workload is
    /// not in its cgroup yet.
    pub fn open(target: &Target) -> Option<Sampler> {
        let pid = target.workload_pid()?;
        let dir = target.proc_root.join(pid.to_string());
        let open = |p: &Option<PathBuf>| p.as_ref().and_then(|p| std::fs::File::open(p).ok());
        Some(Sampler {
            statm: std::fs::File::open(dir.join("statm")).ok()?,
            last_stat: (0, 0, 0, 0, 0),
            stat: std::fs::File::open(dir.join("stat")).ok()?,
            smaps: std::fs::File::open(dir.join("smaps_rollup")).ok(),
            status: std::fs::File::open(dir.join("status")).ok(),
            cgroup_cpu: open(&target.cgroup_cpu),
            cgroup_memory: open(&target.cgroup_memory),
            cgroup_memory_peak: open(&target.cgroup_memory_peak),
            cgroup_paths: [
                target.cgroup_memory.clone(),
                target.cgroup_memory_peak.clone(),
                target.cgroup_cpu.clone(),
            ],
            launcher: (pid != target.pid)
                .then(|| {
                    let statm = target.proc_root.join(target.pid.to_string()).join("statm");
                    std::fs::File::open(statm).ok()
                })
                .flatten(),
            buf: Vec::with_capacity(4096),
            tick_ns: 1_000_000_000 / procfs::ticks_per_second(),
            page_bytes: procfs::page_size(),
        })
    }

    /// One sample taken now (time since `t0`), `None` once the process is gone (or a zombie).
    /// Every sample reads the CPU counter and `statm` (two cheap reads: the collector's cost
    /// is mostly its wake-up); `full` ones, every [`PSS_PERIOD`] and at `ready`, also read
    /// `stat`, `status`, `smaps_rollup` and the cgroup's files.
    pub fn sample(
        &mut self,
        t0: Instant,
        cpu: Option<&mut CpuCounter>,
        full: bool,
    ) -> Option<Sample> {
        // The time and the CPU counter are read together, first: they make the CPU rate.
        let t_ns = t0.elapsed().as_nanos() as u64;
        let cpu_ns = cpu.and_then(CpuCounter::read);
        let n = pread_all(&self.statm, &mut self.buf)?;
        let (size, resident) = parse_statm(std::str::from_utf8(&self.buf[..n]).ok()?)?;
        if size == 0 {
            // No address space left: exiting or a zombie.
            return None;
        }
        let mut sample = Sample {
            t_ns,
            cpu_ns,
            rss_bytes: resident * self.page_bytes,
            ..Sample::default()
        };
        if full {
            self.full_sample(&mut sample)?;
        }
        self.cgroup_sample(&mut sample);
        let (utime, stime, minflt, majflt, threads) = self.last_stat;
        sample.cpu_user_ns = utime * self.tick_ns;
        sample.cpu_sys_ns = stime * self.tick_ns;
        sample.minor_faults = Some(minflt);
        sample.major_faults = Some(majflt);
        sample.threads = Some(threads);
        Some(sample)
    }

    /// The slower reads of a full sample; `None` once the process is a zombie.
    fn full_sample(&mut self, sample: &mut Sample) -> Option<()> {
        let n = pread_all(&self.stat, &mut self.buf)?;
        let (state, minflt, majflt, utime, stime, threads, _) =
            parse_stat(std::str::from_utf8(&self.buf[..n]).ok()?)?;
        if state == 'Z' || state == 'X' {
            return None;
        }
        self.last_stat = (utime, stime, minflt, majflt, threads);
        let open = |path: &Option<PathBuf>| path.as_ref().and_then(|p| std::fs::File::open(p).ok());
        let [memory, peak, cpu] = &self.cgroup_paths;
        if self.cgroup_memory.is_none() {
            self.cgroup_memory = open(memory);
        }
        if self.cgroup_memory_peak.is_none() {
            self.cgroup_memory_peak = open(peak);
        }
        if self.cgroup_cpu.is_none() {
            self.cgroup_cpu = open(cpu);
        }
        let page_bytes = self.page_bytes;
        let mut read = |file: Option<&std::fs::File>| -> Option<String> {
            let n = pread_all(file?, &mut self.buf)?;
            Some(String::from_utf8_lossy(&self.buf[..n]).into_owned())
        };
        sample.context_switches = read(self.status.as_ref()).and_then(|t| context_switches_of(&t));
        sample.pss_bytes = read(self.smaps.as_ref())
            .and_then(|t| vmbench_workload::view::meminfo_field(&t, "Pss:"));
        sample.launcher_rss_bytes = read(self.launcher.as_ref())
            .and_then(|t| parse_statm(&t))
            .map(|(_, resident)| resident * page_bytes);
        Some(())
    }

    /// The cgroup's accounting, read at every sample (three small reads): a runtime removes
    /// the cgroup when its container ends, so what is not read meanwhile is lost.
    fn cgroup_sample(&mut self, sample: &mut Sample) {
        let mut read = |file: Option<&std::fs::File>| -> Option<String> {
            let n = pread_all(file?, &mut self.buf)?;
            Some(String::from_utf8_lossy(&self.buf[..n]).into_owned())
        };
        sample.cgroup_cpu_ns = read(self.cgroup_cpu.as_ref()).and_then(|t| cgroup_cpu_of(&t));
        sample.cgroup_memory_bytes =
            read(self.cgroup_memory.as_ref()).and_then(|t| t.trim().parse().ok());
        sample.cgroup_memory_peak_bytes =
            read(self.cgroup_memory_peak.as_ref()).and_then(|t| t.trim().parse().ok());
    }
}

/// `size` and `resident` pages of `/proc/<pid>/statm` text.
pub fn parse_statm(text: &str) -> Option<(u64, u64)> {
    let mut f = text.split_whitespace();
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// The CPU time of the workload process and everything it starts, in nanoseconds.
pub enum CpuCounter {
    /// A `task-clock` perf counter inherited by new threads and children.
    Perf(perf_event::Counter),
    /// The process's CPU clock, where perf events are not allowed (tick-stale when running).
    Clock(libc::clockid_t),
}

impl CpuCounter {
    /// Attaches to the target's workload process; `None` while it is not known yet (an OCI
    /// runtime's workload appears in its cgroup once the runtime has made it) or gone, and
    /// for a fixture `/proc` tree, which has no real process behind it.
    pub fn open(target: &Target) -> Option<CpuCounter> {
        if target.proc_root != std::path::Path::new("/proc") {
            return None;
        }
        let pid = target.workload_pid()?;
        let perf = (!target.cheap_cpu).then(|| {
            perf_event::Builder::new(perf_event::events::Software::TASK_CLOCK)
                .observe_pid(pid)
                .inherit(true)
                .enabled(true)
                .build()
        });
        match perf {
            Some(Ok(counter)) => Some(CpuCounter::Perf(counter)),
            _ => {
                let mut clock: libc::clockid_t = 0;
                // SAFETY: clock_getcpuclockid writes the clock id into our variable.
                let r = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
                (r == 0).then_some(CpuCounter::Clock(clock))
            }
        }
    }

    /// Nanoseconds so far.
    pub fn read(&mut self) -> Option<u64> {
        match self {
            CpuCounter::Perf(counter) => counter.read().ok(),
            CpuCounter::Clock(clock) => {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: clock_gettime fills the struct.
                let r = unsafe { libc::clock_gettime(*clock, &mut ts) };
                (r == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
            }
        }
    }
}

/// Every process of the cgroup whose `cgroup.procs` is `procs` and of its child cgroups (an
/// engine's cgroup parent holds its container's cgroup, and sometimes a helper: Podman's
/// conmon).
pub fn pids_in(procs: &std::path::Path) -> Vec<i32> {
    let pids_of = |p: &std::path::Path| -> Vec<i32> {
        std::fs::read_to_string(p)
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    };
    let mut pids = pids_of(procs);
    if let (Some(dir), Some(name)) = (procs.parent(), procs.file_name()) {
        let mut children: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path().join(name))
            .collect();
        children.sort();
        pids.extend(children.iter().flat_map(|c| pids_of(c)));
    }
    pids
}

/// The process running the workload binary in that cgroup tree, once it has exec'd it: a
/// runtime's init process is in the cgroup before its exec, and files opened on it then
/// stop answering after it.
pub fn first_pid_in(procs: &std::path::Path) -> Option<i32> {
    pids_in(procs).into_iter().find(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.starts_with("vmbench-workl"))
    })
}

/// Voluntary plus involuntary context switches from `/proc/<pid>/status` text.
pub fn context_switches_of(status: &str) -> Option<u64> {
    let field = |key: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))?
            .trim()
            .parse()
            .ok()
    };
    Some(field("voluntary_ctxt_switches:")? + field("nonvoluntary_ctxt_switches:")?)
}

/// CPU time in ns from `cpuacct.usage` (ns) or a v2 `cpu.stat` (`usage_usec`).
pub fn cgroup_cpu_of(text: &str) -> Option<u64> {
    match text.lines().find_map(|l| l.strip_prefix("usage_usec ")) {
        Some(us) => us.trim().parse::<u64>().ok().map(|us| us * 1000),
        None => text.trim().parse().ok(),
    }
}

/// Summarises samples (pure).
pub fn summarise(samples: &[Sample]) -> Option<TrialSummary> {
    let last = samples.last()?;
    let first = samples.first()?;
    let rss: Vec<u64> = samples.iter().map(|s| s.rss_bytes).collect();
    let cpu_ns = last.cpu_total_ns();
    let span = last.t_ns.saturating_sub(first.t_ns);
    let cpu_span = cpu_ns.saturating_sub(first.cpu_total_ns());
    Some(TrialSummary {
        samples: samples.len(),
        peak_rss_bytes: rss.iter().copied().max().unwrap_or(0),
        mean_rss_bytes: rss.iter().sum::<u64>() / rss.len() as u64,
        peak_pss_bytes: samples.iter().filter_map(|s| s.pss_bytes).max(),
        peak_cgroup_memory_bytes: samples
            .iter()
            .flat_map(|s| [s.cgroup_memory_bytes, s.cgroup_memory_peak_bytes])
            .flatten()
            .max(),
        peak_launcher_rss_bytes: samples.iter().filter_map(|s| s.launcher_rss_bytes).max(),
        cpu_ns,
        cpu_utilisation: if span == 0 {
            0.0
        } else {
            cpu_span as f64 / span as f64
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_take_peaks_means_and_utilisation() {
        let s = |t_ms: u64, cpu_ms: u64, rss: u64, pss: Option<u64>| Sample {
            t_ns: t_ms * 1_000_000,
            cpu_user_ns: cpu_ms * 1_000_000,
            rss_bytes: rss,
            pss_bytes: pss,
            ..Sample::default()
        };
        let sum = summarise(&[
            s(10, 0, 100, Some(90)),
            s(20, 5, 300, None),
            s(30, 10, 200, None),
        ])
        .unwrap();
        assert_eq!(sum.samples, 3);
        assert_eq!(sum.peak_rss_bytes, 300);
        assert_eq!(sum.mean_rss_bytes, 200);
        assert_eq!(sum.peak_pss_bytes, Some(90));
        assert!((sum.cpu_utilisation - 0.5).abs() < 1e-9);
        assert_eq!(summarise(&[]), None);
    }

    #[test]
    fn context_switches_and_cgroup_cpu_are_parsed() {
        let status = "Name:\tw\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(context_switches_of(status), Some(15));
        assert_eq!(cgroup_cpu_of("123456\n"), Some(123_456));
        assert_eq!(
            cgroup_cpu_of("usage_usec 250\nuser_usec 200\n"),
            Some(250_000)
        );
        assert_eq!(cgroup_cpu_of("garbage"), None);
    }

    #[test]
    fn stat_fields_are_found_after_the_command_name() {
        let text = "42 (a (weird) name) S 1 42 42 0 -1 4194560 7 0 3 0 11 12 0 0 20 0 5 0 100 1000 256 rest";
        assert_eq!(parse_stat(text), Some(('S', 7, 3, 11, 12, 5, 256)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn samples_come_from_the_given_proc_tree() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("4242");
        std::fs::create_dir_all(&dir).unwrap();
        // pid (comm) state ppid ... utime(14) stime(15) ... num_threads(20) ... rss(24)
        let mut fields: Vec<String> = (0..50).map(|_| "0".to_string()).collect();
        fields[0] = "4242".into();
        fields[1] = "(w)".into();
        fields[2] = "R".into();
        fields[9] = "7".into(); // minflt
        fields[13] = "3".into(); // utime ticks
        fields[14] = "2".into(); // stime ticks
        fields[19] = "1".into(); // num_threads
        fields[23] = "256".into(); // rss pages
        std::fs::write(dir.join("stat"), fields.join(" ")).unwrap();
        std::fs::write(dir.join("statm"), "1000 256 100 10 0 200 0\n").unwrap();
        std::fs::write(dir.join("smaps_rollup"), "Rss: 1024 kB\nPss:  512 kB\n").unwrap();
        let target = Target {
            pid: 4242,
            proc_root: root.path().to_path_buf(),
            cgroup_memory: None,
            cgroup_memory_peak: None,
            cgroup_cpu: None,
            workload_in: None,
            cheap_cpu: false,
        };
        let t0 = Instant::now();
        assert!(
            CpuCounter::open(&target).is_none(),
            "no counter for a fixture"
        );
        let s = Sampler::open(&target)
            .unwrap()
            .sample(t0, None, true)
            .unwrap();
        assert_eq!(s.cpu_ns, None);
        let tick = 1_000_000_000 / procfs::ticks_per_second();
        assert_eq!((s.cpu_user_ns, s.cpu_sys_ns), (3 * tick, 2 * tick));
        assert_eq!(s.rss_bytes, 256 * procfs::page_size());
        assert_eq!(s.pss_bytes, Some(512 * 1024));
        assert_eq!(s.minor_faults, Some(7));
        let gone = Target { pid: 1, ..target };
        assert!(Sampler::open(&gone)
            .and_then(|mut s| s.sample(t0, None, false))
            .is_none());
    }
}
