//! Files the user names, read safely: only a regular file is read (a device, a FIFO or a
//! socket is refused before it is opened, so `--kernel /dev/zero` cannot read forever and a
//! FIFO cannot block an `open` that no signal interrupts), it is opened without blocking in
//! case one slips in between the check and the open, and its size is bounded. Destinations
//! get the mirror check in the `atomic` module.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest input vmbench reads whole: far above any kernel, workload binary or results
/// file a run makes (a suite's results are about 10 MB, a kernel 60).
pub const MAX_BYTES: u64 = 512 << 20;

/// Why a named file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// It is not a regular file.
    #[error("{} is {kind}, not a regular file: give the path of a file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead ("a FIFO", "a character device"...).
        kind: &'static str,
    },
    /// It is larger than any input can be.
    #[error("{} has {bytes} bytes, more than the {} MiB an input may have: give the right file", path.display(), MAX_BYTES >> 20)]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// It could not be read.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
}

/// What a file type is, in words; `None` for a regular file.
pub fn kind_of(file_type: std::fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_symlink() {
        Some("a symbolic link")
    } else if file_type.is_fifo() {
        Some("a FIFO")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else {
        Some("a special file")
    }
}

/// Checks, without opening it, that `path` (links followed) is a regular file of a sane size.
pub fn check(path: &Path) -> Result<std::fs::Metadata, InputError> {
    let meta = std::fs::metadata(path).map_err(crate::error::io_at("read", path))?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(InputError::NotAFile {
            path: path.to_path_buf(),
            kind,
        });
    }
    if meta.len() > MAX_BYTES {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            bytes: meta.len(),
        });
    }
    Ok(meta)
}

/// Opens a regular file for reading: checked first, opened without blocking, and checked
/// again through the descriptor (what was opened is what was checked).
pub fn open(path: &Path) -> Result<std::fs::File, InputError> {
    check(path)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(crate::error::io_at("open", path))?;
    let meta = file.metadata().map_err(crate::error::io_at("read", path))?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(InputError::NotAFile {
            path: path.to_path_buf(),
            kind,
        });
    }
    Ok(file)
}

/// Reads a regular file whole, at most [`MAX_BYTES`] of it.
pub fn read(path: &Path) -> Result<Vec<u8>, InputError> {
    let file = open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(crate::error::io_at("read", path))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            bytes: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"kernel").unwrap();
        assert_eq!(read(&file).unwrap(), b"kernel");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = read(&fifo).unwrap_err().to_string();
        assert!(err.contains("is a FIFO, not a regular file"), "{err}");
        let err = read(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("a character device"), "{err}");
        let err = read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("a directory"), "{err}");
        // A link to a regular file is followed; one to a device is refused.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read(&link).unwrap(), b"kernel");
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(read(&zero).is_err());
    }

    #[test]
    fn a_sparse_file_larger_than_any_input_is_refused_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_BYTES + 1).unwrap();
        let err = read(&big).unwrap_err().to_string();
        assert!(err.contains("more than the 512 MiB"), "{err}");
    }
}
