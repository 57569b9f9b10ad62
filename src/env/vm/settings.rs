//! What every guest of a run shares, prepared once: QEMU, the kernel (provisioned into the
//! cache when missing or corrupt), the initramfs holding the workload as `/init` with the
//! modules it needs, and the ext4 data disk for file-io.

use super::{initramfs, kernel, qemu, VmError};
use crate::config::{Machine, RunConfig};
use crate::env::Unavailable;
use crate::error::io_at;
use crate::results::{BinaryInfo, HostInfo};
use std::path::{Path, PathBuf};
use std::process::Command;
use vmbench_workload::Workload;

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

fn make_disk(dir: &Path) -> Result<(tempfile::TempPath, bool), VmError> {
    let file = tempfile::Builder::new()
        .prefix("vmbench-disk-")
        .suffix(".img")
        .tempfile_in(dir)
        .map_err(io_at("create a disk image in", dir))?;
    file.as_file()
        .set_len(DISK_MIB << 20)
        .map_err(io_at("size the disk image in", dir))?;
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

/// The modules the run's guests need, in load order, resolved from the kernel's
/// `modules.dep`.
fn guest_modules(
    kernel: &kernel::Kernel,
    machine: Machine,
    config: &RunConfig,
) -> Result<Vec<String>, VmError> {
    let needs_disk = config.workloads.contains(&Workload::FileIo);
    let needs_net = config.workloads.iter().any(|w| w.crosses_network());
    let wanted = initramfs::needed_modules(machine, needs_disk, needs_net);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let dir = kernel
        .modules
        .as_ref()
        .ok_or_else(|| VmError::NoModules(kernel.version.clone()))?;
    let dep_file = dir.join("modules.dep");
    let dep = std::fs::read_to_string(&dep_file).map_err(io_at("read", &dep_file))?;
    initramfs::resolve_modules(&dep, &wanted).map_err(VmError::Module)
}

/// The initramfs of this binary, kernel and modules, built into the cache once (atomically:
/// a run killed while building leaves no half-written file).
fn cached_initramfs(
    binary: &BinaryInfo,
    kernel: &kernel::Kernel,
    modules: &[String],
    cache: &Path,
) -> Result<PathBuf, VmError> {
    let initramfs = initramfs::cache_path(cache, &binary.sha256, &kernel.version, modules);
    if initramfs.is_file() {
        return Ok(initramfs);
    }
    let dir = initramfs.parent().expect("cache path has a parent");
    std::fs::create_dir_all(dir).map_err(io_at("create", dir))?;
    let bytes = std::fs::read(&binary.path).map_err(io_at("read", &binary.path))?;
    let archive = initramfs::build(&bytes, kernel.modules.as_deref(), modules)?;
    crate::atomic::write(&initramfs, |out| out.write_all(&archive))?;
    Ok(initramfs)
}

/// Prepares QEMU, the kernel (provisioned if needed), the initramfs and the data disk.
pub fn prepare(
    binary: &BinaryInfo,
    config: &RunConfig,
    cache: &Path,
    work_dir: &Path,
    host: &mut HostInfo,
) -> Result<VmSettings, VmError> {
    let qemu = super::find_qemu(config.qemu.as_deref()).map_err(|_| VmError::NoQemu)?;
    let kernel = kernel::ensure(config.kernel.as_deref(), cache)?;
    let machine = config.vm_machine.unwrap_or(Machine::Microvm);
    let modules = guest_modules(&kernel, machine, config)?;
    let initramfs = cached_initramfs(binary, &kernel, &modules, cache)?;
    let (disk, disk_direct) = if config.workloads.contains(&Workload::FileIo) {
        let (p, d) = make_disk(work_dir)?;
        (Some(p), d)
    } else {
        (None, false)
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
        kvm: super::accel::kvm_usable(),
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
