//! The errors every module shares: a user's mistake (exit status 2, one line), an I/O error
//! that names what was being done and on which path, and the one-line rendering of an error
//! with its causes.

use std::path::{Path, PathBuf};

/// A mistake in what the user asked for: exit status 2 with a one-line message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An I/O error with what was being done and the path it was done on.
#[derive(Debug, thiserror::Error)]
#[error("cannot {what} {}", path.display())]
pub struct IoError {
    /// What was being done (`read`, `create the bundle directory in`...).
    pub what: &'static str,
    /// The file or folder.
    pub path: PathBuf,
    /// The error.
    #[source]
    pub source: std::io::Error,
}

/// Turns an `std::io::Error` into an [`IoError`] doing `what` on `path`, for `map_err`.
pub fn io_at<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> IoError + 'a {
    move |source| IoError {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// An error and its causes on one line, `outer: inner: ...`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}
