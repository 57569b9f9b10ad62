//! The guest kernel: found (`--kernel`, `VMBENCH_KERNEL`, the cache) or provisioned into the
//! cache from the distribution's kernel package (Debian: `apt-get download linux-image-*`,
//! `dpkg-deb -x`, `depmod`). The uncompressed `vmlinux` is extracted from the bzImage once:
//! it has a PVH entry, so QEMU boots it directly without decompressing ~50 MB per boot.

use super::VmError;
use crate::error::io_at;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Module paths (relative to `lib/modules/<version>/`) kept in the cache: what a guest of
/// vmbench can need, so the 400 MB module tree is not copied whole.
const KEPT_MODULE_DIRS: [&str; 15] = [
    "kernel/drivers/virtio",
    "kernel/drivers/block/virtio_blk.ko",
    "kernel/drivers/char/virtio_console.ko",
    "kernel/drivers/net/virtio_net.ko",
    "kernel/drivers/net/net_failover.ko",
    "kernel/net/core/failover.ko",
    "kernel/fs",
    "kernel/lib",
    // The host matrix's guests: the host's root over 9p, and KVM inside a TCG guest.
    "kernel/net/9p/9pnet.ko",
    "kernel/net/9p/9pnet_virtio.ko",
    "kernel/arch/x86/kvm/kvm.ko",
    "kernel/arch/x86/kvm/kvm-amd.ko",
    "kernel/arch/x86/kvm/kvm-intel.ko",
    "kernel/virt/lib/irqbypass.ko",
    "kernel/drivers/crypto/ccp/ccp.ko",
];
/// The file in a cached kernel listing the module paths it was provisioned with (present in
/// the package or not), so a kernel that lacks one is provisioned again only once.
const KEPT_LIST: &str = "kept-modules";
/// Single modules kept besides the directories above.
const KEPT_MODULES: [&str; 1] = ["kernel/crypto/crc32c_generic.ko"];

/// A guest kernel ready to boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// Release, e.g. `6.1.0-56-amd64`.
    pub version: String,
    /// What QEMU boots: the uncompressed PVH `vmlinux` when available, else the bzImage.
    pub image: PathBuf,
    /// `lib/modules/<version>` with `modules.dep`, when modules are available.
    pub modules: Option<PathBuf>,
    /// Where it came from.
    pub source: String,
}

impl Kernel {
    /// Its folder in the cache, when it came from there.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.source
            .starts_with("cache ")
            .then(|| self.image.parent())
            .flatten()
    }
}

/// Finds a kernel: an explicit path (flag or `VMBENCH_KERNEL`), else the newest in the cache.
pub fn find(explicit: Option<&Path>, cache: &Path) -> Result<Option<Kernel>, VmError> {
    let explicit = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("VMBENCH_KERNEL").map(PathBuf::from));
    if let Some(path) = explicit {
        return from_path(&path).map(Some);
    }
    let dir = cache.join("kernel");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("vmlinux").is_file())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| version_key(&p.file_name().unwrap_or_default().to_string_lossy()));
    Ok(versions.last().map(|v| cached(v)))
}

/// Orders releases naturally: digit runs compare as numbers (`6.1.0-56` after `6.1.0-9`).
fn version_key(s: &str) -> Vec<(u64, String)> {
    let mut key = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits > 0 {
            key.push((rest[..digits].parse().unwrap_or(u64::MAX), String::new()));
            rest = &rest[digits..];
        } else {
            let text = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            key.push((0, rest[..text].to_string()));
            rest = &rest[text..];
        }
    }
    key
}

fn cached(dir: &Path) -> Kernel {
    let version = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let modules = dir.join("lib/modules").join(&version);
    Kernel {
        image: dir.join("vmlinux"),
        modules: modules.join("modules.dep").is_file().then_some(modules),
        source: format!("cache {}", dir.display()),
        version,
    }
}

/// Checks that `path` is a Linux kernel QEMU can boot directly: a bzImage, or an ELF
/// `vmlinux` whose loadable segments are all in the file (a truncated one is not).
pub fn check_image(path: &Path) -> Result<(), crate::env::Unavailable> {
    let fix = "pass --kernel a bzImage or vmlinux (or unset VMBENCH_KERNEL to use the cached one)";
    let bytes = crate::input::read(path).map_err(|e| {
        crate::env::Unavailable::new(format!("--kernel: {}", crate::error_chain(&e)), fix)
    })?;
    if bzimage_version(&bytes).is_some() || elf_complete(&bytes) {
        Ok(())
    } else {
        Err(crate::env::Unavailable::new(
            format!(
                "{} is not a Linux kernel image (neither a bzImage nor a whole ELF vmlinux)",
                path.display()
            ),
            fix,
        ))
    }
}

/// Whether `bytes` are an ELF executable whose loadable segments all lie inside them.
pub fn elf_complete(bytes: &[u8]) -> bool {
    let Ok(elf) = goblin::elf::Elf::parse(bytes) else {
        return false;
    };
    elf.program_headers
        .iter()
        .filter(|ph| ph.p_type == goblin::elf::program_header::PT_LOAD)
        .all(|ph| ph.p_offset.saturating_add(ph.p_filesz) <= bytes.len() as u64)
}

/// A kernel given by path; modules are looked for beside it (`lib/modules/<version>`).
fn from_path(path: &Path) -> Result<Kernel, VmError> {
    let bytes = crate::input::read(path)?;
    let version = bzimage_version(&bytes).unwrap_or_else(|| "unknown".into());
    let mut modules = None;
    for base in path.ancestors().skip(1).take(3) {
        let candidate = base.join("lib/modules").join(&version);
        if candidate.join("modules.dep").is_file() {
            modules = Some(candidate);
            break;
        }
    }
    Ok(Kernel {
        version,
        image: path.to_path_buf(),
        modules,
        source: format!("given {}", path.display()),
    })
}

/// The release string in a bzImage's setup header (`kernel_version` field), first word.
pub fn bzimage_version(bytes: &[u8]) -> Option<String> {
    if bytes.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let offset = u16::from_le_bytes([*bytes.get(0x20e)?, *bytes.get(0x20f)?]) as usize + 0x200;
    let text = bytes.get(offset..offset + 128)?;
    let end = text.iter().position(|b| *b == 0 || *b == b' ')?;
    Some(String::from_utf8_lossy(&text[..end]).into_owned())
}

/// Extracts the uncompressed kernel from a bzImage's xz payload.
///
/// The payload is followed by other bytes (its size, padding), so decoding stops at the end of
/// the first stream, whose own check has then been verified, instead of reading to the end.
pub fn extract_vmlinux(bzimage: &[u8]) -> Option<Vec<u8>> {
    use xz2::stream::{Action, Status, Stream};
    const XZ_MAGIC: &[u8] = b"\xfd7zXZ\x00";
    let start = bzimage
        .windows(XZ_MAGIC.len())
        .position(|w| w == XZ_MAGIC)?;
    let mut input = &bzimage[start..];
    let mut stream = Stream::new_stream_decoder(u64::MAX, 0).ok()?;
    let mut out = Vec::with_capacity(64 << 20);
    loop {
        if out.capacity() - out.len() < (1 << 20) {
            out.reserve(16 << 20);
        }
        let before_in = stream.total_in();
        let status = stream.process_vec(input, &mut out, Action::Run).ok()?;
        input = &input[(stream.total_in() - before_in) as usize..];
        match status {
            Status::StreamEnd => break,
            _ if input.is_empty() && status != Status::Ok => return None,
            _ => {}
        }
    }
    (out.get(..4) == Some(b"\x7fELF")).then_some(out)
}

fn run(cmd: &mut Command, what: &'static str) -> Result<String, VmError> {
    crate::tool::run(cmd, what).map_err(VmError::from)
}

/// The versioned kernel package the distribution's metapackage points to.
pub fn package_name() -> Result<String, VmError> {
    let text = run(
        Command::new("apt-cache").args(["depends", "linux-image-amd64"]),
        "apt-cache depends linux-image-amd64",
    )?;
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Depends: ")
                .filter(|p| p.starts_with("linux-image-"))
                .map(str::to_string)
        })
        .ok_or(VmError::Tool {
            what: "find the kernel package",
            detail: "linux-image-amd64 depends on no linux-image package".into(),
        })
}

/// Downloads and unpacks the distribution kernel into the cache; returns it ready to boot.
pub fn provision(cache: &Path) -> Result<Kernel, VmError> {
    let package = package_name()?;
    let version = package.trim_start_matches("linux-image-").to_string();
    // Staged inside the cache, named by its owner: removed on any error or interruption,
    // and by the next run if this one is killed.
    let kernels = cache.join("kernel");
    let work = crate::cache::staging(&kernels)
        .map_err(io_at("create a scratch directory in", &kernels))?;
    run(
        Command::new("apt-get")
            .args(["download", &package])
            .current_dir(work.path()),
        "apt-get download the kernel package",
    )?;
    let deb = std::fs::read_dir(work.path())
        .ok()
        .and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "deb"))
        })
        .ok_or(VmError::Tool {
            what: "apt-get download the kernel package",
            detail: "no .deb was downloaded".into(),
        })?;
    let tree = work.path().join("tree");
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree),
        "dpkg-deb -x the kernel package",
    )?;

    let staging = work.path().join(&version);
    std::fs::create_dir_all(&staging).map_err(io_at("create", &staging))?;
    let vmlinuz = tree.join("boot").join(format!("vmlinuz-{version}"));
    let bzimage = std::fs::read(&vmlinuz).map_err(io_at("read", &vmlinuz))?;
    let vmlinux = extract_vmlinux(&bzimage).ok_or(VmError::Tool {
        what: "extract vmlinux",
        detail: format!("no xz-compressed ELF payload in {}", vmlinuz.display()),
    })?;
    std::fs::write(staging.join("vmlinux"), vmlinux).map_err(io_at("write", &staging))?;
    std::fs::write(staging.join("vmlinuz"), &bzimage).map_err(io_at("write", &staging))?;
    let _ = std::fs::copy(
        tree.join("boot").join(format!("config-{version}")),
        staging.join("config"),
    );

    let from = tree.join("lib/modules").join(&version);
    keep_modules(&from, &staging.join("lib/modules").join(&version), &staging)?;
    run(
        Command::new(depmod()).arg("-b").arg(&staging).arg(&version),
        "depmod",
    )?;

    write_checksums(&staging)?;
    let dest = kernels.join(&version);
    if verify(&dest).is_err() {
        let _ = std::fs::remove_dir_all(&dest);
        std::fs::rename(&staging, &dest).map_err(io_at("move into the cache", &dest))?;
    }
    let mut kernel = cached(&dest);
    kernel.source = format!(
        "provisioned from Debian package {package} into {}",
        dest.display()
    );
    Ok(kernel)
}

/// The guest kernel: `explicit` (`--kernel`), `VMBENCH_KERNEL` or the cache's, provisioned
/// into the cache when there is none, and again when the cached one fails its checksums or
/// lacks modules this version keeps (cached by an older vmbench).
pub fn ensure(explicit: Option<&Path>, cache: &Path) -> Result<Kernel, VmError> {
    let Some(k) = find(explicit, cache)? else {
        eprintln!(
            "vmbench: no guest kernel cached; provisioning the distribution kernel into {}",
            cache.display()
        );
        return provision(cache);
    };
    let Some(dir) = k.cache_dir().map(Path::to_path_buf) else {
        return Ok(k);
    };
    let why = match verify(&dir) {
        Err(why) => format!("is corrupt ({why})"),
        Ok(()) => match missing_module(&k) {
            Some(rel) => format!("lacks {rel} (cached by an older vmbench)"),
            None => return Ok(k),
        },
    };
    eprintln!(
        "vmbench: the cached guest kernel in {} {why}; provisioning it again",
        dir.display(),
    );
    std::fs::remove_dir_all(&dir).map_err(io_at("remove the cached kernel", &dir))?;
    provision(cache)
}

/// Every module path this version keeps.
fn kept() -> impl Iterator<Item = &'static str> {
    KEPT_MODULE_DIRS.iter().chain(KEPT_MODULES.iter()).copied()
}

/// The first module path this version keeps that a cached kernel was not provisioned with
/// (one the package itself lacks does not count).
fn missing_module(kernel: &Kernel) -> Option<&'static str> {
    let dir = kernel.cache_dir()?;
    let asked = std::fs::read_to_string(dir.join(KEPT_LIST)).unwrap_or_default();
    kept().find(|rel| !asked.lines().any(|l| l == *rel))
}

/// Copies the module paths a guest of vmbench can need from the package's tree `from` into
/// `to`, with the list of what was asked (`KEPT_LIST` in `staging`) and the module indexes.
fn keep_modules(from: &Path, to: &Path, staging: &Path) -> Result<(), VmError> {
    for rel in kept() {
        copy_tree(&from.join(rel), &to.join(rel))
            .map_err(io_at("copy modules", &from.join(rel)))?;
    }
    let asked: String = kept().map(|rel| format!("{rel}\n")).collect();
    std::fs::write(staging.join(KEPT_LIST), asked).map_err(io_at("write", staging))?;
    for file in [
        "modules.builtin",
        "modules.order",
        "modules.builtin.modinfo",
    ] {
        let _ = std::fs::copy(from.join(file), to.join(file));
    }
    Ok(())
}

fn depmod() -> PathBuf {
    crate::tool::which("depmod").unwrap_or_else(|| PathBuf::from("/sbin/depmod"))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if !from.exists() {
        return Ok(());
    }
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, to).map(drop)
    }
}

/// How the kernel will be obtained, for `doctor`.
pub fn describe(explicit: Option<&Path>, cache: &Path) -> Result<String, crate::env::Unavailable> {
    use crate::env::Unavailable;
    match find(explicit, cache) {
        Ok(Some(k)) => match k.cache_dir().map(verify) {
            Some(Err(why)) if crate::tool::which("apt-get").is_some() => Ok(format!(
                "{} cached but corrupt ({why}): provisioned again on the next VM run",
                k.version
            )),
            Some(Err(why)) => Err(Unavailable::new(
                format!("the cached guest kernel is corrupt: {why}"),
                "pass --kernel PATH (or set VMBENCH_KERNEL)",
            )),
            _ => Ok(format!("{} ({})", k.version, k.source)),
        },
        Ok(None) if crate::tool::which("apt-get").is_some() => Ok("not cached yet: provisioned on first VM run with apt-get download linux-image-amd64's kernel".into()),
        Ok(None) => Err(Unavailable::new(
            "no guest kernel",
            "pass --kernel PATH (or set VMBENCH_KERNEL) to a bzImage whose modules sit beside it",
        )),
        Err(e) => Err(Unavailable::new(
            crate::error_chain(&e),
            "check --kernel / VMBENCH_KERNEL",
        )),
    }
}

/// The files of a cached kernel whose checksums are recorded.
const CHECKED: [&str; 2] = ["vmlinux", "vmlinuz"];
/// Where they are recorded, beside them.
const CHECKSUMS: &str = "SHA256SUMS";

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    Ok(vmbench_workload::view::hex(&hasher.finalize()))
}

/// Records the checksums of a kernel being put in the cache.
fn write_checksums(dir: &Path) -> Result<(), VmError> {
    let mut text = String::new();
    for name in CHECKED {
        let file = dir.join(name);
        let sum = sha256_file(&file).map_err(io_at("hash", &file))?;
        text.push_str(&format!("{sum}  {name}\n"));
    }
    let file = dir.join(CHECKSUMS);
    std::fs::write(&file, text).map_err(io_at("write", &file))?;
    Ok(())
}

/// What is wrong with the cached kernel, if anything (for `doctor`).
pub fn cache_problem(cache: &Path) -> Option<String> {
    let kernel = find(None, cache).ok()??;
    let why = verify(kernel.cache_dir()?).err()?;
    Some(format!(
        "the cached guest kernel {} is corrupt: {why}",
        kernel.version
    ))
}

/// A stamp of the checked files' sizes and modification times, written after a full check:
/// while it still matches, the files are as they were checked and need no new hashing.
fn stamp(dir: &Path) -> String {
    CHECKED
        .iter()
        .map(|name| {
            let m = std::fs::metadata(dir.join(name)).ok();
            let size = m.as_ref().map_or(0, std::fs::Metadata::len);
            let mtime = m
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{name} {size} {mtime}\n")
        })
        .collect()
}

/// Checks a cached kernel against its recorded checksums: a truncated or altered file makes
/// it corrupt. Hashing happens when the files changed since the last check (their first use).
pub fn verify(dir: &Path) -> Result<(), String> {
    let stamp_file = dir.join(".verified");
    if std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp(dir)) {
        return Ok(());
    }
    verify_hashes(dir)?;
    let _ = std::fs::write(&stamp_file, stamp(dir));
    Ok(())
}

/// Checks the recorded checksums by hashing the files.
fn verify_hashes(dir: &Path) -> Result<(), String> {
    if !dir.join(CHECKSUMS).exists() {
        // Cached by a version that recorded no checksums: adopted when its vmlinux is whole.
        let image = std::fs::read(dir.join("vmlinux")).map_err(|e| e.to_string())?;
        if !elf_complete(&image) {
            return Err("vmlinux is not a whole ELF image".into());
        }
        return write_checksums(dir).map_err(|e| crate::error_chain(&e));
    }
    let recorded = std::fs::read_to_string(dir.join(CHECKSUMS))
        .map_err(|_| format!("no {CHECKSUMS} in {}", dir.display()))?;
    for line in recorded.lines() {
        let Some((sum, name)) = line.split_once("  ") else {
            continue;
        };
        let actual = sha256_file(&dir.join(name))
            .map_err(|e| format!("{}: {e}", dir.join(name).display()))?;
        if actual != sum {
            return Err(format!(
                "{} does not match its recorded checksum",
                dir.join(name).display()
            ));
        }
    }
    Ok(())
}

/// Removes kernel staging folders of runs that died while provisioning.
pub fn remove_dead_staging(cache: &Path, dry_run: bool) -> Vec<String> {
    crate::cache::remove_dead_staging(&cache.join("kernel"), dry_run)
        .into_iter()
        .map(|p| format!("half-provisioned kernel {}", p.display()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_kernel_cached_without_a_kept_module_is_found_once() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("6.1.0-test");
        std::fs::create_dir_all(&at).unwrap();
        let kernel = super::cached(&at);
        // Cached by an older vmbench: no list, so the first kept path is missing.
        assert_eq!(
            super::missing_module(&kernel),
            Some(super::KEPT_MODULE_DIRS[0])
        );
        let older: String = super::KEPT_MODULE_DIRS[..8]
            .iter()
            .chain(super::KEPT_MODULES.iter())
            .map(|r| format!("{r}\n"))
            .collect();
        std::fs::write(at.join(super::KEPT_LIST), older).unwrap();
        assert_eq!(
            super::missing_module(&kernel),
            Some("kernel/net/9p/9pnet.ko")
        );
        // Provisioned by this version: nothing is missing, even where the package had no
        // such module (no file below), so it is not provisioned again and again.
        let all: String = super::kept().map(|r| format!("{r}\n")).collect();
        std::fs::write(at.join(super::KEPT_LIST), all).unwrap();
        assert_eq!(super::missing_module(&kernel), None);
    }

    use super::*;

    #[test]
    fn bzimage_header_gives_the_release() {
        let mut image = vec![0u8; 0x1000];
        image[0x202..0x206].copy_from_slice(b"HdrS");
        let at = 0x400usize;
        image[0x20e..0x210].copy_from_slice(&((at - 0x200) as u16).to_le_bytes());
        image[at..at + 40].copy_from_slice(b"6.1.0-56-amd64 (debian-kernel@lists) #1\0");
        assert_eq!(bzimage_version(&image).as_deref(), Some("6.1.0-56-amd64"));
        assert_eq!(bzimage_version(&[0u8; 10]), None);
    }

    #[test]
    fn vmlinux_is_found_behind_the_xz_magic() {
        use std::io::Write;
        let elf = b"\x7fELF and the rest of a kernel".to_vec();
        let mut enc = xz2::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(&elf).unwrap();
        let mut bz = b"setup code and decompressor".to_vec();
        bz.extend(enc.finish().unwrap());
        bz.extend(b"trailing size bytes");
        assert_eq!(extract_vmlinux(&bz), Some(elf));
        assert_eq!(extract_vmlinux(b"no payload"), None);
    }

    #[test]
    fn the_cache_is_searched_for_the_newest_kernel() {
        let cache = tempfile::tempdir().unwrap();
        for v in ["6.1.0-9-amd64", "6.1.0-56-amd64"] {
            let d = cache.path().join("kernel").join(v);
            std::fs::create_dir_all(d.join("lib/modules").join(v)).unwrap();
            std::fs::write(d.join("vmlinux"), b"x").unwrap();
        }
        let k = find(None, cache.path()).unwrap().unwrap();
        assert_eq!(k.version, "6.1.0-56-amd64", "56 is newer than 9");
        assert_eq!(k.modules, None, "no modules.dep, no modules");
    }
}
