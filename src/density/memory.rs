//! What instances cost the host's memory, read from `/proc` and the cgroup tree while they
//! are alive: the host's `MemAvailable` and `Committed_AS`, each instance's PSS and RSS over
//! all its processes, its cgroup charge, and the PSS of one file's mapped pages (the workload
//! binary's, shared through the page cache; QEMU's own executable's).

use crate::collector::Target;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use vmbench_workload::view::meminfo_field;

/// The host's memory figures, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostMemory {
    /// `MemAvailable`.
    pub available: u64,
    /// `Committed_AS`.
    pub committed: u64,
}

/// Reads `/proc/meminfo` under `proc_root`.
pub fn host_memory(proc_root: &Path) -> HostMemory {
    let text = std::fs::read_to_string(proc_root.join("meminfo")).unwrap_or_default();
    HostMemory {
        available: meminfo_field(&text, "MemAvailable:").unwrap_or(0),
        committed: meminfo_field(&text, "Committed_AS:").unwrap_or(0),
    }
}

/// One instance's memory as the host sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceMemory {
    /// PSS of all its processes, bytes.
    pub pss: u64,
    /// RSS of all its processes, bytes.
    pub rss: u64,
    /// Its cgroup's charge, for containers.
    pub cgroup: Option<u64>,
    /// PSS of the workload binary's mapped pages in the workload process.
    pub binary_pss: Option<u64>,
    /// PSS of the instance process's own executable's mapped pages.
    pub exe_pss: Option<u64>,
}

/// The processes of an instance: its process and every process in its cgroup.
fn processes(target: &Target) -> (Vec<i32>, Option<i32>) {
    let procs_file = target.workload_in.clone().or_else(|| {
        target
            .cgroup_memory
            .as_ref()
            .and_then(|f| f.parent().map(|d| d.join("cgroup.procs")))
    });
    let in_cgroup: Vec<i32> = procs_file
        .as_deref()
        .map(crate::collector::pids_in)
        .unwrap_or_default();
    let workload = target
        .workload_in
        .as_deref()
        .and_then(crate::collector::first_pid_in);
    let mut all: BTreeSet<i32> = in_cgroup.into_iter().collect();
    all.insert(target.pid);
    (all.into_iter().collect(), workload)
}

/// Measures one instance; `guest` says its workload runs inside a VM (its binary is not in
/// any host process's mappings).
pub fn instance(target: &Target, guest: bool) -> InstanceMemory {
    let proc_root = &target.proc_root;
    let (pids, workload) = processes(target);
    let mut m = InstanceMemory::default();
    for pid in &pids {
        let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("smaps_rollup"))
            .unwrap_or_default();
        m.pss += meminfo_field(&text, "Pss:").unwrap_or(0);
        m.rss += meminfo_field(&text, "Rss:").unwrap_or(0);
    }
    m.cgroup = target
        .cgroup_memory
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| t.trim().parse().ok());
    m.exe_pss = exe_pss(proc_root, target.pid);
    if !guest {
        m.binary_pss = exe_pss(proc_root, workload.unwrap_or(target.pid));
    }
    m
}

/// PSS of the pages of `pid`'s own executable that it maps.
fn exe_pss(proc_root: &Path, pid: i32) -> Option<u64> {
    let dir: PathBuf = proc_root.join(pid.to_string());
    let inode = std::fs::metadata(dir.join("exe")).ok()?.ino();
    let smaps = std::fs::read_to_string(dir.join("smaps")).ok()?;
    Some(file_pss(&smaps, inode))
}

/// Sum of `Pss:` over the mappings of `smaps` text whose inode is `inode`.
pub fn file_pss(smaps: &str, inode: u64) -> u64 {
    let mut total = 0;
    let mut current = false;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        let is_header =
            first.contains('-') && first.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if is_header {
            // range perms offset dev inode [path]
            current = words.nth(3).and_then(|i| i.parse::<u64>().ok()) == Some(inode);
        } else if current && first == "Pss:" {
            total += words
                .next()
                .and_then(|k| k.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024;
        }
    }
    total
}

/// Tasks this host can still create: the lower of `pid_max` and `threads-max`, less those
/// running now.
pub fn tasks_left(proc_root: &Path) -> Option<u64> {
    let read = |p: &str| {
        std::fs::read_to_string(proc_root.join(p))
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    };
    let limit = read("sys/kernel/pid_max")?.min(read("sys/kernel/threads-max")?);
    let loadavg = std::fs::read_to_string(proc_root.join("loadavg")).ok()?;
    let running: u64 = loadavg
        .split_whitespace()
        .nth(3)?
        .split('/')
        .nth(1)?
        .parse()
        .ok()?;
    Some(limit.saturating_sub(running))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0100000 r-xp 00000000 08:01 1234 /vmbench-workload
Size:               1024 kB
Rss:                 400 kB
Pss:                 100 kB
55d0c0200000-55d0c0300000 rw-p 00100000 08:01 1234 /vmbench-workload
Pss:                  20 kB
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
Pss:                 900 kB
7f0000200000-7f0000300000 r-xp 00000000 08:01 99 /lib/other.so
Pss:                  50 kB
";

    #[test]
    fn a_files_pss_sums_its_mappings_only() {
        assert_eq!(file_pss(SMAPS, 1234), 120 * 1024);
        assert_eq!(file_pss(SMAPS, 99), 50 * 1024);
        assert_eq!(file_pss(SMAPS, 7), 0);
    }

    #[test]
    fn host_memory_and_task_room_come_from_proc() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("meminfo"),
            "MemTotal: 100 kB\nMemAvailable:   2048 kB\nCommitted_AS:  4096 kB\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("sys/kernel")).unwrap();
        std::fs::write(root.join("sys/kernel/pid_max"), "4194304\n").unwrap();
        std::fs::write(root.join("sys/kernel/threads-max"), "1000\n").unwrap();
        std::fs::write(root.join("loadavg"), "0.1 0.2 0.3 2/300 999\n").unwrap();
        assert_eq!(
            host_memory(root),
            HostMemory {
                available: 2048 * 1024,
                committed: 4096 * 1024
            }
        );
        assert_eq!(tasks_left(root), Some(700));
    }
}
