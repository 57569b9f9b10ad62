//! Atomic file writes: a temporary file in the destination's folder, written through a buffer,
//! flushed to disk, then renamed over the destination. A reader sees the old file or the new
//! one, never half of one, and an interruption leaves no partial file behind.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why a destination cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The folder the file would go in does not exist.
    #[error("folder {0} does not exist: create it or choose another path")]
    NoFolder(PathBuf),
    /// The destination is a directory.
    #[error("{0} is a directory: give a file name")]
    IsDirectory(PathBuf),
    /// The destination exists and is not a regular file: a device, a FIFO, a socket or a
    /// symbolic link, which a rename would replace (`--out /dev/null` would break the host).
    #[error("{} is {kind}, not a regular file: give the path of a file to write", path.display())]
    NotAFile {
        /// The destination.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// Writing failed.
    #[error("cannot write {path}")]
    Io {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The folder a file at `path` lives in (`.` for a bare name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Refuses a destination that exists and is not a regular file (its link itself, not what
/// it points to, is looked at: a rename replaces the link).
fn refuse_special(path: &Path) -> Result<(), WriteError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    match crate::input::kind_of(meta.file_type()) {
        None => Ok(()),
        Some(_) if meta.is_dir() => Err(WriteError::IsDirectory(path.to_path_buf())),
        Some(kind) => Err(WriteError::NotAFile {
            path: path.to_path_buf(),
            kind,
        }),
    }
}

/// Writes `path` atomically with mode 0644; `fill` writes the content. A destination that
/// exists and is not a regular file is refused, checked again just before the rename.
pub fn write(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let folder = folder_of(path);
    if !folder.is_dir() {
        return Err(WriteError::NoFolder(folder.to_path_buf()));
    }
    refuse_special(path)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".vmbench-")
        .suffix(".tmp")
        .tempfile_in(folder)
        .map_err(io)?;
    // Buffered: serde writes many small pieces, and an unbuffered file turned each into a
    // system call (2.5 s per save of a 9 MB results file).
    let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
    fill(&mut out).map_err(io)?;
    out.flush().map_err(io)?;
    drop(out);
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    refuse_special(path)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Checks early that `path` can be written, so a bad destination fails before any work.
pub fn check_writable(path: &Path) -> Result<(), WriteError> {
    refuse_special(path)?;
    let folder = folder_of(path);
    if !folder.is_dir() {
        return Err(WriteError::NoFolder(folder.to_path_buf()));
    }
    tempfile::Builder::new()
        .prefix(".vmbench-probe-")
        .tempfile_in(folder)
        .map(drop)
        .map_err(|source| WriteError::Io {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_write_replaces_the_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        write(&path, |w| w.write_all(b"one")).unwrap();
        write(&path, |w| w.write_all(b"two")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A failing fill leaves the old content and no temporary file.
        let failed = write(&path, |_| Err(std::io::Error::other("boom")));
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_destination_that_is_not_a_regular_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for (path, kind) in [
            (fifo.as_path(), "a FIFO"),
            (link.as_path(), "a symbolic link"),
            (Path::new("/dev/null"), "a character device"),
        ] {
            let err = check_writable(path).unwrap_err().to_string();
            assert!(err.contains(kind), "{err}");
            let err = write(path, |w| w.write_all(b"x")).unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        // Nothing was left beside them.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn bad_destinations_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_writable(&dir.path().join("no/such/r.json")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = check_writable(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert!(check_writable(&dir.path().join("ok.json")).is_ok());
    }
}
