//! Running the external tools vmbench needs while it prepares (apt-get, dpkg-deb, depmod,
//! mkfs.ext4, a runtime's `delete`...): their output captured, their last error line kept, the
//! tool tied to vmbench's life (a parent-death signal), and the user's Ctrl-C honoured: the tool
//! is killed at once and the caller's guards clean up what it was making.

use std::os::unix::process::CommandExt;
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
    if crate::interrupt::interrupted() {
        return Err(ToolError::Interrupted { what: what.into() });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: prctl is a single system call, safe between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn().map_err(|source| ToolError::Start {
        what: what.into(),
        source,
    })?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let waiter = std::thread::spawn(move || child.wait_with_output());
    while !waiter.is_finished() {
        if crate::interrupt::interrupted() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waiter.join();
            return Err(ToolError::Interrupted { what: what.into() });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = waiter
        .join()
        .expect("the waiting thread does not panic")
        .map_err(|source| ToolError::Start {
            what: what.into(),
            source,
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let detail = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map_or_else(|| out.status.to_string(), |l| l.trim().to_string());
        return Err(ToolError::Failed {
            what: what.into(),
            detail,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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
