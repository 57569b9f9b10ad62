//! Kernel-entry work: the cheapest system call and process creation.

use super::{headline, Params};
use crate::catalogue::Workload;
use crate::protocol::Metric;
use std::time::Instant;

/// `getppid` through the raw syscall instruction (libc cannot cache it), per call.
pub(super) fn syscalls(p: &Params) -> Vec<Metric> {
    let start = Instant::now();
    for _ in 0..p.syscalls {
        // SAFETY: getppid takes no arguments and cannot fail.
        unsafe {
            libc::syscall(libc::SYS_getppid);
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / p.syscalls as f64;
    vec![headline(Workload::Syscall, ns)]
}

/// fork, `_exit(0)` in the child, `waitpid` in the parent; microseconds per process.
pub(super) fn spawns(p: &Params) -> Result<Vec<Metric>, String> {
    let start = Instant::now();
    for _ in 0..p.spawns {
        // SAFETY: the child calls only the async-signal-safe `_exit`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: terminating the forked child without running destructors.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for the child we just created.
        if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
            return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
        }
    }
    let us = start.elapsed().as_nanos() as f64 / 1e3 / p.spawns as f64;
    Ok(vec![headline(Workload::ProcSpawn, us)])
}
