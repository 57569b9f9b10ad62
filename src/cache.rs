//! Where vmbench keeps what it builds or downloads once: the extracted workload binary, guest
//! kernels, container images. Builds happen in `.staging-<pid>-…` folders inside the cache and
//! are renamed into place when complete, so a reader never sees half of one and a build whose
//! run died is recognisable by its pid.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The cache root: `$VMBENCH_CACHE`, else `$XDG_CACHE_HOME/vmbench`, else `~/.cache/vmbench`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VMBENCH_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("vmbench");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/vmbench"),
        None => PathBuf::from("/var/cache/vmbench"),
    }
}

/// The cache root, created if needed; an unusable one is named with its fix.
pub fn writable_cache_dir() -> Result<PathBuf, String> {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir)
        .and_then(|_| tempfile::tempfile_in(&dir).map(drop))
        .map_err(|e| {
            format!(
                "cannot write the cache at {} ({e}): set VMBENCH_CACHE to a writable folder",
                dir.display()
            )
        })?;
    Ok(dir)
}

/// A lock on a cached item, through the lock file at `path` (created if needed): exclusive
/// while it is built or removed, shared while a run uses it. Waits for it unless `wait` is
/// false, then `None` when someone else holds it. A wait ends with an error when the user
/// interrupts vmbench.
pub fn lock(path: &Path, exclusive: bool, wait: bool) -> std::io::Result<Option<Flock<File>>> {
    let arg = if exclusive {
        FlockArg::LockExclusiveNonblock
    } else {
        FlockArg::LockSharedNonblock
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    loop {
        match Flock::lock(file, arg) {
            Ok(lock) => return Ok(Some(lock)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if !wait => return Ok(None),
            Err((back, nix::errno::Errno::EWOULDBLOCK)) => {
                if crate::interrupt::interrupted() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::Interrupted,
                        format!("interrupted while waiting for {}", path.display()),
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
                file = back;
            }
            Err((_, errno)) => return Err(errno.into()),
        }
    }
}

/// A fresh staging folder for a build inside `dir`, named by this process.
pub fn staging(dir: &Path) -> std::io::Result<tempfile::TempDir> {
    std::fs::create_dir_all(dir)?;
    tempfile::Builder::new()
        .prefix(&format!(".staging-{}-", std::process::id()))
        .tempdir_in(dir)
}

/// Removes the staging folders in `dir` of processes that died while building; returns them.
pub fn remove_dead_staging(dir: &Path, dry_run: bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let owner = name
            .strip_prefix(".staging-")
            .and_then(|r| r.split('-').next()?.parse::<i32>().ok());
        if owner.is_some_and(|pid| !crate::owner::pid_alive(pid)) {
            if !dry_run {
                let _ = std::fs::remove_dir_all(e.path());
            }
            removed.push(e.path());
        }
    }
    removed
}
