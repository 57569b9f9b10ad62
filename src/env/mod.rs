//! Environments: where one instance of the workload runs. A closed set — native, the builtin
//! container, OCI runtimes, and QEMU with KVM or TCG — each launched from one [`Spec`] and
//! observed the same way from the host.

pub mod container;
pub mod instance;
pub mod native;
pub mod vm;

use crate::results::{ExitInfo, Sample};
use instance::Observed;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;
use vmbench_workload::Invocation;

/// Errors that stop an instance from being launched at all.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A program could not be started.
    #[error("cannot start {program}")]
    Spawn {
        /// What was started.
        program: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A system call in the launch path failed.
    #[error("{what}")]
    Sys {
        /// What failed, with the object involved.
        what: String,
        /// The errno.
        #[source]
        source: nix::errno::Errno,
    },
    /// The environment cannot run on this host.
    #[error("{env} is unavailable: {reason}")]
    Unavailable {
        /// The environment.
        env: EnvKind,
        /// Why, with the fix.
        reason: String,
    },
    /// Something else in setting up the instance, described.
    #[error("{0}")]
    Setup(String),
}

/// One environment kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnvKind {
    /// A plain child process of the harness.
    Native,
    /// vmbench's own container: namespaces, cgroups and pivot_root.
    Container,
    /// The same image through `runc`.
    ContainerRunc,
    /// The same image through `crun`.
    ContainerCrun,
    /// A QEMU guest with hardware virtualisation (KVM).
    VmKvm,
    /// A QEMU guest under software emulation (TCG).
    VmTcg,
}

impl EnvKind {
    /// Every environment, in report order.
    pub const ALL: [EnvKind; 6] = [
        EnvKind::Native,
        EnvKind::Container,
        EnvKind::ContainerRunc,
        EnvKind::ContainerCrun,
        EnvKind::VmKvm,
        EnvKind::VmTcg,
    ];

    /// Name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            EnvKind::Native => "native",
            EnvKind::Container => "container",
            EnvKind::ContainerRunc => "container-runc",
            EnvKind::ContainerCrun => "container-crun",
            EnvKind::VmKvm => "vm-kvm",
            EnvKind::VmTcg => "vm-tcg",
        }
    }

    /// One line saying what the environment is.
    pub fn describe(self) -> &'static str {
        match self {
            EnvKind::Native => "plain child process on the host (the baseline)",
            EnvKind::Container => "builtin container: pid/mount/uts/ipc/net/cgroup namespaces, cgroup limits, pivot_root into a minimal image",
            EnvKind::ContainerRunc => "the same image run by the runc OCI runtime",
            EnvKind::ContainerCrun => "the same image run by the crun OCI runtime",
            EnvKind::VmKvm => "QEMU guest, hardware-assisted virtualisation (KVM)",
            EnvKind::VmTcg => "QEMU guest, software emulation (TCG binary translation)",
        }
    }

    /// Parses one name; `vm` is not a kind (see [`EnvRequest`]).
    pub fn parse(s: &str) -> Option<EnvKind> {
        EnvKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for EnvKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the user asked for on `--env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvRequest {
    /// Exactly this environment.
    Exact(EnvKind),
    /// `vm`: the best accelerator this host can use.
    BestVm,
}

/// Names accepted by `--env`.
pub fn env_choices() -> String {
    let mut names: Vec<&str> = EnvKind::ALL.iter().map(|k| k.name()).collect();
    names.insert(4, "vm");
    names.join(", ")
}

/// Parses a comma-separated `--env` list.
pub fn parse_env_list(s: &str) -> Result<Vec<EnvRequest>, String> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let req = match name {
            "vm" => EnvRequest::BestVm,
            other => EnvRequest::Exact(EnvKind::parse(other).ok_or_else(|| {
                format!(
                    "unknown environment '{other}': expected one of {}",
                    env_choices()
                )
            })?),
        };
        if !out.contains(&req) {
            out.push(req);
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no environment given: expected one of {}",
            env_choices()
        ));
    }
    Ok(out)
}

/// Everything an environment needs to launch one instance.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The static workload binary.
    pub binary: &'a Path,
    /// What the instance runs (its data directory is set by the environment).
    pub invocation: Invocation,
    /// CPUs to pin the workload to.
    pub cpus: Option<&'a [usize]>,
    /// Memory limit (container) or RAM (VM).
    pub memory_mib: u64,
    /// CPU bandwidth limit for containers, in CPUs (e.g. 0.5).
    pub cpu_quota: Option<f64>,
    /// Kill the instance after this long.
    pub timeout: Duration,
    /// Host directory for file-io data.
    pub data_dir: &'a Path,
    /// Collector sample interval; `None` runs without the collector.
    pub sample_interval: Option<Duration>,
}

/// Creates the collector thread before launch when the spec asks for sampling.
pub fn prepare_collector(spec: &Spec) -> Option<crate::collector::Collector> {
    spec.sample_interval
        .map(crate::collector::Collector::prepare)
}

/// Points a prepared collector at the launched instance.
pub fn start_collector(
    collector: &mut Option<crate::collector::Collector>,
    target: crate::collector::Target,
    t0: std::time::Instant,
) {
    if let Some(c) = collector.as_mut() {
        c.start(target, t0);
    }
}

/// Stops a collector and stores its samples and cost in the outcome.
pub fn finish_collector(collector: Option<crate::collector::Collector>, outcome: &mut Outcome) {
    if let Some(c) = collector {
        let (samples, cost) = c.finish();
        outcome.samples = samples;
        outcome.collector_cost = Some(cost);
    }
}

/// What one instance did, seen from the host.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The instance's protocol output.
    pub observed: Observed,
    /// How it ended.
    pub exit: ExitInfo,
    /// From launch until it was reaped.
    pub lifetime: Option<Duration>,
    /// Startup phases, nanoseconds since launch.
    pub phases: BTreeMap<String, u64>,
    /// The I/O path file-io used.
    pub io_path: Option<String>,
    /// Host-side samples.
    pub samples: Vec<Sample>,
    /// The container's cgroup accounting at its end.
    pub cgroup: Option<container::cgroup::Usage>,
    /// The instance process's resource usage from `wait4`.
    pub host_rusage: Option<vmbench_workload::Rusage>,
    /// What the collector cost for this instance.
    pub collector_cost: Option<crate::collector::Cost>,
}

/// Waits for `pid` and returns its status with its resource usage (all threads, and the
/// children it reaped).
pub fn reap(
    pid: nix::unistd::Pid,
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

/// One pipe for an instance's output: the read end, and write ends for its stdout and stderr.
/// Protocol lines are told apart by their prefix, so one pipe needs one reader only.
pub fn output_pipe() -> Result<
    (
        std::io::PipeReader,
        std::io::PipeWriter,
        std::io::PipeWriter,
    ),
    EnvError,
> {
    let err = |source| EnvError::Spawn {
        program: "pipe".into(),
        source,
    };
    let (read, write) = std::io::pipe().map_err(err)?;
    let write_err = write.try_clone().map_err(err)?;
    Ok((read, write, write_err))
}

/// Exit information from a wait status.
pub fn exit_info(status: nix::sys::wait::WaitStatus) -> ExitInfo {
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

/// The filesystem type holding `path`, for the I/O path record.
pub fn filesystem_of(path: &Path) -> String {
    use nix::sys::statfs::{
        statfs, BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, OVERLAYFS_SUPER_MAGIC, TMPFS_MAGIC,
        XFS_SUPER_MAGIC,
    };
    match statfs(path) {
        Ok(s) => {
            let t = s.filesystem_type();
            let name = if t == EXT4_SUPER_MAGIC {
                "ext4"
            } else if t == TMPFS_MAGIC {
                "tmpfs"
            } else if t == XFS_SUPER_MAGIC {
                "xfs"
            } else if t == BTRFS_SUPER_MAGIC {
                "btrfs"
            } else if t == OVERLAYFS_SUPER_MAGIC {
                "overlayfs"
            } else {
                return format!("fs magic {:#x}", t.0);
            };
            name.to_string()
        }
        Err(e) => format!("unknown ({e})"),
    }
}

/// Whether `kind` can run on this host: `Ok(what it will be)` or `Err(why not, with the fix)`.
pub fn availability(kind: EnvKind, host: &crate::host::HostInfo) -> Result<String, String> {
    match kind {
        EnvKind::Native => Ok("always available".into()),
        EnvKind::Container => container::builtin::availability(host),
        EnvKind::ContainerRunc | EnvKind::ContainerCrun => container::oci::availability(kind, host),
        EnvKind::VmKvm | EnvKind::VmTcg => vm::availability(kind, host),
    }
}

/// One doctor line per environment.
pub fn availability_checks(host: &crate::host::HostInfo) -> Vec<crate::doctor::Check> {
    use crate::doctor::{Check, Status};
    EnvKind::ALL
        .into_iter()
        .map(|kind| match availability(kind, host) {
            Ok(detail) => Check::ok(&format!("env {kind}"), detail),
            Err(reason) => {
                let (detail, fix) = reason
                    .split_once(": fix: ")
                    .unwrap_or((&reason, "see the detail"));
                Check::not_ok(&format!("env {kind}"), Status::Missing, detail, fix)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lists_parse_with_clear_errors() {
        assert_eq!(
            parse_env_list("native,vm,container-crun,native").unwrap(),
            vec![
                EnvRequest::Exact(EnvKind::Native),
                EnvRequest::BestVm,
                EnvRequest::Exact(EnvKind::ContainerCrun)
            ]
        );
        let err = parse_env_list("native,docker").unwrap_err();
        assert!(
            err.contains("'docker'") && err.contains("vm-tcg") && err.contains("vm,"),
            "{err}"
        );
        assert!(parse_env_list(",").is_err());
        for k in EnvKind::ALL {
            assert_eq!(EnvKind::parse(k.name()), Some(k));
        }
    }
}
