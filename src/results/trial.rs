//! One instance run, as recorded: its timings, figures, samples, accounting and how it ended;
//! and the size each workload ran at.

use crate::ids::{EnvKind, Phase};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vmbench_workload::{GuestView, Metric, Rusage, Workload};

use super::{thin, NetRecord};

/// One instance run: one workload in one environment, one repetition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// Environment, e.g. `native`, `container-crun`, `vm-tcg`.
    pub env: EnvKind,
    /// Workload.
    pub workload: Workload,
    /// Repetition index (warm-ups are numbered before the measured ones).
    pub rep: u32,
    /// A discarded warm-up trial.
    pub warmup: bool,
    /// A trial run only to choose the workload's size (with no warm-up round to do it): kept
    /// apart with the warm-ups, never measured.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probe: bool,
    /// The amount of work, where the run chose it per workload (else the config's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<vmbench_workload::Size>,
    /// Host-measured time from just before the instance starts to the `ready` line.
    pub startup_ns: Option<u64>,
    /// Time from launch until the instance was gone (reaped).
    #[serde(default)]
    pub lifetime_ns: Option<u64>,
    /// Time from the `done` line until the instance was gone.
    #[serde(default)]
    pub teardown_ns: Option<u64>,
    /// Startup phases seen, nanoseconds since launch (clone, exec, first console byte...);
    /// `teardown_*` entries are durations of the teardown steps instead.
    #[serde(default)]
    pub phases: BTreeMap<Phase, u64>,
    /// Measured values, headline first.
    pub metrics: Vec<Metric>,
    /// What the workload saw.
    pub guest_view: Option<GuestView>,
    /// Workload's own resource usage at its end.
    #[serde(default)]
    pub rusage: Option<Rusage>,
    /// How the workload did its work (buffer sizes, direct or buffered reads...).
    #[serde(default)]
    pub detail: Option<String>,
    /// The storage path file-io went through (host ext4, bind mount, virtio-blk + ext4...).
    #[serde(default)]
    pub io_path: Option<String>,
    /// Host-side samples.
    #[serde(default, deserialize_with = "thin::samples")]
    pub samples: Vec<Sample>,
    /// Figures computed from the samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<TrialSummary>,
    /// cgroup accounting at the end (containers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupUsage>,
    /// How the instance entered its cgroup (containers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_attach: Option<AttachPath>,
    /// How quiet the host was meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<Noise>,
    /// Resource usage of the instance process as the host's `wait4` reports it: the workload
    /// (native), the container's PID 1 with its children, the runtime (OCI), QEMU (VM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_rusage: Option<Rusage>,
    /// Bytes of the image's files evicted from the page cache before a cold start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evicted_bytes: Option<u64>,
    /// The effective uid of the instance's process on the host (from its `/proc/<pid>/status`
    /// once ready): beside the uid the workload sees, what "root in a container" really is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_uid: Option<u32>,
    /// The network paths the host's peer used (net-rr, net-stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<NetRecord>,
    /// For a start measured apart from the rounds: how it was spaced from the one before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spacing: Option<StartSpacing>,
    /// For a container run on purpose past one of its limits: which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceeded: Option<Exceeded>,
    /// How the instance ended.
    pub exit: ExitInfo,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

impl Trial {
    /// Whether the trial's memory figures are its instance's. Not where a launcher stands
    /// beside the workload and the trial has no launcher figure: vmbench used to sample the
    /// launcher in the workload's place, and to read the cgroup after it was gone.
    pub fn memory_sampled(&self) -> bool {
        self.env.memory_accounting() != crate::ids::MemoryAccounting::WorkloadBesideLauncher
            || self
                .summary
                .as_ref()
                .is_some_and(|s| s.peak_launcher_rss_bytes.is_some())
    }

    /// For a trial run past a limit: whether the limit held (the OOM killer ended it inside
    /// its cgroup, or `fork` failed before the children outnumbered the task limit).
    pub fn contained(&self) -> bool {
        let error = self.error.as_deref().unwrap_or("");
        match self.exceeded {
            Some(Exceeded::Memory) => {
                self.exit.oom || self.cgroup.as_ref().is_some_and(|c| c.oom_kills > 0)
            }
            Some(Exceeded::Pids) => error.contains(vmbench_workload::invocation::FORK_STOPPED),
            None => false,
        }
    }

    /// An empty record of one repetition, filled in as the instance is observed.
    pub fn new(env: EnvKind, workload: Workload, rep: u32, warmup: bool) -> Trial {
        Trial {
            env,
            workload,
            rep,
            warmup,
            probe: false,
            size: None,
            startup_ns: None,
            lifetime_ns: None,
            teardown_ns: None,
            phases: BTreeMap::new(),
            metrics: Vec::new(),
            guest_view: None,
            rusage: None,
            detail: None,
            io_path: None,
            samples: Vec::new(),
            summary: None,
            cgroup: None,
            cgroup_attach: None,
            noise: None,
            host_rusage: None,
            evicted_bytes: None,
            host_uid: None,
            net: None,
            spacing: None,
            exceeded: None,
            exit: ExitInfo::default(),
            error: None,
        }
    }

    /// The headline metric, when the trial produced one.
    pub fn headline(&self) -> Option<&Metric> {
        self.metrics.first()
    }
}

/// How an instance ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExitInfo {
    /// Exit status, when it exited.
    pub code: Option<i32>,
    /// Terminating signal, when killed.
    pub signal: Option<i32>,
    /// Killed by the OOM killer.
    pub oom: bool,
    /// Killed by the harness for exceeding the timeout.
    pub timed_out: bool,
}

/// One host-side sample of an instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Time since launch.
    pub t_ns: u64,
    /// CPU time of the instance's workload process so far (its CPU clock: nanoseconds, every
    /// thread); QEMU's for a VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ns: Option<u64>,
    /// User CPU time so far.
    pub cpu_user_ns: u64,
    /// System CPU time so far.
    pub cpu_sys_ns: u64,
    /// Resident set size.
    pub rss_bytes: u64,
    /// Proportional set size, where readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_bytes: Option<u64>,
    /// cgroup memory usage, for containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_memory_bytes: Option<u64>,
    /// The cgroup's highest memory charge so far, for containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_memory_peak_bytes: Option<u64>,
    /// RSS of the process vmbench started when it is not the workload (an OCI runtime, an
    /// engine's client), read with PSS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launcher_rss_bytes: Option<u64>,
    /// Minor page faults so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor_faults: Option<u64>,
    /// Major page faults so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major_faults: Option<u64>,
    /// Threads of the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
    /// Voluntary plus involuntary context switches so far (read with PSS, every 500 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_switches: Option<u64>,
    /// CPU time charged to the container's cgroup so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_cpu_ns: Option<u64>,
}

impl Sample {
    /// CPU time so far: the CPU clock's reading, or (records without one) the tick counters.
    pub fn cpu_total_ns(&self) -> u64 {
        self.cpu_ns.unwrap_or(self.cpu_user_ns + self.cpu_sys_ns)
    }
}

/// Per-trial figures computed from the samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialSummary {
    /// Samples taken.
    pub samples: usize,
    /// Highest RSS seen.
    pub peak_rss_bytes: u64,
    /// Mean RSS over the samples.
    pub mean_rss_bytes: u64,
    /// Highest PSS seen, where read.
    pub peak_pss_bytes: Option<u64>,
    /// Highest cgroup memory charge, for containers.
    pub peak_cgroup_memory_bytes: Option<u64>,
    /// Highest RSS of the launcher (a runtime or an engine's client), where it is not the
    /// workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_launcher_rss_bytes: Option<u64>,
    /// CPU time at the last sample (user + system).
    pub cpu_ns: u64,
    /// CPU time over the sampled wall time: 1.0 is one core busy.
    pub cpu_utilisation: f64,
}

/// Accounting read from an instance's cgroup at its end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupUsage {
    /// CPU time used by every task, nanoseconds.
    pub cpu_ns: Option<u64>,
    /// Memory charged now.
    pub memory_bytes: Option<u64>,
    /// Highest memory charged.
    pub memory_peak_bytes: Option<u64>,
    /// Tasks killed by the OOM killer in this cgroup.
    pub oom_kills: u64,
    /// Periods in which the CPU quota throttled the instance.
    pub nr_throttled: Option<u64>,
    /// Time throttled, nanoseconds.
    pub throttled_ns: Option<u64>,
}

/// How quiet the host was while one instance ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    /// The CPUs watched: the workload's (or every CPU, unpinned).
    pub cpus: Vec<usize>,
    /// The trial's wall time, launch to reap.
    pub wall_ns: u64,
    /// CPU time used on those CPUs by everything (`/proc/stat`, clock-tick resolution).
    pub busy_ns: u64,
    /// CPU time the instance used itself (its processes, as `wait4` reports them).
    pub own_cpu_ns: u64,
    /// Busy time the instance did not use: other programs, the kernel's own work.
    pub foreign_cpu_ns: u64,
    /// Time the hypervisor ran something else on those CPUs.
    pub steal_ns: u64,
    /// Runnable tasks on the host at the end of the trial, the harness left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runnable: Option<u64>,
    /// Other vmbench runs alive on the host during the trial.
    #[serde(default)]
    pub concurrent_runs: u32,
    /// Flagged: above the thresholds (kept, never dropped).
    pub noisy: bool,
    /// Why it was flagged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// How a start measured apart from the rounds was spaced from the start before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartSpacing {
    /// After a quiet spell with no instance started ([`QUIET_SPELL`]).
    Isolated,
    /// Right after the previous instance of the same environment ended.
    BackToBack,
}

/// Which limit a container was run past on purpose, to show that its cgroup holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exceeded {
    /// It touched twice its memory limit (`memory.max`): the OOM killer should end it.
    Memory,
    /// It forked past its task limit (`pids.max`): `fork` should fail.
    Pids,
}

/// The quiet spell before an isolated start: longer than an RCU grace period, so the kernel's
/// cgroup migration lock has gone back to its slow path.
pub const QUIET_SPELL: std::time::Duration = std::time::Duration::from_millis(500);

/// How a container's first process entered its cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttachPath {
    /// Created inside it: `clone3(CLONE_INTO_CGROUP)` (cgroup v2), no migration at all.
    Clone3IntoCgroup,
    /// The single-threaded child moved itself by writing `0` to each v1 hierarchy's `tasks`.
    SelfTasks,
    /// The parent wrote the child's pid to `cgroup.procs` (waits for an RCU grace period).
    ParentProcs,
    /// The OCI runtime placed it (its own method).
    Runtime,
    /// It has no cgroup: the rootless container where the cgroup tree is not delegated to the
    /// user runs without limits.
    NoLimits,
}

/// The size chosen for one workload, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeChoice {
    /// The size every environment ran.
    pub size: vmbench_workload::Size,
    /// The size asked for.
    pub requested: vmbench_workload::Size,
    /// The per-trial limit the prediction was held to, seconds.
    pub limit_s: f64,
    /// Each environment's predicted trial length at the requested size, seconds (none where
    /// its probe failed).
    pub predicted_s: BTreeMap<EnvKind, Option<f64>>,
    /// The environment that decided: the slowest one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowest: Option<EnvKind>,
    /// The size the per-trial limit allowed, when the adaptive plan lowered it further so
    /// that its minimum rounds fit the time budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted_from: Option<vmbench_workload::Size>,
}

impl SizeChoice {
    /// Whether the size asked for was lowered.
    pub fn lowered(&self) -> bool {
        self.size != self.requested
    }

    /// One line saying what was chosen and why.
    pub fn explain(&self) -> String {
        match self.fitted_from {
            Some(from) => format!(
                "{} instead of {from}: the minimum rounds at {from} would not fit the time budget (the per-trial limit allowed {from}: {})",
                self.size,
                self.explain_limit(from)
            ),
            None => self.explain_limit(self.size),
        }
    }

    /// What the per-trial limit chose: `size`.
    fn explain_limit(&self, size: vmbench_workload::Size) -> String {
        let slowest = self.slowest.map_or_else(
            || "an environment whose probe failed".to_string(),
            |e| {
                let s = self
                    .predicted_s
                    .get(&e)
                    .copied()
                    .flatten()
                    .unwrap_or(f64::NAN);
                format!("{e} (predicted {s:.1} s at {})", self.requested)
            },
        );
        if size != self.requested {
            format!(
                "{size} instead of {}: the slowest environment, {slowest}, would pass the {:.0} s per-trial limit",
                self.requested, self.limit_s
            )
        } else {
            format!(
                "{size} as asked: the slowest environment, {slowest}, stays within the {:.0} s per-trial limit",
                self.limit_s
            )
        }
    }
}
