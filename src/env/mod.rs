//! Environments: where one instance of the workload runs. Each is one type implementing
//! [`Environment`] — native, the builtin container, the OCI runtimes, QEMU with KVM or TCG —
//! and [`environment`] is the registry that maps a kind to it. Every launch goes through the
//! one sequence in [`process`]; an environment supplies only what differs.

pub mod child;
pub mod container;
pub mod fake;
pub mod kmsg;
pub mod native;
pub mod process;
pub mod vm;
pub mod watch;

use crate::config::{EnvRequest, RunConfig};
pub use crate::ids::{Accel, EnvKind, Family};
use crate::results::{AttachPath, BinaryInfo, CgroupUsage, EnvStatus, ExitInfo, HostInfo, Sample};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use vmbench_workload::Invocation;
use watch::Observed;

/// Errors that stop an instance from being launched, or an environment from being prepared;
/// each keeps its cause as its source, so the one line the user reads names the whole chain.
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
    /// A file or folder an instance needs could not be made, opened or written.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// The environment cannot run on this host.
    #[error("{env} cannot run here: {why}")]
    Unavailable {
        /// The environment.
        env: EnvKind,
        /// Why, with the fix.
        why: Unavailable,
    },
    /// An environment was asked for an instance before it was prepared.
    #[error("{0} was not prepared")]
    NotPrepared(EnvKind),
    /// The instance cannot run what it was asked to, and why.
    #[error("{0}")]
    Refused(String),
    /// The guest's parts.
    #[error(transparent)]
    Vm(#[from] vm::VmError),
    /// A snapshot restore.
    #[error("restoring the snapshot")]
    Restore(#[source] vm::qmp::QmpError),
    /// The instance's cgroup.
    #[error(transparent)]
    Cgroup(#[from] container::cgroup::CgroupError),
    /// The container image.
    #[error(transparent)]
    Image(#[from] container::image::ImageError),
    /// A container engine.
    #[error(transparent)]
    Engine(#[from] container::engine::EngineError),
    /// An external tool (a runtime's or an engine's command).
    #[error(transparent)]
    Tool(#[from] crate::tool::ToolError),
    /// The network path of a network workload.
    #[error("cannot wire the network path")]
    Wire(#[source] crate::net::NetError),
}

/// Why an environment cannot run here, and what would make it run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// What is missing.
    pub detail: String,
    /// How to get it.
    pub fix: String,
}

impl Unavailable {
    /// A reason with its fix.
    pub fn new(detail: impl Into<String>, fix: impl Into<String>) -> Unavailable {
        Unavailable {
            detail: detail.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: fix: {}", self.detail, self.fix)
    }
}

/// Whether an environment can run here: what it will be, or why not.
pub type Availability = Result<String, Unavailable>;

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
    /// Whether the image's files are evicted from the page cache before the start.
    pub page_cache: crate::ids::PageCache,
    /// The network path vmbench wired for this instance (net-rr, net-stream).
    pub net: Option<&'a crate::net::Wiring>,
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
    /// Startup phases, nanoseconds since launch; teardown phases are durations.
    pub phases: BTreeMap<crate::ids::Phase, u64>,
    /// The I/O path file-io used.
    pub io_path: Option<String>,
    /// Host-side samples.
    pub samples: Vec<Sample>,
    /// The container's cgroup accounting at its end.
    pub cgroup: Option<CgroupUsage>,
    /// How the container entered its cgroup.
    pub cgroup_attach: Option<AttachPath>,
    /// How quiet the host was meanwhile.
    pub noise: Option<crate::results::Noise>,
    /// The instance process's resource usage from `wait4`.
    pub host_rusage: Option<vmbench_workload::Rusage>,
    /// What the collector cost for this instance.
    pub collector_cost: Option<crate::collector::Cost>,
    /// Bytes of image files evicted from the page cache before a cold start.
    pub evicted_bytes: Option<u64>,
    /// The effective uid of the instance's process on the host, read once it was ready.
    pub host_uid: Option<u32>,
}

/// What one instance needs on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes on disk.
    pub bytes: u64,
    /// What they are.
    pub what: String,
}

/// One environment.
pub trait Environment {
    /// Which environment this is.
    fn kind(&self) -> EnvKind;

    /// Whether it can run on this host (no side effects).
    fn availability(&self, host: &HostInfo) -> Availability;

    /// Builds what its instances share, once per run; returns what one instance needs on disk.
    fn prepare(&mut self, shared: &mut Shared) -> Result<Option<Footprint>, EnvError>;

    /// The hooks of one instance, for [`process::run`].
    fn instance(&self) -> Result<Box<dyn process::Instance + '_>, EnvError>;

    /// Whether it can run `workload` (a snapshot guest has no data disk); why not, if not.
    fn supports(&self, workload: vmbench_workload::Workload) -> Result<(), String> {
        wired(self.kind(), workload)
    }

    /// Launches one instance and watches it to its end.
    fn launch(&self, spec: &Spec) -> Result<Outcome, EnvError> {
        process::run(self.instance()?.as_mut(), spec)
    }
}

/// Whether vmbench wires a network path for `kind` when `workload` needs one, and a writable
/// layer when it writes to one; why not, if not.
pub fn wired(kind: EnvKind, workload: vmbench_workload::Workload) -> Result<(), String> {
    if workload.writes_layer() {
        kind.writable_layer()
            .map_err(|why| format!("{workload} needs a writable layer over the image: {why}"))?;
    }
    match kind.network(crate::net::vhost_available()) {
        crate::ids::Network::Unwired(why) if workload.crosses_network() => {
            Err(format!("{workload} needs a network path: {why}"))
        }
        crate::ids::Network::Unwired(_) | crate::ids::Network::Wired(_) => Ok(()),
    }
}

/// The registry: the environment of each kind, not yet prepared.
pub fn environment(kind: EnvKind) -> Box<dyn Environment> {
    match kind {
        EnvKind::Native => Box::new(native::Native),
        EnvKind::Container => Box::new(container::builtin::Builtin::default()),
        EnvKind::ContainerRootless => Box::new(container::builtin::Builtin::rootless()),
        EnvKind::ContainerRunc => Box::new(container::oci::Oci::new(container::oci::Runtime::Runc)),
        EnvKind::ContainerCrun => Box::new(container::oci::Oci::new(container::oci::Runtime::Crun)),
        EnvKind::ContainerGvisor => {
            Box::new(container::oci::Oci::new(container::oci::Runtime::Runsc))
        }
        EnvKind::ContainerDocker => Box::new(container::engine::Engine::new(
            container::engine::EngineKind::Docker,
        )),
        EnvKind::ContainerPodman => Box::new(container::engine::Engine::new(
            container::engine::EngineKind::Podman,
        )),
        EnvKind::VmKvm => Box::new(vm::Vm::new(Accel::Kvm)),
        EnvKind::VmTcg => Box::new(vm::Vm::new(Accel::Tcg)),
        EnvKind::VmKvmSnapshot => Box::new(vm::Vm::restoring(Accel::Kvm)),
        EnvKind::VmTcgSnapshot => Box::new(vm::Vm::restoring(Accel::Tcg)),
    }
}

/// Whether `kind` can run on this host.
pub fn availability(kind: EnvKind, host: &HostInfo) -> Availability {
    environment(kind).availability(host)
}

/// Parts built once per run and shared by the environments that need them: the container
/// image and cgroup facts, the VM's kernel, initramfs and data disk.
pub struct Shared<'a> {
    /// The run's configuration.
    pub config: &'a RunConfig,
    /// The workload binary every environment runs.
    pub binary: &'a BinaryInfo,
    /// Where built parts are cached.
    pub cache: PathBuf,
    /// Host facts, completed as parts are found (QEMU version...).
    pub host: &'a mut HostInfo,
    /// The run's own folder for temporary files (data disk, OCI bundles), removed with it.
    pub work_dir: PathBuf,
    /// The container image's record, once the image is prepared (engines add their imports).
    pub image: Option<crate::results::ImageRecord>,
    /// The guest snapshot, once a restoring VM has prepared it.
    pub snapshot: Option<crate::results::SnapshotRecord>,
    container: Option<Arc<container::ContainerSettings>>,
    vm: Option<Arc<vm::VmSettings>>,
}

impl<'a> Shared<'a> {
    /// A fresh set of shared parts for one run.
    pub fn new(
        config: &'a RunConfig,
        binary: &'a BinaryInfo,
        cache: PathBuf,
        work_dir: PathBuf,
        host: &'a mut HostInfo,
    ) -> Shared<'a> {
        Shared {
            config,
            binary,
            cache,
            work_dir,
            host,
            image: None,
            snapshot: None,
            container: None,
            vm: None,
        }
    }

    /// The container parts, prepared on first use.
    pub fn container(&mut self) -> Result<Arc<container::ContainerSettings>, EnvError> {
        if self.container.is_none() {
            let settings =
                container::prepare(self.config.image, self.binary, &self.cache, &self.work_dir)?;
            self.image = Some(settings.image.record.clone());
            self.container = Some(Arc::new(settings));
        }
        Ok(self.container.clone().expect("just prepared"))
    }

    /// The VM parts, prepared on first use.
    pub fn vm(&mut self) -> Result<Arc<vm::VmSettings>, EnvError> {
        if self.vm.is_none() {
            let settings = vm::prepare(
                self.binary,
                self.config,
                &self.cache,
                &self.work_dir,
                self.host,
            )?;
            self.vm = Some(Arc::new(settings));
        }
        Ok(self.vm.clone().expect("just prepared"))
    }
}

/// The prepared environments of one run.
pub struct Environments {
    envs: Vec<Box<dyn Environment>>,
}

impl Environments {
    /// Wraps environments that are ready to launch (fakes in tests, or already prepared).
    pub fn from_prepared(envs: Vec<Box<dyn Environment>>) -> Environments {
        Environments { envs }
    }

    /// Prepares the environments of `shared.config`, each with its status for the results.
    pub fn prepare(shared: &mut Shared) -> Result<(Environments, Vec<EnvStatus>), EnvError> {
        let mut envs = Vec::new();
        let mut statuses = Vec::new();
        for &kind in &shared.config.envs {
            let (env, status) = prepare_one(kind, shared)?;
            statuses.push(status);
            envs.push(env);
        }
        Ok((Environments { envs }, statuses))
    }

    /// The environment of `kind`, when the run has it.
    pub fn get(&self, kind: EnvKind) -> Option<&dyn Environment> {
        self.envs
            .iter()
            .find(|e| e.kind() == kind)
            .map(|e| e.as_ref())
    }
}

/// The environment of `kind` checked for this host and prepared over the run's shared parts,
/// with its status for the results.
pub fn prepare_one(
    kind: EnvKind,
    shared: &mut Shared,
) -> Result<(Box<dyn Environment>, EnvStatus), EnvError> {
    let mut env = environment(kind);
    let detail = env
        .availability(shared.host)
        .map_err(|why| EnvError::Unavailable { env: kind, why })?;
    let footprint = env.prepare(shared)?;
    let status = EnvStatus {
        env: kind,
        available: true,
        reason: detail,
        fix: None,
        footprint_bytes: footprint.as_ref().map(|f| f.bytes),
        footprint: footprint.map(|f| f.what),
    };
    Ok((env, status))
}

/// Every environment this host cannot run, with the reason, for the results.
pub fn unavailable(host: &HostInfo, except: &[EnvKind]) -> Vec<EnvStatus> {
    EnvKind::ALL
        .iter()
        .copied()
        .filter(|k| !except.contains(k))
        .filter_map(|kind| {
            let why = availability(kind, host).err()?;
            Some(EnvStatus {
                env: kind,
                available: false,
                reason: why.to_string(),
                fix: Some(why.fix),
                footprint_bytes: None,
                footprint: None,
            })
        })
        .collect()
}

/// The VM environment `--env vm` means on this host.
pub fn best_vm() -> EnvKind {
    if vm::accel::kvm_usable().is_ok() {
        EnvKind::VmKvm
    } else {
        EnvKind::VmTcg
    }
}

/// Resolves `--env` requests to kinds; an environment that cannot run here is a usage error.
pub fn resolve(
    requests: &[EnvRequest],
    host: &HostInfo,
) -> Result<Vec<EnvKind>, crate::UsageError> {
    let mut kinds = Vec::new();
    for req in requests {
        let kind = match req {
            EnvRequest::Exact(kind) => *kind,
            EnvRequest::BestVm => best_vm(),
            EnvRequest::BestVmSnapshot => best_vm().snapshot_of(),
        };
        if let Err(why) = availability(kind, host) {
            return Err(crate::UsageError(format!(
                "environment {kind} cannot run here: {why}"
            )));
        }
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// Environments this host can run, best VM included: the default suite's. The snapshot guest
/// is left out (`--env ...,vm-snapshot` adds it): it would do every workload's TCG work twice
/// within the same time budget.
pub fn runnable(host: &HostInfo) -> Vec<EnvKind> {
    let vm = best_vm();
    EnvKind::ALL
        .iter()
        .copied()
        .filter(|k| k.family() != Family::Vm || *k == vm)
        .filter(|k| availability(*k, host).is_ok())
        .collect()
}

/// The filesystem type holding `path`, for the I/O path record.
pub fn filesystem_of(path: &Path) -> String {
    use nix::sys::statfs::{
        statfs, BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, OVERLAYFS_SUPER_MAGIC, TMPFS_MAGIC,
        XFS_SUPER_MAGIC,
    };
    let Ok(s) = statfs(path) else {
        return "unknown".into();
    };
    let t = s.filesystem_type();
    [
        (EXT4_SUPER_MAGIC, "ext4"),
        (TMPFS_MAGIC, "tmpfs"),
        (XFS_SUPER_MAGIC, "xfs"),
        (BTRFS_SUPER_MAGIC, "btrfs"),
        (OVERLAYFS_SUPER_MAGIC, "overlayfs"),
    ]
    .into_iter()
    .find(|(magic, _)| *magic == t)
    .map_or_else(|| format!("fs magic {:#x}", t.0), |(_, n)| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_has_every_kind() {
        for &kind in EnvKind::ALL {
            assert_eq!(environment(kind).kind(), kind);
        }
        let why = Unavailable::new("runc not found", "apt-get install runc");
        assert_eq!(why.to_string(), "runc not found: fix: apt-get install runc");
    }
}
