//! Where vmbench keeps what it builds or downloads once: the extracted workload binary, guest
//! kernels, container images.

use std::path::PathBuf;

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
