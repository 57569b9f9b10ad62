//! Running the external tools vmbench needs while it prepares (apt-get, dpkg-deb, depmod,
//! mkfs.ext4, a runtime's `delete`...): their output captured, their last error line kept, the
//! tool tied to vmbench's life (a parent-death signal), and the user's Ctrl-C honoured: the tool
//! is killed at once and the caller's guards clean up what it was making.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Why a tool did not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// It could not be started.
    #[error("cannot run {what}")]
    Start {
        /// What it was to do.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// It ran and failed.
    #[error("{what} failed: {detail}")]
    Failed {
        /// What it was to do.
        what: String,
        /// Its last error line.
        detail: String,
    },
    /// The user interrupted vmbench; the tool was killed.
    #[error("interrupted while {what}")]
    Interrupted {
        /// What it was doing.
        what: String,
    },
}

/// Runs `cmd` to its end and returns its standard output; `what` names it in errors.
pub fn run(cmd: &mut Command, what: &str) -> Result<String, ToolError> {
    run_within(cmd, what, None)
}

/// Like [`run`], killing the tool if it has not ended within `limit`.
pub fn run_within(
    cmd: &mut Command,
    what: &str,
    limit: Option<Duration>,
) -> Result<String, ToolError> {
    cmd.stdin(Stdio::null());
    run_fed(cmd, what, limit)
}

/// Like [`run_within`], with the standard input the caller gave `cmd` (a pipe from another
/// program).
pub fn run_fed(
    cmd: &mut Command,
    what: &str,
    limit: Option<Duration>,
) -> Result<String, ToolError> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = wait(cmd, what, limit)?;
    if !out.status.success() {
        return Err(ToolError::Failed {
            what: what.into(),
            detail: last_line(&out.stderr).unwrap_or_else(|| out.status.to_string()),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd`, whose output the caller sent to the file `log`, to its end; a failure names
/// the log's last line.
pub fn run_logged(cmd: &mut Command, what: &str, log: &std::path::Path) -> Result<(), ToolError> {
    cmd.stdin(Stdio::null());
    let out = wait(cmd, what, None)?;
    if !out.status.success() {
        let text = std::fs::read(log).unwrap_or_default();
        return Err(ToolError::Failed {
            what: what.into(),
            detail: last_line(&text).unwrap_or_else(|| out.status.to_string()),
        });
    }
    Ok(())
}

/// The last line of `text` that is not blank.
fn last_line(text: &[u8]) -> Option<String> {
    String::from_utf8_lossy(text)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

/// Starts `cmd` tied to vmbench's life (it is killed if vmbench dies) without waiting.
pub fn spawn_tied(cmd: &mut Command, what: &str) -> Result<std::process::Child, ToolError> {
    if crate::interrupt::interrupted() {
        return Err(ToolError::Interrupted { what: what.into() });
    }
    // SAFETY: prctl is a single system call, safe between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn().map_err(|source| ToolError::Start {
        what: what.into(),
        source,
    })
}

/// Starts `cmd` tied to vmbench's life and waits for it, killing it at an interruption or
/// when `limit` has passed.
fn wait(
    cmd: &mut Command,
    what: &str,
    limit: Option<Duration>,
) -> Result<std::process::Output, ToolError> {
    let child = spawn_tied(cmd, what)?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let deadline = limit.map(|l| std::time::Instant::now() + l);
    let waiter = std::thread::spawn(move || child.wait_with_output());
    while !waiter.is_finished() {
        let late = deadline.is_some_and(|d| std::time::Instant::now() > d);
        if crate::interrupt::interrupted() || late {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waiter.join();
            if late {
                return Err(ToolError::Failed {
                    what: what.into(),
                    detail: format!("no answer within {:?}", limit.unwrap_or_default()),
                });
            }
            return Err(ToolError::Interrupted { what: what.into() });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    waiter
        .join()
        .expect("the waiting thread does not panic")
        .map_err(|source| ToolError::Start {
            what: what.into(),
            source,
        })
}

/// First line of `PROGRAM --version`, when the program runs.
pub fn version_of(program: &Path) -> Option<String> {
    let out = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// Finds a program on `PATH`.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_failures_are_reported() {
        let out = run(Command::new("sh").args(["-c", "echo hi"]), "say hi").unwrap();
        assert_eq!(out.trim(), "hi");
        let err = run(
            Command::new("sh").args(["-c", "echo first >&2; echo last words >&2; exit 3"]),
            "fail",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "fail failed: last words");
        assert!(matches!(
            run(&mut Command::new("/nonexistent/tool"), "start").unwrap_err(),
            ToolError::Start { .. }
        ));
    }
}
