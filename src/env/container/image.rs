//! Container images: a root directory holding the static workload binary and what the image
//! kind puts around it — nothing (`minimal`), a static busybox userland (`busybox`), or a Debian
//! minbase system (`debian`) — and the file `file-layer` writes to (`/layer/lower.dat`). Each is built once into the cache (`image/<kind>/<hash>/`, named
//! by the binary's hash) with a record of what it holds and what building it cost, and shared
//! read-only by every instance: containers are instances of one image. A run holds a shared
//! lock on the image it uses; a build holds it exclusively, and removes older builds of the
//! same kind that no run is using.

use crate::error::io_at;
use crate::ids::ImageKind;
use crate::results::ImageRecord;
use crate::tool::ToolError;
use nix::fcntl::Flock;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;
use vmbench_workload::catalogue::{LAYER_DIR, LOWER_FILE};

/// Mount points created in every image.
pub const MOUNT_POINTS: [&str; 5] = ["proc", "dev", "tmp", "data", "sys/fs/cgroup"];

/// Why an image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A program the build needs is missing.
    #[error("building the {image} image needs {program}, which is not installed: apt-get install {package}")]
    Missing {
        /// The image.
        image: ImageKind,
        /// The program.
        program: &'static str,
        /// The Debian package holding it.
        package: &'static str,
    },
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// A record could not be written.
    #[error(transparent)]
    Write(#[from] crate::atomic::WriteError),
    /// A build tool failed.
    #[error("cannot build the {image} image: {failure}{hint}")]
    Tool {
        /// The image.
        image: ImageKind,
        /// What failed.
        failure: ToolError,
        /// Where the full log is, when there is one.
        hint: String,
    },
}

/// A built image, held in use (a shared lock) while any clone of it lives.
#[derive(Debug, Clone)]
pub struct Image {
    /// Which image.
    pub kind: ImageKind,
    /// The root directory.
    pub rootfs: PathBuf,
    /// What it holds and what it cost.
    pub record: ImageRecord,
    _in_use: Arc<Flock<File>>,
}

impl Image {
    /// Bytes on disk of its root directory.
    pub fn bytes(&self) -> u64 {
        self.record.bytes
    }

    /// Path of the workload inside the image.
    pub fn workload_path(&self) -> &'static str {
        self.kind.workload_path()
    }

    /// What one container needs on disk.
    pub fn footprint(&self) -> crate::env::Footprint {
        crate::env::Footprint {
            bytes: self.record.bytes,
            what: format!(
                "{} image: {} ({} files)",
                self.kind, self.record.base, self.record.files
            ),
        }
    }
}

/// The `kind` image for `binary` (whose SHA-256 is `sha256`), built under `cache` unless it
/// is already there.
pub fn ensure(
    kind: ImageKind,
    cache: &Path,
    binary: &Path,
    sha256: &str,
) -> Result<Image, ImageError> {
    let kinds = cache.join("image").join(kind.name());
    std::fs::create_dir_all(&kinds).map_err(io_at("create", &kinds))?;
    let name = &sha256[..16];
    let dir = kinds.join(name);
    let lock_path = kinds.join(format!("{name}.lock"));
    let lock = |exclusive| {
        crate::cache::lock(&lock_path, exclusive, true)
            .map_err(io_at("lock", &lock_path))
            .map(|l| l.expect("a waiting lock is always taken"))
    };
    if let Some(image) = load(kind, &dir, lock(false)?) {
        return Ok(image);
    }
    // Built under the exclusive lock (a concurrent builder is waited for, then found
    // complete), then used under a shared one.
    let building = lock(true)?;
    if record_of(kind, &dir).is_none() {
        build(kind, cache, binary, &dir)?;
        remove_unused(&kinds, name);
    }
    drop(building);
    let record = dir.join("record.json");
    load(kind, &dir, lock(false)?).ok_or_else(|| {
        io_at("read the record of", &record)(std::io::ErrorKind::NotFound.into()).into()
    })
}

/// The record of the complete image in `dir`.
fn record_of(kind: ImageKind, dir: &Path) -> Option<ImageRecord> {
    let record: ImageRecord =
        serde_json::from_slice(&std::fs::read(dir.join("record.json")).ok()?).ok()?;
    let workload = dir
        .join("rootfs")
        .join(kind.workload_path().trim_start_matches('/'));
    let lower = dir
        .join("rootfs")
        .join(LAYER_DIR.trim_start_matches('/'))
        .join(LOWER_FILE);
    (record.kind == kind && workload.is_file() && lower.is_file()).then_some(record)
}

/// The image in `dir` with its record, when it is complete.
fn load(kind: ImageKind, dir: &Path, in_use: Flock<File>) -> Option<Image> {
    Some(Image {
        kind,
        rootfs: dir.join("rootfs"),
        record: record_of(kind, dir)?,
        _in_use: Arc::new(in_use),
    })
}

/// Builds the image into a staging folder, then renames it to `dir`.
fn build(kind: ImageKind, cache: &Path, binary: &Path, dir: &Path) -> Result<(), ImageError> {
    let parent = dir.parent().expect("inside the cache");
    let staging =
        crate::cache::staging(parent).map_err(io_at("create a staging folder in", parent))?;
    let rootfs = staging.path().join("rootfs");
    let started = Instant::now();
    let base = match kind {
        ImageKind::Minimal => {
            std::fs::create_dir_all(&rootfs).map_err(io_at("create", &rootfs))?;
            "the static workload binary and file-layer's lower file".to_string()
        }
        ImageKind::Busybox => busybox(&rootfs)?,
        ImageKind::Debian => debian(cache, &rootfs)?,
    };
    for point in MOUNT_POINTS {
        let path = rootfs.join(point);
        std::fs::create_dir_all(&path).map_err(io_at("create", &path))?;
    }
    // The file file-layer writes to first: in the image's lowest layer.
    let layer = rootfs.join(LAYER_DIR.trim_start_matches('/'));
    std::fs::create_dir_all(&layer).map_err(io_at("create", &layer))?;
    let lower = layer.join(LOWER_FILE);
    std::fs::write(&lower, vmbench_workload::catalogue::lower_file_bytes())
        .map_err(io_at("write", &lower))?;
    let target = rootfs.join(kind.workload_path().trim_start_matches('/'));
    let folder = target.parent().expect("inside the image");
    std::fs::create_dir_all(folder).map_err(io_at("create", folder))?;
    std::fs::copy(binary, &target).map_err(io_at("copy the workload into", &target))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
        .map_err(io_at("make executable", &target))?;
    let (bytes, files) = disk_usage(&rootfs).map_err(io_at("measure", &rootfs))?;
    let record = ImageRecord {
        kind,
        base,
        bytes,
        files,
        build_ms: started.elapsed().as_secs_f64() * 1e3,
        built_at: crate::now_rfc3339(),
        engines: Default::default(),
    };
    let record_path = staging.path().join("record.json");
    crate::atomic::write(&record_path, |w| {
        serde_json::to_writer_pretty(w, &record).map_err(std::io::Error::other)
    })?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(staging.keep(), dir).map_err(io_at("move into the cache", dir))?;
    Ok(())
}

/// A static busybox with a link per applet and the `/etc` files a userland expects.
fn busybox(rootfs: &Path) -> Result<String, ImageError> {
    let source = crate::tool::which("busybox")
        .filter(|p| std::fs::read(p).is_ok_and(|b| crate::workload_bin::is_static(&b)))
        .ok_or(ImageError::Missing {
            image: ImageKind::Busybox,
            program: "a static busybox",
            package: "busybox-static",
        })?;
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).map_err(io_at("create", &bin))?;
    std::fs::copy(&source, bin.join("busybox")).map_err(io_at("copy busybox into", &bin))?;
    let tool_error = |failure| ImageError::Tool {
        image: ImageKind::Busybox,
        failure,
        hint: String::new(),
    };
    let applets = crate::tool::run(
        Command::new(&source).arg("--list-full"),
        "list busybox's applets",
    )
    .map_err(tool_error)?;
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
        let link = rootfs.join(applet);
        if link.exists() || applet.contains("..") {
            continue;
        }
        let folder = link.parent().expect("inside the image");
        std::fs::create_dir_all(folder).map_err(io_at("create", folder))?;
        std::os::unix::fs::symlink("/bin/busybox", &link).map_err(io_at("link", &link))?;
    }
    let version = crate::tool::run(&mut Command::new(&source), "ask busybox its version")
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_default();
    let etc = rootfs.join("etc");
    std::fs::create_dir_all(&etc).map_err(io_at("create", &etc))?;
    for (name, text) in [
        ("passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".to_string()),
        ("group", "root:x:0:\nnogroup:x:65534:\n".to_string()),
        ("hostname", "vmbench\n".to_string()),
        ("hosts", "127.0.0.1 localhost\n::1 localhost\n".to_string()),
        ("os-release", format!("NAME=\"BusyBox\"\nID=busybox\nVERSION_ID={}\nPRETTY_NAME=\"vmbench busybox image (BusyBox {version})\"\n", version.trim_start_matches('v'))),
    ] {
        let path = etc.join(name);
        std::fs::write(&path, text).map_err(io_at("write", &path))?;
    }
    for dir in ["root", "usr/local/bin", "var/tmp"] {
        let path = rootfs.join(dir);
        std::fs::create_dir_all(&path).map_err(io_at("create", &path))?;
    }
    Ok(format!(
        "static BusyBox {version} with its applets and /etc basics"
    ))
}

/// The Debian suite and mirror a Debian image is built from: the host's own release when the
/// host is Debian, else bookworm; `VMBENCH_DEBIAN_MIRROR` overrides the mirror.
pub fn debian_source() -> (String, String) {
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| {
        os.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim_matches('"').to_string())
    };
    let suite = match (field("ID=").as_deref(), field("VERSION_CODENAME=")) {
        (Some("debian"), Some(codename)) if !codename.is_empty() => codename,
        _ => "bookworm".to_string(),
    };
    let mirror = std::env::var("VMBENCH_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".to_string());
    (suite, mirror)
}

/// A Debian minbase root filesystem: built once per suite with `mmdebstrap` into the cache,
/// then copied (hard links, special files and owners kept) into the image.
fn debian(cache: &Path, rootfs: &Path) -> Result<String, ImageError> {
    let mmdebstrap = crate::tool::which("mmdebstrap").ok_or(ImageError::Missing {
        image: ImageKind::Debian,
        program: "mmdebstrap",
        package: "mmdebstrap",
    })?;
    let (suite, mirror) = debian_source();
    let bases = cache.join("image").join("debian-base");
    let base = bases.join(&suite);
    let log = bases.join(format!("{suite}.log"));
    let tool_error = |failure| ImageError::Tool {
        image: ImageKind::Debian,
        failure,
        hint: format!(
            " (full log: {}; a mirror can be given with VMBENCH_DEBIAN_MIRROR)",
            log.display()
        ),
    };
    std::fs::create_dir_all(&bases).map_err(io_at("create", &bases))?;
    let lock_path = bases.join(format!("{suite}.lock"));
    let _building =
        crate::cache::lock(&lock_path, true, true).map_err(io_at("lock", &lock_path))?;
    if !base.join("etc/debian_version").is_file() {
        let staging =
            crate::cache::staging(&bases).map_err(io_at("create a staging folder in", &bases))?;
        let target = staging.path().join("rootfs");
        let out = File::create(&log).map_err(io_at("create", &log))?;
        let err = out.try_clone().map_err(io_at("open", &log))?;
        crate::tool::run_logged(
            Command::new(&mmdebstrap)
                .args(["--variant=minbase", "--mode=root", "--format=directory"])
                .arg(&suite)
                .arg(&target)
                .arg(&mirror)
                .stdout(out)
                .stderr(err),
            &format!("mmdebstrap {suite} from {mirror}"),
            &log,
        )
        .map_err(tool_error)?;
        let _ = std::fs::remove_dir_all(&base);
        std::fs::rename(&target, &base).map_err(io_at("move into the cache", &base))?;
    }
    crate::tool::run(
        Command::new("cp").arg("-a").arg(&base).arg(rootfs),
        "copy the Debian base into the image",
    )
    .map_err(tool_error)?;
    let version = std::fs::read_to_string(base.join("etc/debian_version")).unwrap_or_default();
    let tool = crate::tool::version_of(&mmdebstrap).unwrap_or_default();
    Ok(format!(
        "Debian {suite} ({}) minbase from {mirror}, {tool}",
        version.trim()
    ))
}

/// Removes the other builds of one image kind that no run is using (older binaries).
fn remove_unused(kinds: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(kinds) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(other) = name.strip_suffix(".lock") else {
            continue;
        };
        if other == keep {
            continue;
        }
        if let Ok(Some(_unused)) = crate::cache::lock(&e.path(), true, false) {
            let _ = std::fs::remove_dir_all(kinds.join(other));
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Removes image builds of runs that died while building them.
pub fn remove_dead_staging(cache: &Path, dry_run: bool) -> Vec<String> {
    let images = cache.join("image");
    let folders = ImageKind::ALL
        .iter()
        .map(|k| images.join(k.name()))
        .chain(std::iter::once(images.join("debian-base")));
    folders
        .flat_map(|f| crate::cache::remove_dead_staging(&f, dry_run))
        .map(|p| format!("half-built image {}", p.display()))
        .collect()
}

/// Removes images in the layout of earlier versions (`image/<hash>/rootfs`, before image
/// kinds); called only when no run is alive, as those versions held no lock on them.
pub fn remove_legacy(cache: &Path, dry_run: bool) -> Vec<String> {
    let images = cache.join("image");
    let Ok(entries) = std::fs::read_dir(&images) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.len() == 16 && name.chars().all(|c| c.is_ascii_hexdigit()) {
            if !dry_run {
                let _ = std::fs::remove_dir_all(e.path());
            }
            removed.push(format!(
                "image of an earlier version {}",
                e.path().display()
            ));
        }
    }
    removed
}

/// Bytes allocated on disk below `path` (like `du -sb` of blocks) and the entries that are
/// not directories.
pub fn disk_usage(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    let mut total = (meta.blocks() * 512, u64::from(!meta.is_dir()));
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let (bytes, files) = disk_usage(&entry?.path())?;
            total = (total.0 + bytes, total.1 + files);
        }
    }
    Ok(total)
}

/// Evicts the regular files below `roots` from the page cache (`posix_fadvise(DONTNEED)`):
/// only these files, never the rest of the host's cache. Returns the bytes they hold.
pub fn evict(roots: &[PathBuf]) -> u64 {
    let mut bytes = 0;
    for root in roots {
        bytes += evict_below(root);
    }
    bytes
}

fn evict_below(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return 0;
        };
        return entries.flatten().map(|e| evict_below(&e.path())).sum();
    }
    if !meta.is_file() {
        return 0;
    }
    let Ok(file) = File::open(path) else {
        return 0;
    };
    let advice = nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED;
    match nix::fcntl::posix_fadvise(std::os::fd::AsRawFd::as_raw_fd(&file), 0, 0, advice) {
        Ok(()) => meta.len(),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimal_image_holds_only_the_binary_the_lower_file_and_mount_points() {
        let cache = tempfile::tempdir().unwrap();
        let bin = cache.path().join("w");
        std::fs::write(&bin, vec![7u8; 10_000]).unwrap();
        let image = ensure(ImageKind::Minimal, cache.path(), &bin, &"ab".repeat(32)).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&image.rootfs)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "data",
                "dev",
                "layer",
                "proc",
                "sys",
                "tmp",
                "vmbench-workload"
            ]
        );
        let lower = std::fs::read(image.rootfs.join("layer/lower.dat")).unwrap();
        assert_eq!(
            lower.len() as u64,
            vmbench_workload::catalogue::LOWER_MIB << 20
        );
        assert!(image.bytes() >= 10_000 + lower.len() as u64);
        assert_eq!(image.record.files, 2);
        // A second call reuses it; a new binary's build replaces the unused old one.
        let again = ensure(ImageKind::Minimal, cache.path(), &bin, &"ab".repeat(32)).unwrap();
        assert_eq!(again.record, image.record);
        drop((image, again));
        ensure(ImageKind::Minimal, cache.path(), &bin, &"cd".repeat(32)).unwrap();
        let kinds = cache.path().join("image/minimal");
        assert!(
            !kinds.join("abababababababab").exists(),
            "old build removed"
        );
        assert!(kinds.join("cdcdcdcdcdcdcdcd/rootfs").is_dir());
    }

    #[test]
    fn an_image_in_use_is_not_removed_by_a_newer_build() {
        let cache = tempfile::tempdir().unwrap();
        let bin = cache.path().join("w");
        std::fs::write(&bin, b"x").unwrap();
        let old = ensure(ImageKind::Minimal, cache.path(), &bin, &"ab".repeat(32)).unwrap();
        ensure(ImageKind::Minimal, cache.path(), &bin, &"cd".repeat(32)).unwrap();
        assert!(old.rootfs.is_dir(), "still in use");
    }

    #[test]
    fn the_busybox_image_has_a_userland_when_busybox_static_is_installed() {
        let cache = tempfile::tempdir().unwrap();
        let bin = cache.path().join("w");
        std::fs::write(&bin, b"x").unwrap();
        match ensure(ImageKind::Busybox, cache.path(), &bin, &"ab".repeat(32)) {
            Ok(image) => {
                assert!(image.rootfs.join("bin/sh").is_symlink());
                assert!(image
                    .rootfs
                    .join("usr/local/bin/vmbench-workload")
                    .is_file());
                assert!(image.record.files > 100, "{} files", image.record.files);
                assert!(image.record.base.contains("BusyBox"));
            }
            Err(e @ ImageError::Missing { .. })
                if std::env::var_os("VMBENCH_REQUIRE_ALL").is_none() =>
            {
                println!("SKIP busybox image: {e}");
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn evicting_reports_the_bytes_of_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 5000]).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("link")).unwrap();
        assert_eq!(evict(&[dir.path().to_path_buf()]), 5000);
    }
}
