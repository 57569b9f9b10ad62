//! The minimal container image: a root directory holding only the static workload binary and
//! the empty mount points it needs. Built once into the cache, named by the binary's hash,
//! and shared read-only by every instance: containers are instances of one image.

use std::path::{Path, PathBuf};

/// Path of the workload inside the image.
pub const WORKLOAD_PATH: &str = "/vmbench-workload";
/// Mount points created in the image.
pub const MOUNT_POINTS: [&str; 5] = ["proc", "dev", "tmp", "data", "sys/fs/cgroup"];

/// A built image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The root directory.
    pub rootfs: PathBuf,
    /// Bytes on disk (files plus directories).
    pub bytes: u64,
}

impl Image {
    /// What one container needs on disk.
    pub fn footprint(&self) -> crate::env::Footprint {
        crate::env::Footprint {
            bytes: self.bytes,
            what: "image: rootfs holding the static workload binary and empty mount points".into(),
        }
    }
}

/// Builds the image for `binary` under `cache` unless it is already there.
pub fn ensure(cache: &Path, binary: &Path, sha256: &str) -> std::io::Result<Image> {
    let base = cache.join("image").join(&sha256[..16]);
    let rootfs = base.join("rootfs");
    if !rootfs.join(WORKLOAD_PATH.trim_start_matches('/')).is_file() {
        std::fs::create_dir_all(&base)?;
        let staging = tempfile::Builder::new()
            .prefix("rootfs-")
            .tempdir_in(&base)?;
        for dir in MOUNT_POINTS {
            std::fs::create_dir_all(staging.path().join(dir))?;
        }
        let target = staging.path().join(WORKLOAD_PATH.trim_start_matches('/'));
        std::fs::copy(binary, &target)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, &rootfs) {
            // Another run built it first.
            let _ = std::fs::remove_dir_all(&staged);
            if !rootfs.is_dir() {
                return Err(e);
            }
        }
    }
    Ok(Image {
        bytes: disk_usage(&rootfs)?,
        rootfs,
    })
}

/// Bytes allocated on disk below `path` (like `du -sb` of blocks).
pub fn disk_usage(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    let mut total = meta.blocks() * 512;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            total += disk_usage(&entry?.path())?;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_holds_only_the_binary_and_mount_points() {
        let cache = tempfile::tempdir().unwrap();
        let bin = cache.path().join("w");
        std::fs::write(&bin, vec![7u8; 10_000]).unwrap();
        let image = ensure(cache.path(), &bin, &"ab".repeat(32)).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&image.rootfs)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["data", "dev", "proc", "sys", "tmp", "vmbench-workload"]
        );
        assert!(image.bytes >= 10_000);
        // A second call reuses it.
        assert_eq!(ensure(cache.path(), &bin, &"ab".repeat(32)).unwrap(), image);
    }
}
