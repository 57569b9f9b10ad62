//! The results file: a versioned JSON schema, an atomic incremental writer and a loader.
//!
//! JSON is the source of truth; every report is rendered from it. The file is rewritten after
//! every trial through a temporary file and `rename`, so an interrupted run keeps every trial
//! that finished and never leaves a half-written file.

use crate::config::RunConfig;
use crate::ids::EnvKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vmbench_workload::{GuestView, Metric, Rusage, Workload};

/// Version of the results schema this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Errors reading or writing results files.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The file could not be read.
    #[error("cannot read results file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid results JSON.
    #[error("malformed results file {path}: {source}; re-run `vmbench run` to produce it again")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The file was written by an incompatible schema.
    #[error("results file {path} has schema_version {found}, this vmbench reads version {SCHEMA_VERSION}: re-run it with this vmbench")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
    /// The file is JSON but not from vmbench.
    #[error("{0} is not a vmbench results file (it has no schema_version): give a file written by vmbench run or compare")]
    Foreign(PathBuf),
    /// The file could not be written.
    #[error("cannot save the results")]
    Write(#[from] crate::atomic::WriteError),
}

/// The whole results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Schema version, [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Version of vmbench that wrote the file.
    pub vmbench_version: String,
    /// When the run started (RFC 3339).
    pub created_at: String,
    /// When the file was last written (RFC 3339).
    #[serde(default)]
    pub updated_at: String,
    /// Whether the run finished (false while running or after an interruption).
    #[serde(default)]
    pub complete: bool,
    /// The machine the run measured.
    pub host: HostInfo,
    /// How the run was configured.
    pub config: RunConfig,
    /// The workload binary every environment ran.
    pub workload_binary: BinaryInfo,
    /// Every environment asked for, with whether it could run and why not.
    #[serde(default)]
    pub environments: Vec<EnvStatus>,
    /// One record per measured instance run.
    pub trials: Vec<Trial>,
    /// Warm-up runs, kept for the record and left out of every statistic.
    #[serde(default)]
    pub warmup_trials: Vec<Trial>,
    /// What the collector cost, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector: Option<CollectorInfo>,
    /// The container image, when container environments ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRecord>,
    /// The guest snapshot the `vm-*-snapshot` trials restored, where one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotRecord>,
    /// Pairs the run left out because the environment cannot run the workload, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<(EnvKind, Workload, String)>,
    /// A note about the file itself (a committed sample says its samples were thinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The size each workload ran at, where it was chosen by a probe round.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sizes: BTreeMap<Workload, SizeChoice>,
    /// A density sweep's steps, when the run was one (`vmbench density`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<DensityRecord>,
    /// Where in a fleet the run ran, when a Kubernetes pod ran it (`vmbench fleet node`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetRecord>,
}

/// A density sweep: N instances of each environment alive at once, step by step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DensityRecord {
    /// Whether this host has KSM (`/sys/kernel/mm/ksm`).
    pub ksm_available: bool,
    /// One record per (environment, count, KSM setting) that ran.
    pub steps: Vec<DensityStep>,
    /// Environments whose sweep stopped before its last count, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<(EnvKind, String)>,
}

/// One density step: `count` instances started as fast as the host allows, measured once all
/// were ready, then released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DensityStep {
    /// Environment.
    pub env: EnvKind,
    /// Instances alive at once.
    pub count: u32,
    /// KSM merging during the step (VMs on a host with KSM), else None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ksm: Option<bool>,
    /// From the first launch until the last instance was ready, milliseconds.
    pub all_ready_ms: f64,
    /// Each instance's own startup (its launch to its ready), milliseconds.
    pub startup_ms: Vec<f64>,
    /// `MemAvailable` before the first launch and with all instances ready, bytes.
    pub mem_available: (u64, u64),
    /// `Committed_AS` before and with all ready, bytes.
    pub committed: (u64, u64),
    /// Sum of the instances' PSS (every process of each instance), bytes.
    pub pss_bytes: u64,
    /// Sum of the instances' RSS, bytes.
    pub rss_bytes: u64,
    /// Sum of the instances' cgroup charges, for containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_bytes: Option<u64>,
    /// `MemTotal` each guest reports, for VMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_mem_total_bytes: Option<u64>,
    /// Mean PSS per instance of the workload binary's file-backed pages (shared page cache),
    /// where the host can see them (not inside a guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_pss_bytes: Option<f64>,
    /// Bytes of the workload binary each guest holds in its own RAM (its initramfs), for VMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_in_guest_bytes: Option<u64>,
    /// Mean PSS per instance of the instance process's own executable's file-backed pages
    /// (QEMU's, for VMs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe_pss_bytes: Option<f64>,
    /// Memory KSM merged away during the step (`pages_sharing`), bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ksm_saved_bytes: Option<u64>,
    /// Sum over the instances of the highest RSS the sampler saw during the step, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// CPU the step's sampler used while it sampled every instance, as a fraction of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector_fraction: Option<f64>,
}

impl DensityStep {
    /// Host memory the step took: `MemAvailable` before less with all ready.
    pub fn host_used_bytes(&self) -> i64 {
        self.mem_available.0 as i64 - self.mem_available.1 as i64
    }
}

/// The pod and node a fleet run ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetRecord {
    /// Kubernetes node name.
    pub node: String,
    /// Pod name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The Indexed Job's completion index of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The image the pod ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Whether the harness joined the host's cgroup namespace to use the host's cgroup tree.
    #[serde(default)]
    pub host_cgroupns: bool,
}

/// A container engine as it reported itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EngineInfo {
    /// The command-line client run, with its version.
    pub client: String,
    /// The engine's version (Docker's daemon, or Podman itself).
    pub version: String,
    /// Storage driver (`overlay2`, `overlay`, `vfs`...).
    pub storage_driver: String,
    /// cgroup driver or manager (`cgroupfs`, `systemd`).
    pub cgroup_driver: String,
    /// The OCI runtime it starts containers with.
    pub runtime: String,
    /// Security options applied by default (seccomp, AppArmor...).
    #[serde(default)]
    pub security: Vec<String>,
}

/// The container image a run used: what it holds and what it cost to make and to ship.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// Which image.
    pub kind: crate::ids::ImageKind,
    /// What it is made of (e.g. "Debian bookworm minbase, mmdebstrap 1.3.5").
    pub base: String,
    /// Bytes on disk of its root directory.
    pub bytes: u64,
    /// Files, links and special files in it (directories not counted).
    pub files: u64,
    /// How long building it took, when it was built (perhaps by an earlier run).
    pub build_ms: f64,
    /// When it was built (RFC 3339).
    pub built_at: String,
    /// The same image imported into each engine that ran, by engine name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub engines: BTreeMap<String, EngineImage>,
}

/// An image as an engine holds it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EngineImage {
    /// Its tag (`vmbench/<image>:<binary hash prefix>`).
    pub tag: String,
    /// The engine's image id.
    pub id: String,
    /// Its size as the engine reports it.
    pub size_bytes: u64,
    /// How long importing it took (the stand-in for a pull: a tar stream unpacked into the
    /// engine's storage), when it was imported (perhaps by an earlier run).
    pub import_ms: f64,
}

/// What the collector cost, for the whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CollectorInfo {
    /// Sample interval.
    pub interval_ms: f64,
    /// Total CPU time of the sampling threads.
    pub cpu_ns: u64,
    /// Total wall time they ran.
    pub wall_ns: u64,
    /// Samples taken.
    pub samples: usize,
    /// CPU time over wall time: the fraction of one core the collector used.
    pub fraction_of_core: f64,
}

/// Identity of the workload binary as the host hashed it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BinaryInfo {
    /// Where it was run from.
    pub path: PathBuf,
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Whether an environment could run here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnvStatus {
    /// Environment as recorded in trials.
    pub env: EnvKind,
    /// Whether it ran.
    pub available: bool,
    /// Why it could not run, or what it is (e.g. the accelerator verdict).
    pub reason: String,
    /// How to make it run, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// What one instance needs on disk: the container image, or kernel + initramfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footprint_bytes: Option<u64>,
    /// What the footprint consists of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footprint: Option<String>,
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

/// The machine and its software, as recorded in results.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// Kernel release.
    pub kernel: String,
    /// Distribution (`PRETTY_NAME` of os-release).
    pub os: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Logical CPUs online.
    pub cores: usize,
    /// Physical memory.
    pub memory_bytes: u64,
    /// Whether the CPU advertises hardware virtualisation (vmx/svm).
    pub cpu_virt_flag: bool,
    /// Whether the host itself runs under a hypervisor.
    pub nested: bool,
    /// cgroup layout, one line.
    pub cgroup: String,
    /// Accelerator a VM environment would use, and why.
    #[serde(default)]
    pub accelerator: Option<String>,
    /// Why that accelerator was chosen.
    #[serde(default)]
    pub accelerator_reason: Option<String>,
    /// QEMU version line, when QEMU was found.
    #[serde(default)]
    pub qemu_version: Option<String>,
    /// OCI runtimes found, name → version line.
    #[serde(default)]
    pub runtimes: BTreeMap<String, String>,
    /// Container engines found (`docker`, `podman`): versions, drivers, the runtime they use.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub engines: BTreeMap<String, EngineInfo>,
    /// Running as root.
    pub root: bool,
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
}

impl SizeChoice {
    /// Whether the size asked for was lowered.
    pub fn lowered(&self) -> bool {
        self.size != self.requested
    }

    /// One line saying what was chosen and why.
    pub fn explain(&self) -> String {
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
        if self.lowered() {
            format!(
                "{} instead of {}: the slowest environment, {slowest}, would pass the {:.0} s per-trial limit",
                self.size, self.requested, self.limit_s
            )
        } else {
            format!(
                "{} as asked: the slowest environment, {slowest}, stays within the {:.0} s per-trial limit",
                self.size, self.limit_s
            )
        }
    }
}

/// What is recorded beside a saved guest, and in the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// Hash of the QEMU command line and version the state belongs to.
    pub key: String,
    /// SHA-256 of the state file, checked before use.
    pub sha256: String,
    /// Bytes of the state file.
    pub bytes: u64,
    /// Boot plus save, when it was made, milliseconds.
    pub created_ms: f64,
    /// The QEMU that saved it (a state restores only into the same version).
    pub qemu_version: String,
    /// How a trial restores it.
    pub restore: String,
    /// Where the state file is (in the cache).
    #[serde(default)]
    pub path: std::path::PathBuf,
}

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
    pub phases: BTreeMap<String, u64>,
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
    /// The network paths the host's peer used (net-rr, net-stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<NetRecord>,
    /// How the instance ended.
    pub exit: ExitInfo,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// How the host's peer reached an instance across its network boundary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetRecord {
    /// Each path, the headline's first.
    pub paths: Vec<NetPathRecord>,
    /// The CPUs the peer could run on (off the workload's when it is pinned).
    pub peer_cpus: Vec<usize>,
}

/// One path the peer measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetPathRecord {
    /// The path.
    pub path: crate::net::NetPath,
    /// The address the peer connected to.
    pub connect: String,
    /// Where the instance listened, as it sees it.
    pub instance: String,
    /// The host-side interface vmbench made, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_link: Option<String>,
    /// The suffix of this path's metric names (empty for the headline path).
    pub metric_suffix: String,
}

impl NetRecord {
    /// The record of a wiring's paths.
    pub fn of(paths: &[crate::net::PathEnd]) -> NetRecord {
        NetRecord {
            paths: paths
                .iter()
                .map(|p| NetPathRecord {
                    path: p.path,
                    connect: p.connect.to_string(),
                    instance: p.instance.clone(),
                    host_link: p.host_link.clone(),
                    metric_suffix: p.path.metric_suffix().to_string(),
                })
                .collect(),
            peer_cpus: crate::net::peer::cpus(),
        }
    }
}

impl Sample {
    /// CPU time so far: the CPU clock's reading, or (records without one) the tick counters.
    pub fn cpu_total_ns(&self) -> u64 {
        self.cpu_ns.unwrap_or(self.cpu_user_ns + self.cpu_sys_ns)
    }
}

impl Trial {
    /// An empty record of one repetition, filled in as the instance is observed.
    pub fn new(env: EnvKind, workload: Workload, rep: u32, warmup: bool) -> Trial {
        Trial {
            env,
            workload,
            rep,
            warmup,
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
            net: None,
            exit: ExitInfo::default(),
            error: None,
        }
    }

    /// The headline metric, when the trial produced one.
    pub fn headline(&self) -> Option<&Metric> {
        self.metrics.first()
    }
}

impl Results {
    /// Reads a results file for a report, streaming it: each trial keeps at most
    /// [`thin::KEPT`]–2×[`thin::KEPT`] of its samples, evenly spaced, so a large file renders in
    /// memory a fraction of its size (the per-trial summaries were computed from every sample).
    pub fn load_for_report(path: &Path) -> Result<Results, ResultsError> {
        let open = || {
            std::fs::File::open(path)
                .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
                .map_err(|source| ResultsError::Read {
                    path: path.to_path_buf(),
                    source,
                })
        };
        thin::with_limit(thin::KEPT, || Results::load_streaming(path, open))
    }

    /// Reads and validates results without holding their text in memory: `open` gives a
    /// fresh reader over them for each of the two passes (the version, then the records).
    pub fn load_streaming<R: std::io::Read>(
        path: &Path,
        open: impl Fn() -> Result<R, ResultsError>,
    ) -> Result<Results, ResultsError> {
        #[derive(Deserialize)]
        struct Head {
            schema_version: Option<serde_json::Value>,
        }
        let malformed = |source| ResultsError::Malformed {
            path: path.to_path_buf(),
            source,
        };
        let head: Head = serde_json::from_reader(open()?).map_err(malformed)?;
        let Some(found) = head.schema_version else {
            return Err(ResultsError::Foreign(path.to_path_buf()));
        };
        let found = found.as_u64().unwrap_or(0);
        if found != SCHEMA_VERSION as u64 {
            return Err(ResultsError::Version {
                path: path.to_path_buf(),
                found,
            });
        }
        serde_json::from_reader(open()?).map_err(malformed)
    }

    /// Everything but the trials: what a report shows of the run itself.
    pub fn header(&self) -> Results {
        Results {
            schema_version: self.schema_version,
            vmbench_version: self.vmbench_version.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            complete: self.complete,
            host: self.host.clone(),
            config: self.config.clone(),
            workload_binary: self.workload_binary.clone(),
            environments: self.environments.clone(),
            trials: Vec::new(),
            warmup_trials: Vec::new(),
            collector: self.collector.clone(),
            image: self.image.clone(),
            sizes: self.sizes.clone(),
            note: self.note.clone(),
            skipped: self.skipped.clone(),
            snapshot: self.snapshot.clone(),
            fleet: self.fleet.clone(),
            density: self.density.clone(),
        }
    }

    /// Reads and validates a results file.
    pub fn load(path: &Path) -> Result<Results, ResultsError> {
        let bytes = std::fs::read(path).map_err(|source| ResultsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Results::from_bytes(path, &bytes)
    }

    /// Validates and reads results from bytes; `path` names them in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Results, ResultsError> {
        let raw: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|source| ResultsError::Malformed {
                path: path.to_path_buf(),
                source,
            })?;
        let Some(found) = raw.get("schema_version") else {
            return Err(ResultsError::Foreign(path.to_path_buf()));
        };
        let found = found.as_u64().unwrap_or(0);
        if found != SCHEMA_VERSION as u64 {
            return Err(ResultsError::Version {
                path: path.to_path_buf(),
                found,
            });
        }
        serde_json::from_value(raw).map_err(|source| ResultsError::Malformed {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the file atomically (see [`crate::atomic`]).
    pub fn save(&self, path: &Path) -> Result<(), ResultsError> {
        crate::atomic::write(path, |out| {
            serde_json::to_writer_pretty(&mut *out, self)?;
            out.write_all(b"\n")
        })?;
        Ok(())
    }

    /// The amount of work `workload` ran at: chosen per workload, else the one asked for.
    pub fn size_of(&self, workload: Workload) -> vmbench_workload::Size {
        self.sizes
            .get(&workload)
            .map_or(self.config.size, |c| c.size)
    }

    /// The measured trials.
    pub fn measured(&self) -> impl Iterator<Item = &Trial> {
        self.trials.iter().filter(|t| !t.warmup)
    }

    /// Records a trial in the list it belongs to.
    pub fn record(&mut self, trial: Trial) {
        if trial.warmup {
            self.warmup_trials.push(trial);
        } else {
            self.trials.push(trial);
        }
    }
}

/// Thinning samples while they are read, for reports of large files.
pub mod thin {
    use super::Sample;
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use std::cell::Cell;

    /// Samples a report keeps per trial (up to twice as many).
    pub const KEPT: usize = 256;

    thread_local! {
        static LIMIT: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// Runs `f` with samples thinned to about `limit` per trial on this thread.
    pub fn with_limit<T>(limit: usize, f: impl FnOnce() -> T) -> T {
        LIMIT.with(|l| l.set(Some(limit.max(1))));
        let out = f();
        LIMIT.with(|l| l.set(None));
        out
    }

    /// Deserializes a sample list, keeping every sample, or under [`with_limit`] between the
    /// limit and twice it, evenly spaced: whenever twice the limit is kept, every other one
    /// goes and the stride doubles.
    pub fn samples<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Sample>, D::Error> {
        struct Thin(Option<usize>);
        impl<'de> Visitor<'de> for Thin {
            type Value = Vec<Sample>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of samples")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Sample>, A::Error> {
                let mut kept = Vec::new();
                let (mut stride, mut index) = (1usize, 0usize);
                loop {
                    if index % stride != 0 {
                        if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                            break;
                        }
                    } else {
                        let Some(s) = seq.next_element::<Sample>()? else {
                            break;
                        };
                        kept.push(s);
                        if self.0.is_some_and(|limit| kept.len() >= 2 * limit) {
                            let mut i = 0;
                            kept.retain(|_| {
                                i += 1;
                                i % 2 == 1
                            });
                            stride *= 2;
                        }
                    }
                    index += 1;
                }
                Ok(kept)
            }
        }
        d.deserialize_seq(Thin(LIMIT.with(Cell::get)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vmbench_workload::Better;

    pub(crate) fn sample_results() -> Results {
        Results {
            schema_version: SCHEMA_VERSION,
            vmbench_version: "0.1.0".into(),
            created_at: "2026-11-27T00:00:00Z".into(),
            updated_at: String::new(),
            complete: true,
            host: HostInfo::default(),
            config: crate::config::tests::config(),
            workload_binary: BinaryInfo {
                path: "/bin/w".into(),
                sha256: "ab".repeat(32),
                bytes: 10,
            },
            environments: vec![],
            collector: None,
            image: None,
            note: None,
            skipped: Vec::new(),
            snapshot: None,
            fleet: None,
            density: None,
            sizes: BTreeMap::new(),
            trials: vec![Trial {
                env: EnvKind::Native,
                workload: Workload::Syscall,
                rep: 0,
                warmup: false,
                size: None,
                startup_ns: Some(1_000_000),
                lifetime_ns: Some(2_000_000),
                teardown_ns: None,
                phases: BTreeMap::from([("exec".to_string(), 5u64)]),
                metrics: vec![Metric {
                    name: "syscall_time".into(),
                    value: 80.0,
                    unit: "ns/call".into(),
                    better: Better::Lower,
                }],
                guest_view: Some(GuestView::default()),
                rusage: None,
                detail: None,
                io_path: None,
                samples: vec![Sample::default()],
                summary: None,
                cgroup: None,
                cgroup_attach: None,
                noise: None,
                host_rusage: None,
                evicted_bytes: None,
                net: None,
                exit: ExitInfo {
                    code: Some(0),
                    ..ExitInfo::default()
                },
                error: None,
            }],
            warmup_trials: vec![],
        }
    }

    #[test]
    fn results_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let results = sample_results();
        results.save(&path).unwrap();
        let back = Results::load(&path).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&results).unwrap()
        );
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn malformed_and_foreign_files_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{ not json").unwrap();
        let err = Results::load(&bad).unwrap_err().to_string();
        assert!(
            err.contains("malformed results file") && err.contains("bad.json"),
            "{err}"
        );
        let old = dir.path().join("old.json");
        std::fs::write(&old, r#"{"schema_version": 99}"#).unwrap();
        let err = Results::load(&old).unwrap_err().to_string();
        assert!(err.contains("schema_version 99"), "{err}");
        let foreign = dir.path().join("foreign.json");
        std::fs::write(&foreign, r#"{"name": "something else"}"#).unwrap();
        let err = Results::load(&foreign).unwrap_err().to_string();
        assert!(err.contains("not a vmbench results file"), "{err}");
        let missing = Results::load(&dir.path().join("none.json")).unwrap_err();
        assert!(matches!(missing, ResultsError::Read { .. }));
    }

    #[test]
    fn reports_read_samples_thinned_and_evenly_spaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        let mut results = sample_results();
        results.trials[0].samples = (0..10_000)
            .map(|i| Sample {
                t_ns: i,
                ..Sample::default()
            })
            .collect();
        results.save(&path).unwrap();
        let full = Results::load(&path).unwrap();
        assert_eq!(full.trials[0].samples.len(), 10_000);
        let thin = Results::load_for_report(&path).unwrap();
        let kept = &thin.trials[0].samples;
        assert!(
            (thin::KEPT..2 * thin::KEPT).contains(&kept.len()),
            "{}",
            kept.len()
        );
        let gaps: Vec<u64> = kept.windows(2).map(|w| w[1].t_ns - w[0].t_ns).collect();
        assert!(gaps.iter().all(|g| *g == gaps[0]), "evenly spaced");
        assert_eq!(kept[0].t_ns, 0);
        // Loading for a report leaves later loads of the thread unthinned.
        assert_eq!(
            Results::load(&path).unwrap().trials[0].samples.len(),
            10_000
        );
    }

    #[test]
    fn an_older_results_file_still_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results-v1-before-env-trait.json");
        let r = Results::load(&path).unwrap();
        assert_eq!(r.trials.len(), 40);
        assert!(r.trials.iter().any(|t| t.env == EnvKind::VmTcg));
        assert_eq!(r.config.envs.len(), 5);
    }
}
