//! What the workload sees of its environment: identity, CPUs, memory and cgroup limits, read
//! from `/proc` and `/sys/fs/cgroup` the way any program in that environment would.

use crate::protocol::{GuestView, VisibleLimits};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;

/// Gathers the view from the real `/proc` and `/sys`.
pub fn gather() -> GuestView {
    gather_from(Path::new("/"))
}

/// Gathers the view from a root directory (a fixture tree in tests).
pub fn gather_from(root: &Path) -> GuestView {
    let uts = nix::sys::utsname::uname().ok();
    let meminfo = fs::read_to_string(root.join("proc/meminfo")).unwrap_or_default();
    GuestView {
        pid: std::process::id(),
        hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        kernel: uts
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        mem_total_bytes: meminfo_field(&meminfo, "MemTotal:").unwrap_or(0),
        mem_available_bytes: meminfo_field(&meminfo, "MemAvailable:").unwrap_or(0),
        uptime_s: fs::read_to_string(root.join("proc/uptime"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0),
        limits: visible_limits(root),
        sha256: String::new(),
        net_interfaces: net_interfaces(root),
        processes_visible: None,
        root_entries: Vec::new(),
        uid: Some(nix::unistd::getuid().as_raw()),
        agent: None,
    }
}

/// SHA-256 of `/proc/self/exe`, hex. Streams through a small buffer: a whole-file read costs
/// hundreds of page faults, which shows in startup figures.
pub fn self_sha256() -> std::io::Result<String> {
    use std::io::Read;
    let mut file = fs::File::open("/proc/self/exe")?;
    let mut hasher = Sha256::new();
    let mut buf = [0u8; 32 * 1024];
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    Ok(hex(&hasher.finalize()))
}

/// Number of processes in `/proc` (what this environment lets the workload see).
pub fn processes_visible() -> Option<usize> {
    let entries = fs::read_dir("/proc").ok()?;
    Some(
        entries
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .count(),
    )
}

/// Sorted names in `/`.
pub fn root_entries() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir("/")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a `kB` field of `/proc/meminfo` as bytes.
pub fn meminfo_field(meminfo: &str, key: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

fn net_interfaces(root: &Path) -> Vec<String> {
    fs::read_to_string(root.join("proc/net/dev"))
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| Some(l.split(':').next()?.trim().to_string()))
        .collect()
}

/// A numeric cgroup limit, `None` for "max" or the v1 "unlimited" sentinel.
fn limit_value(text: &str) -> Option<u64> {
    let v: u64 = text.trim().parse().ok()?;
    (v < (1u64 << 62)).then_some(v)
}

/// The folder of the process's own cgroup in a hierarchy mounted at `base`: its path from
/// `/proc/self/cgroup`, or the mount itself where only the own cgroup is mounted there and
/// the path is the host's (an engine's container without a cgroup namespace).
fn own_dir(base: &Path, rel: &str) -> std::path::PathBuf {
    let dir = base.join(rel);
    if dir.is_dir() {
        dir
    } else {
        base.to_path_buf()
    }
}

/// The limits of the process's own cgroup, for v2, v1 and hybrid layouts.
pub fn visible_limits(root: &Path) -> VisibleLimits {
    let own = fs::read_to_string(root.join("proc/self/cgroup")).unwrap_or_default();
    let cg = root.join("sys/fs/cgroup");
    let mut limits = VisibleLimits::default();
    let read = |p: std::path::PathBuf| fs::read_to_string(p).ok();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            // cgroup v2: the unified tree is at the top (pure v2) or under `unified` (hybrid).
            let base = if cg.join("cgroup.controllers").exists() {
                cg.clone()
            } else {
                cg.join("unified")
            };
            let dir = own_dir(&base, rel);
            if !dir.join("memory.max").exists() && !dir.join("pids.max").exists() {
                continue;
            }
            limits.cgroup = Some(path.to_string());
            limits.memory_max_bytes = limits
                .memory_max_bytes
                .or(read(dir.join("memory.max")).and_then(|s| limit_value(&s)));
            limits.pids_max = limits
                .pids_max
                .or(read(dir.join("pids.max")).and_then(|s| limit_value(&s)));
            if let Some(cpu) = read(dir.join("cpu.max")).filter(|s| !s.starts_with("max")) {
                limits.cpu_max = Some(cpu.trim().to_string());
            }
        } else {
            for controller in controllers.split(',') {
                let dir = own_dir(&cg.join(controller), rel);
                match controller {
                    "memory" => {
                        limits.cgroup.get_or_insert_with(|| path.to_string());
                        limits.memory_max_bytes =
                            read(dir.join("memory.limit_in_bytes")).and_then(|s| limit_value(&s));
                    }
                    "pids" => {
                        limits.pids_max = read(dir.join("pids.max")).and_then(|s| limit_value(&s))
                    }
                    "cpu" => {
                        let quota = read(dir.join("cpu.cfs_quota_us"))
                            .and_then(|s| s.trim().parse::<i64>().ok());
                        let period =
                            read(dir.join("cpu.cfs_period_us")).map(|s| s.trim().to_string());
                        if let (Some(q), Some(p)) = (quota, period) {
                            if q > 0 {
                                limits.cpu_max = Some(format!("{q} {p}"));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn v1_limits_are_read_from_the_own_cgroup() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        write(
            t,
            "proc/self/cgroup",
            "8:pids:/vmbench/a\n4:memory:/vmbench/a\n1:cpu:/vmbench/a\n0::/\n",
        );
        write(
            t,
            "sys/fs/cgroup/memory/vmbench/a/memory.limit_in_bytes",
            "536870912\n",
        );
        write(t, "sys/fs/cgroup/pids/vmbench/a/pids.max", "max\n");
        write(t, "sys/fs/cgroup/cpu/vmbench/a/cpu.cfs_quota_us", "50000\n");
        write(
            t,
            "sys/fs/cgroup/cpu/vmbench/a/cpu.cfs_period_us",
            "100000\n",
        );
        let l = visible_limits(t);
        assert_eq!(l.memory_max_bytes, Some(512 << 20));
        assert_eq!(l.pids_max, None);
        assert_eq!(l.cpu_max.as_deref(), Some("50000 100000"));
        assert_eq!(l.cgroup.as_deref(), Some("/vmbench/a"));
    }

    #[test]
    fn an_engine_container_sees_its_own_cgroup_at_the_mount_root() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        write(
            t,
            "proc/self/cgroup",
            "4:memory:/docker/abc
8:pids:/docker/abc
",
        );
        write(
            t,
            "sys/fs/cgroup/memory/memory.limit_in_bytes",
            "536870912
",
        );
        write(
            t,
            "sys/fs/cgroup/pids/pids.max",
            "1024
",
        );
        let l = visible_limits(t);
        assert_eq!(l.memory_max_bytes, Some(512 << 20));
        assert_eq!(l.pids_max, Some(1024));
    }

    #[test]
    fn v2_limits_are_read_from_the_unified_tree() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        write(t, "proc/self/cgroup", "0::/vmbench/b\n");
        write(t, "sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n");
        write(t, "sys/fs/cgroup/vmbench/b/memory.max", "268435456\n");
        write(t, "sys/fs/cgroup/vmbench/b/pids.max", "64\n");
        write(t, "sys/fs/cgroup/vmbench/b/cpu.max", "max 100000\n");
        let l = visible_limits(t);
        assert_eq!(l.memory_max_bytes, Some(256 << 20));
        assert_eq!(l.pids_max, Some(64));
        assert_eq!(l.cpu_max, None);
    }

    #[test]
    fn meminfo_is_parsed_in_bytes() {
        let text = "MemTotal:       24000000 kB\nMemAvailable:   100 kB\n";
        assert_eq!(meminfo_field(text, "MemTotal:"), Some(24_000_000 * 1024));
        assert_eq!(meminfo_field(text, "MemAvailable:"), Some(102_400));
        assert_eq!(meminfo_field(text, "Cached:"), None);
    }
}
