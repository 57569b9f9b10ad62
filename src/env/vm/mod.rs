//! The VM environment: the same workload bytes as a QEMU guest's `/init`, booted directly
//! (kernel + initramfs) under KVM where it is usable and TCG where it is not, labelled which.

pub mod accel;
pub mod initramfs;
mod instance;
pub mod kernel;
pub mod qemu;
pub mod qmp;
pub mod settings;
pub mod snapshot;

use crate::config::RunConfig;
use crate::env::process::Instance;
use crate::env::{
    Accel, Availability, EnvError, EnvKind, Environment, Footprint, Shared, Unavailable,
};
use crate::results::HostInfo;
use instance::VmInstance;
use qemu::QemuConfig;
pub use settings::{footprint, prepare, VmSettings};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vmbench_workload::agent::Plan;
use vmbench_workload::Workload;

/// Errors preparing a guest.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// An external tool did not do its job (or was interrupted).
    #[error(transparent)]
    Run(#[from] crate::tool::ToolError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// A file of the cache could not be written.
    #[error(transparent)]
    Write(#[from] crate::atomic::WriteError),
    /// An external tool failed.
    #[error("{what} failed: {detail}")]
    Tool {
        /// What was being done.
        what: &'static str,
        /// Its last error line.
        detail: String,
    },
    /// QEMU is not installed.
    #[error("qemu-system-x86_64 not found: apt-get install qemu-system-x86, or pass --qemu PATH")]
    NoQemu,
    /// The guest kernel has no modules for what the run needs.
    #[error("guest kernel {0} has no modules directory with modules.dep: pass a kernel whose lib/modules/<version> sits beside it")]
    NoModules(String),
    /// A kernel named by the user is not a regular file of a sane size.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// A module could not be resolved.
    #[error("{0}")]
    Module(String),
}

/// Finds QEMU: `--qemu`, else `VMBENCH_QEMU`, else `qemu-system-x86_64` on `PATH`. A QEMU
/// the user named must be there and be QEMU: never a silent fall-back to another one.
pub fn find_qemu(explicit: Option<&Path>) -> Result<PathBuf, Unavailable> {
    let named = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("VMBENCH_QEMU").map(PathBuf::from));
    let Some(path) = named else {
        return crate::tool::which("qemu-system-x86_64").ok_or_else(|| {
            Unavailable::new(
                "qemu-system-x86_64 not found",
                "apt-get install qemu-system-x86, or pass --qemu PATH",
            )
        });
    };
    let fix = "give the path of qemu-system-x86_64 with --qemu (or VMBENCH_QEMU)";
    if !path.exists() {
        return Err(Unavailable::new(
            format!("QEMU {} does not exist", path.display()),
            fix,
        ));
    }
    if let Err(e) = crate::input::check(&path) {
        return Err(Unavailable::new(format!("--qemu: {e}"), fix));
    }
    match crate::tool::version_of(&path) {
        Some(v) if v.contains("QEMU") => Ok(path),
        _ => Err(Unavailable::new(
            format!(
                "{} is not QEMU (its --version does not say so)",
                path.display()
            ),
            fix,
        )),
    }
}

/// The least RAM a guest of this recipe boots with here; below it the kernel stops early and
/// the guest hangs until the timeout (measured: 64 MiB hangs).
pub const MIN_GUEST_MIB: u64 = 96;

/// Checks a VM run's inputs before anything starts: QEMU, the kernel, the guest's RAM.
pub fn check_inputs(config: &RunConfig, host: &HostInfo) -> Result<(), Unavailable> {
    find_qemu(config.qemu.as_deref())?;
    if let Some(path) = config
        .kernel
        .clone()
        .or_else(|| std::env::var_os("VMBENCH_KERNEL").map(PathBuf::from))
    {
        kernel::check_image(&path)?;
    }
    if config.memory_mib < MIN_GUEST_MIB {
        return Err(Unavailable::new(
            format!(
                "--memory {} is too little for a guest: it needs at least {MIN_GUEST_MIB} MiB",
                config.memory_mib
            ),
            format!("pass --memory {MIN_GUEST_MIB} or more"),
        ));
    }
    let host_mib = host.memory_bytes >> 20;
    if host_mib > 0 && config.memory_mib >= host_mib {
        return Err(Unavailable::new(
            format!(
                "--memory {} is more than this host has ({host_mib} MiB)",
                config.memory_mib
            ),
            "pass a smaller --memory",
        ));
    }
    Ok(())
}

/// Records QEMU and the accelerator verdict in the host facts.
pub fn record_host(host: &mut HostInfo) {
    host.qemu_version = find_qemu(None)
        .ok()
        .and_then(|q| crate::tool::version_of(&q));
    match accel::kvm_usable() {
        Ok(why) => {
            host.accelerator = Some("kvm".into());
            host.accelerator_reason = Some(why);
        }
        Err(why) => {
            host.accelerator = Some("tcg".into());
            host.accelerator_reason = Some(format!("KVM unusable: {}", why.detail));
        }
    }
}

/// A QEMU guest under one accelerator, booted for every trial or restored from a snapshot.
pub struct Vm {
    accel: Accel,
    settings: Option<Arc<VmSettings>>,
    /// Restore every trial from a snapshot (saved when prepared).
    restoring: bool,
    snapshot: Option<snapshot::Snapshot>,
}

impl Vm {
    /// The environment of `accel`, not yet prepared.
    pub fn new(accel: Accel) -> Vm {
        Vm {
            accel,
            settings: None,
            restoring: false,
            snapshot: None,
        }
    }

    /// The environment of `accel` restoring a snapshot for every trial, not yet prepared.
    pub fn restoring(accel: Accel) -> Vm {
        Vm {
            restoring: true,
            ..Vm::new(accel)
        }
    }

    /// The environment of `accel` with its settings already prepared.
    pub fn with(accel: Accel, settings: Arc<VmSettings>) -> Vm {
        Vm {
            settings: Some(settings),
            ..Vm::new(accel)
        }
    }

    /// The snapshot trials restore, once prepared.
    pub fn snapshot(&self) -> Option<&snapshot::Snapshot> {
        self.snapshot.as_ref()
    }
}

/// The QEMU configuration of one guest; `plan` on its command line.
fn qemu_config(
    vm: &VmSettings,
    accel: Accel,
    cpus: usize,
    memory_mib: u64,
    plan: &Plan,
    disk: Option<&Path>,
    net: Option<&crate::net::VmNics>,
) -> QemuConfig {
    QemuConfig {
        machine: vm.machine,
        accel,
        cpus,
        memory_mib,
        kernel: vm.kernel.image.clone(),
        initrd: vm.initramfs.clone(),
        cmdline: qemu::kernel_cmdline(vm.tsc_khz, &plan.to_cmdline()),
        disk: disk.map(|d| (d.to_path_buf(), vm.disk_direct)),
        bios: vm.bios.clone(),
        net: net.cloned(),
    }
}

/// The interfaces the guest agent configures for a wired guest: the tap NIC's `/30` and slirp's
/// `/24`.
pub fn guest_nics(net: &crate::net::VmNics) -> Vec<vmbench_workload::agent::GuestNic> {
    vec![
        vmbench_workload::agent::GuestNic {
            mac: crate::net::TAP_MAC.into(),
            addr: net.tap_guest,
            prefix: 30,
            mtu: net.tap_mtu,
        },
        vmbench_workload::agent::GuestNic {
            mac: crate::net::SLIRP_MAC.into(),
            addr: crate::net::SLIRP_GUEST,
            prefix: 24,
            mtu: None,
        },
    ]
}

/// The command line of a guest booted for a snapshot: no disk, the plan sent after restore.
fn snapshot_args(vm: &VmSettings, accel: Accel, cpus: usize, memory_mib: u64) -> Vec<String> {
    let plan = Plan {
        snapshot: true,
        ..Plan::default()
    };
    qemu::args(&qemu_config(vm, accel, cpus, memory_mib, &plan, None, None))
}

impl Environment for Vm {
    fn kind(&self) -> EnvKind {
        let booted = match self.accel {
            Accel::Kvm => EnvKind::VmKvm,
            Accel::Tcg => EnvKind::VmTcg,
        };
        if self.restoring {
            booted.snapshot_of()
        } else {
            booted
        }
    }

    fn availability(&self, _host: &HostInfo) -> Availability {
        let qemu = find_qemu(None)?;
        let kernel = kernel::describe(None, &crate::cache::cache_dir())?;
        match self.accel {
            Accel::Kvm => accel::kvm_usable()
                .map(|why| format!("KVM: {why}; {}; kernel {kernel}", qemu.display())),
            Accel::Tcg => Ok(format!(
                "TCG software emulation; {}; kernel {kernel}",
                qemu.display()
            )),
        }
    }

    fn prepare(&mut self, shared: &mut Shared) -> Result<Option<Footprint>, EnvError> {
        let settings = shared.vm()?;
        if self.accel == Accel::Kvm {
            if let Err(why) = &settings.kvm {
                return Err(EnvError::Unavailable {
                    env: self.kind(),
                    why: why.clone(),
                });
            }
        }
        let mut footprint = Footprint {
            bytes: footprint(&settings),
            what: format!(
                "guest kernel {} ({}) + initramfs ({} bytes, {} modules)",
                settings.kernel.version,
                settings.kernel.image.display(),
                settings.initramfs_bytes,
                settings.modules.len()
            ),
        };
        if self.restoring {
            let cpus = shared.config.cpus.as_ref().map_or(1, Vec::len);
            let args = snapshot_args(&settings, self.accel, cpus, shared.config.memory_mib);
            let version = shared.host.qemu_version.clone().unwrap_or_default();
            let saved = snapshot::ensure(
                &settings.qemu,
                &args,
                &version,
                &shared.cache,
                &shared.work_dir,
            )?;
            footprint.bytes += saved.record.bytes;
            footprint.what = format!(
                "{} + snapshot {} ({} bytes, saved in {:.0} ms)",
                footprint.what,
                saved.state.display(),
                saved.record.bytes,
                saved.record.created_ms
            );
            shared.snapshot = Some(saved.record.clone());
            self.snapshot = Some(saved);
        }
        self.settings = Some(settings);
        Ok(Some(footprint))
    }

    fn supports(&self, workload: Workload) -> Result<(), String> {
        super::wired(self.kind(), workload)?;
        if self.restoring && workload.needs_data_dir() {
            return Err(format!(
                "a snapshot guest has no data disk, so {workload} runs only in vm-{}",
                self.accel.name()
            ));
        }
        if workload.crosses_network() && !nix::unistd::geteuid().is_root() {
            return Err(format!(
                "{workload} needs the guest's tap device, which only root can make: run as root, or container-rootless for a network path without root"
            ));
        }
        Ok(())
    }

    fn instance(&self) -> Result<Box<dyn Instance + '_>, EnvError> {
        let vm = self
            .settings
            .as_deref()
            .ok_or(EnvError::NotPrepared(self.kind()))?;
        Ok(Box::new(VmInstance::new(
            vm,
            self.accel,
            self.snapshot.as_ref(),
        )))
    }
}
