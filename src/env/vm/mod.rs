//! The VM environment: the same workload bytes as a QEMU guest's `/init`, booted directly
//! (kernel + initramfs) under KVM where it is usable and TCG where it is not, labelled which.

pub mod accel;
pub mod initramfs;
pub mod kernel;
pub mod qemu;
pub mod qmp;
pub mod snapshot;

use crate::collector::Target;
use crate::config::{Machine, RunConfig};
use crate::env::process::{self, CloneMode, Instance, Program, Started};
use crate::env::{
    Accel, Availability, EnvError, EnvKind, Environment, Footprint, Outcome, Shared, Spec,
    Unavailable,
};
use crate::results::{BinaryInfo, HostInfo};
use qemu::QemuConfig;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use vmbench_workload::agent::Plan;
use vmbench_workload::Workload;

/// Errors preparing a guest.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// An external tool did not do its job (or was interrupted).
    #[error(transparent)]
    Run(#[from] crate::tool::ToolError),
    /// A file could not be read or written.
    #[error("cannot {what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
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
    /// A module could not be resolved.
    #[error("{0}")]
    Module(String),
}

impl From<VmError> for EnvError {
    fn from(e: VmError) -> EnvError {
        EnvError::Setup(crate::error_chain(&e))
    }
}

/// What every VM instance of a run shares, prepared once.
#[derive(Debug)]
pub struct VmSettings {
    /// QEMU binary.
    pub qemu: PathBuf,
    /// The guest kernel.
    pub kernel: kernel::Kernel,
    /// The initramfs and its size.
    pub initramfs: PathBuf,
    /// Bytes of the initramfs.
    pub initramfs_bytes: u64,
    /// Modules in the initramfs, in load order.
    pub modules: Vec<String>,
    /// Machine type.
    pub machine: Machine,
    /// ext4 disk image for file-io (removed when the settings drop).
    pub disk: Option<tempfile::TempPath>,
    /// Whether the disk image can be opened with O_DIRECT (cache=none).
    pub disk_direct: bool,
    /// Host TSC frequency for `tsc_early_khz`.
    pub tsc_khz: Option<u64>,
    /// KVM verdict: usable (why) or not (why not).
    pub kvm: Result<String, Unavailable>,
    /// qboot firmware for q35.
    pub bios: Option<PathBuf>,
}

/// Size of the data disk.
const DISK_MIB: u64 = 512;

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
    if !path.is_file() {
        return Err(Unavailable::new(
            format!("QEMU {} does not exist", path.display()),
            fix,
        ));
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
fn guest_nics(net: &crate::net::VmNics) -> Vec<vmbench_workload::agent::GuestNic> {
    vec![
        vmbench_workload::agent::GuestNic {
            mac: crate::net::TAP_MAC.into(),
            addr: net.tap_guest,
            prefix: 30,
        },
        vmbench_workload::agent::GuestNic {
            mac: crate::net::SLIRP_MAC.into(),
            addr: crate::net::SLIRP_GUEST,
            prefix: 24,
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
        Ok(())
    }

    fn instance(&self) -> Result<Box<dyn Instance + '_>, EnvError> {
        let vm = self
            .settings
            .as_deref()
            .ok_or(EnvError::Setup(format!("{} was not prepared", self.kind())))?;
        Ok(Box::new(VmInstance {
            vm,
            accel: self.accel,
            io_path: None,
            snapshot: self.snapshot.as_ref(),
            restore: None,
        }))
    }
}

fn make_disk(dir: &Path) -> Result<(tempfile::TempPath, bool), VmError> {
    let io = |what: &'static str, source| VmError::Io {
        what,
        path: dir.to_path_buf(),
        source,
    };
    let file = tempfile::Builder::new()
        .prefix("vmbench-disk-")
        .suffix(".img")
        .tempfile_in(dir)
        .map_err(|e| io("create a disk image in", e))?;
    file.as_file()
        .set_len(DISK_MIB << 20)
        .map_err(|e| io("size the disk image in", e))?;
    let path = file.into_temp_path();
    let mkfs = crate::tool::which("mkfs.ext4").unwrap_or_else(|| PathBuf::from("/sbin/mkfs.ext4"));
    crate::tool::run(
        Command::new(&mkfs)
            .args([
                "-q",
                "-F",
                "-E",
                "lazy_itable_init=0,lazy_journal_init=0",
                "-L",
                "vmbench-data",
            ])
            .arg(&path),
        "mkfs.ext4 (apt-get install e2fsprogs)",
    )?;
    use std::os::unix::fs::OpenOptionsExt;
    let direct = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
        .is_ok();
    Ok((path, direct))
}

/// Prepares QEMU, the kernel (provisioned if needed), the initramfs and the data disk.
pub fn prepare(
    binary: &BinaryInfo,
    config: &RunConfig,
    cache: &Path,
    work_dir: &Path,
    host: &mut HostInfo,
) -> Result<VmSettings, VmError> {
    let qemu = find_qemu(config.qemu.as_deref()).map_err(|_| VmError::NoQemu)?;
    let kernel = match kernel::find(config.kernel.as_deref(), cache)? {
        Some(k)
            if k.cache_dir()
                .is_some_and(|dir| kernel::verify(dir).is_err()) =>
        {
            let dir = k.cache_dir().expect("checked").to_path_buf();
            eprintln!(
                "vmbench: the cached guest kernel in {} is corrupt ({}); provisioning it again",
                dir.display(),
                kernel::verify(&dir).unwrap_err()
            );
            std::fs::remove_dir_all(&dir).map_err(|source| VmError::Io {
                what: "remove the corrupt kernel cache",
                path: dir.clone(),
                source,
            })?;
            kernel::provision(cache)?
        }
        Some(k) => k,
        None => {
            eprintln!(
                "vmbench: no guest kernel cached; provisioning the distribution kernel into {}",
                cache.display()
            );
            kernel::provision(cache)?
        }
    };
    let machine = config.vm_machine.unwrap_or(Machine::Microvm);
    let needs_disk = config.workloads.contains(&Workload::FileIo);
    let needs_net = config.workloads.iter().any(|w| w.crosses_network());
    let wanted = initramfs::needed_modules(machine, needs_disk, needs_net);
    let modules = if wanted.is_empty() {
        Vec::new()
    } else {
        let dir = kernel
            .modules
            .as_ref()
            .ok_or_else(|| VmError::NoModules(kernel.version.clone()))?;
        let dep =
            std::fs::read_to_string(dir.join("modules.dep")).map_err(|source| VmError::Io {
                what: "read",
                path: dir.join("modules.dep"),
                source,
            })?;
        initramfs::resolve_modules(&dep, &wanted).map_err(VmError::Module)?
    };
    let initramfs = initramfs::cache_path(cache, &binary.sha256, &kernel.version, &modules);
    if !initramfs.is_file() {
        let dir = initramfs.parent().expect("cache path has a parent");
        std::fs::create_dir_all(dir).map_err(|source| VmError::Io {
            what: "create",
            path: dir.to_path_buf(),
            source,
        })?;
        let tmp = initramfs.with_extension(format!("tmp{}", std::process::id()));
        let bytes = std::fs::read(&binary.path).map_err(|source| VmError::Io {
            what: "read",
            path: binary.path.clone(),
            source,
        })?;
        initramfs::build(&tmp, &bytes, kernel.modules.as_deref(), &modules)?;
        std::fs::rename(&tmp, &initramfs).map_err(|source| VmError::Io {
            what: "move into the cache",
            path: initramfs.clone(),
            source,
        })?;
    }
    let (disk, disk_direct) = match needs_disk {
        true => {
            let (p, d) = make_disk(work_dir)?;
            (Some(p), d)
        }
        false => (None, false),
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    host.qemu_version = crate::tool::version_of(&qemu);
    Ok(VmSettings {
        initramfs_bytes: std::fs::metadata(&initramfs).map(|m| m.len()).unwrap_or(0),
        qemu,
        kernel,
        initramfs,
        modules,
        machine,
        disk,
        disk_direct,
        tsc_khz: qemu::host_tsc_khz(&cpuinfo),
        kvm: accel::kvm_usable(),
        bios: Some(PathBuf::from("/usr/share/qemu/qboot.rom")).filter(|p| p.is_file()),
    })
}

/// Bytes on disk one guest needs: kernel image + initramfs.
pub fn footprint(vm: &VmSettings) -> u64 {
    std::fs::metadata(&vm.kernel.image)
        .map(|m| m.len())
        .unwrap_or(0)
        + vm.initramfs_bytes
}

struct VmInstance<'a> {
    vm: &'a VmSettings,
    accel: Accel,
    io_path: Option<String>,
    snapshot: Option<&'a snapshot::Snapshot>,
    /// A restore under way: its socket, the console's write end and the plan to send.
    restore: Option<(snapshot::Restore, std::fs::File, String, Duration)>,
}

/// A started QEMU: its threads' CPU clock sampled (a perf read per thread would cost an
/// interrupt each), its console on `output`.
fn qemu_started(spawned: process::Spawned, output: std::os::fd::OwnedFd) -> Started {
    let target = Target {
        cheap_cpu: true,
        ..Target::process(spawned.pid.as_raw())
    };
    Started::from_spawned(
        spawned,
        output.into(),
        target,
        true,
        crate::ids::Phase::QemuExec,
    )
}

/// Restores numbered in this process, for their socket names.
static RESTORES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl VmInstance<'_> {
    /// Starts QEMU waiting for the snapshot's state, with a pipe on its console input.
    fn start_restore(
        &mut self,
        spec: &Spec,
        snap: &snapshot::Snapshot,
    ) -> Result<Started, EnvError> {
        let vm = self.vm;
        if spec.invocation.workload.needs_data_dir() {
            return Err(EnvError::Setup(format!(
                "a snapshot guest has no data disk, so {} runs only in vm-{}",
                spec.invocation.workload,
                self.accel.name()
            )));
        }
        let cpus = spec.cpus.map_or(1, <[usize]>::len);
        let mut args = snapshot_args(vm, self.accel, cpus, spec.memory_mib);
        // The QEMU version was checked when the snapshot was prepared: no `--version` per trial.
        if snapshot::key(&args, &snap.record.qemu_version) != snap.record.key {
            return Err(EnvError::Setup(
                "the snapshot was saved for another guest configuration (memory, CPUs or QEMU)"
                    .into(),
            ));
        }
        let n = RESTORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let restore = snapshot::Restore::new(spec.data_dir, n);
        args.extend(restore.args());
        let mut invocation = spec.invocation.clone();
        invocation.data_dir = "/tmp".into();
        let seed: [u8; 32] = rand::random();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let plan = Plan {
            args: invocation.to_args(),
            seed: Some(seed.iter().map(|b| format!("{b:02x}")).collect()),
            time_ns: Some(now.as_nanos() as u64),
            ..Plan::default()
        };
        self.io_path = Some("guest tmpfs (no disk attached)".into());
        let (input_read, input_write) = process::pipe()?;
        let exe = vm.qemu.display().to_string();
        let (output, output_write) = process::pipe()?;
        let spawned = process::spawn(
            Program {
                exe: &exe,
                args: &args,
                env: &process::host_env(),
                steps: process::host_child_steps(spec.cpus),
                clone: CloneMode::Vfork,
                after_clone: None,
                input: Some(std::os::fd::AsRawFd::as_raw_fd(&input_read)),
            },
            output_write,
        )?;
        drop(input_read);
        self.restore = Some((
            restore,
            std::fs::File::from(input_write),
            plan.to_cmdline(),
            spec.timeout,
        ));
        Ok(qemu_started(spawned, output))
    }
}

impl Instance for VmInstance<'_> {
    fn image_files(&self) -> Vec<PathBuf> {
        vec![self.vm.kernel.image.clone(), self.vm.initramfs.clone()]
    }

    fn start(&mut self, spec: &Spec) -> Result<Started, EnvError> {
        if let Some(snap) = self.snapshot {
            return self.start_restore(spec, snap);
        }
        let vm = self.vm;
        let mut invocation = spec.invocation.clone();
        invocation.data_dir = "/tmp".into();
        let disk = vm
            .disk
            .as_ref()
            .filter(|_| spec.invocation.workload.needs_data_dir());
        let net = spec.net.and_then(|w| w.vm.as_ref());
        let plan = Plan {
            args: invocation.to_args(),
            disk: disk.map(|_| "/dev/vda".to_string()),
            nics: net.map(guest_nics).unwrap_or_default(),
            ..Plan::default()
        };
        let config = qemu_config(
            vm,
            self.accel,
            spec.cpus.map_or(1, <[usize]>::len),
            spec.memory_mib,
            &plan,
            disk.map(|d| d.as_ref()),
            net,
        );
        let cache = if vm.disk_direct { "none" } else { "writeback" };
        self.io_path = Some(match disk {
            Some(_) => format!(
                "virtio-blk ({}) + guest ext4, host image on {} with cache={cache}",
                vm.machine.name(),
                crate::env::filesystem_of(spec.data_dir),
            ),
            None => "guest tmpfs (no disk attached)".into(),
        });
        let exe = vm.qemu.display().to_string();
        let (output, output_write) = process::pipe()?;
        let spawned = process::spawn(
            Program {
                exe: &exe,
                args: &qemu::args(&config),
                env: &process::host_env(),
                steps: process::host_child_steps(spec.cpus),
                clone: CloneMode::Vfork,
                after_clone: None,
                input: None,
            },
            output_write,
        )?;
        Ok(qemu_started(spawned, output))
    }

    fn after_start(&mut self, started: &Started, outcome: &mut Outcome) -> Result<(), EnvError> {
        let Some((restore, console, plan, timeout)) = self.restore.as_mut() else {
            return Ok(());
        };
        let state = &self.snapshot.expect("restoring").state;
        let deadline = started.t0 + *timeout;
        let (migrated, resumed) = restore
            .resume(state, started.t0, deadline)
            .map_err(|e| EnvError::Setup(format!("restoring the snapshot: {e}")))?;
        outcome.phases.insert(
            crate::ids::Phase::MigrationCompleted,
            migrated.as_nanos() as u64,
        );
        outcome
            .phases
            .insert(crate::ids::Phase::Resumed, resumed.as_nanos() as u64);
        use std::io::Write;
        writeln!(console, "{plan}")
            .map_err(|e| EnvError::Setup(format!("send the plan on the console: {e}")))?;
        outcome.phases.insert(
            crate::ids::Phase::PlanSent,
            started.t0.elapsed().as_nanos() as u64,
        );
        Ok(())
    }

    fn finish(&mut self, outcome: &mut Outcome) -> Result<(), EnvError> {
        self.restore = None;
        outcome.io_path = self.io_path.take();
        // The guest kernel says so on its console when it runs out of memory or panics (its
        // messages of that level pass `quiet`).
        outcome.exit.oom = outcome.observed.out_of_memory;
        if let Some(why) = outcome.observed.kernel_panic.clone() {
            outcome
                .observed
                .errors
                .push(format!("the guest kernel panicked: {why}"));
        }
        // Guest phases on the host's timeline, estimated from the guest's own clock: the guest
        // kernel started `uptime` before `ready` arrived, `/init` `init_uptime_s` after it.
        // The two clocks differ, so each estimate is held between the phases the host saw
        // (QEMU's exec and the first console byte; the first byte and `ready`), in order.
        if let Some((ready_at, view)) = &outcome.observed.ready {
            let phases = guest_phases(
                outcome
                    .phases
                    .get(&crate::ids::Phase::QemuExec)
                    .copied()
                    .unwrap_or(0),
                outcome.phases.get(&crate::ids::Phase::FirstOutput).copied(),
                ready_at.as_nanos() as u64,
                view,
            );
            outcome.phases.extend(phases);
        }
        Ok(())
    }
}

/// The guest kernel's start and `/init`'s start on the host's timeline (ns since launch),
/// from the guest clock, each clamped between the host-seen phases around it. None for a
/// restored guest: its clock ran before this launch.
fn guest_phases(
    qemu_exec: u64,
    first_output: Option<u64>,
    ready: u64,
    view: &vmbench_workload::GuestView,
) -> Vec<(crate::ids::Phase, u64)> {
    let kernel_start = ready as i128 - (view.uptime_s * 1e9) as i128;
    if kernel_start <= 0 {
        return Vec::new();
    }
    let first = first_output.unwrap_or(ready).min(ready);
    let kernel = (kernel_start as u64).clamp(qemu_exec, first);
    let mut out = vec![(crate::ids::Phase::GuestKernelStartEst, kernel)];
    if let Some(agent) = &view.agent {
        let init = kernel_start as u64 + (agent.init_uptime_s * 1e9) as u64;
        out.push((crate::ids::Phase::GuestInitEst, init.clamp(first, ready)));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn guest_phase_estimates_stay_in_order_with_what_the_host_saw() {
        let view = vmbench_workload::GuestView {
            uptime_s: 1.2,
            agent: Some(vmbench_workload::protocol::AgentBoot {
                init_uptime_s: 1.1,
                ..Default::default()
            }),
            ..Default::default()
        };
        // ready at 1.5 s, first console byte at 0.9 s: the guest clock puts the kernel's start
        // at 0.3 s and /init at 1.4 s.
        let p = super::guest_phases(270_000, Some(900_000_000), 1_500_000_000, &view);
        assert_eq!(p[0].1, 300_000_000);
        assert_eq!(p[1].1, 1_400_000_000);
        // A guest clock running ahead would put /init before the first byte: held at it.
        let early = vmbench_workload::GuestView {
            uptime_s: 1.45,
            ..view.clone()
        };
        let p = super::guest_phases(270_000, Some(900_000_000), 1_500_000_000, &early);
        assert!(p[0].1 <= 900_000_000 && p[1].1 >= 900_000_000, "{p:?}");
        // A restored guest booted long before this launch: no estimate.
        let restored = vmbench_workload::GuestView {
            uptime_s: 30.0,
            ..view
        };
        assert!(super::guest_phases(270_000, Some(1), 150_000_000, &restored).is_empty());
    }

    #[test]
    fn an_absent_qemu_is_named_with_its_package() {
        let msg = super::VmError::NoQemu.to_string();
        assert!(msg.contains("apt-get install qemu-system-x86") && msg.contains("--qemu"));
    }
}
