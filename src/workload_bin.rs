//! The `vmbench-workload` binary: embedded in vmbench at build time, extracted once into the
//! cache under its own SHA-256, and hashed by the host so every trial can prove it ran the
//! same bytes.

use crate::results::BinaryInfo;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

static EMBEDDED: &[u8] = include_bytes!(env!("VMBENCH_WORKLOAD_PATH"));

/// Errors finding or checking the workload binary.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    /// The binary could not be read or written.
    #[error("cannot use workload binary {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The binary named is not a regular file of a sane size.
    #[error("--workload-bin: {0}")]
    Input(#[from] crate::input::InputError),
    /// The binary is dynamically linked and would not run in an empty rootfs or as `/init`.
    #[error(
        "workload binary {0} is not statically linked: build it with -C target-feature=+crt-static"
    )]
    NotStatic(PathBuf),
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    vmbench_workload::view::hex(&Sha256::digest(bytes))
}

/// Whether an ELF file has neither an interpreter nor shared-library dependencies.
pub fn is_static(bytes: &[u8]) -> bool {
    match goblin::elf::Elf::parse(bytes) {
        Ok(elf) => elf.interpreter.is_none() && elf.libraries.is_empty(),
        Err(_) => false,
    }
}

/// The binary to run: `explicit` (flag or `VMBENCH_WORKLOAD_BIN`) or the embedded one,
/// extracted into `cache`.
pub fn resolve(explicit: Option<&Path>, cache: &Path) -> Result<BinaryInfo, BinaryError> {
    let explicit = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("VMBENCH_WORKLOAD_BIN").map(PathBuf::from));
    let (path, bytes) = match explicit {
        Some(path) => {
            let bytes = crate::input::read(&path)?;
            (path, bytes)
        }
        None => (extract(cache)?, EMBEDDED.to_vec()),
    };
    if !is_static(&bytes) {
        return Err(BinaryError::NotStatic(path));
    }
    Ok(BinaryInfo {
        sha256: sha256_hex(&bytes),
        bytes: bytes.len() as u64,
        path,
    })
}

fn extract(cache: &Path) -> Result<PathBuf, BinaryError> {
    let sha = sha256_hex(EMBEDDED);
    let dir = cache.join("bin").join(&sha[..16]);
    let path = dir.join("vmbench-workload");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BinaryError::Io { path, source }
    };
    if std::fs::read(&path).map(|b| b == EMBEDDED).unwrap_or(false) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io(&dir))?;
    std::io::Write::write_all(&mut tmp, EMBEDDED).map_err(io(&path))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(io(&path))?;
    tmp.persist(&path).map_err(|e| BinaryError::Io {
        path: path.clone(),
        source: e.error,
    })?;
    Ok(path)
}

/// The embedded binary's bytes.
pub fn embedded() -> &'static [u8] {
    EMBEDDED
}
