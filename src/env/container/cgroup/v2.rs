//! cgroup v2: one directory in the unified hierarchy, under a `vmbench` parent at its root with
//! the cpu, cpuset, memory and pids controllers delegated to it.

use super::{make_dir, read_file, v1::field, write_file, CgroupError, Limits, Usage, PARENT};
use std::path::{Path, PathBuf};

/// Controllers enabled for instance cgroups.
const CONTROLLERS: [&str; 4] = ["cpu", "cpuset", "memory", "pids"];

/// An instance's cgroup in the unified hierarchy.
#[derive(Debug)]
pub struct V2Cgroup {
    /// Its directory.
    pub dir: PathBuf,
}

/// Enables the controllers for children of `dir`, as far as `dir` has them.
fn delegate(dir: &Path) -> Result<(), CgroupError> {
    let available = read_file(&dir.join("cgroup.controllers")).unwrap_or_default();
    for c in CONTROLLERS
        .iter()
        .filter(|c| available.split_whitespace().any(|a| a == **c))
    {
        write_file(&dir.join("cgroup.subtree_control"), &format!("+{c}"))?;
    }
    Ok(())
}

impl V2Cgroup {
    /// Creates `root/vmbench/name` with the limits applied.
    pub fn create(root: &Path, name: &str, limits: &Limits) -> Result<V2Cgroup, CgroupError> {
        delegate(root)?;
        let parent = root.join(PARENT);
        make_dir(&parent)?;
        delegate(&parent)?;
        let dir = parent.join(name);
        make_dir(&dir)?;
        let cg = V2Cgroup { dir };
        cg.apply(limits)?;
        Ok(cg)
    }

    fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        let d = &self.dir;
        if let Some(cpus) = &limits.cpus {
            write_file(&d.join("cpuset.cpus"), &super::cpu_list(cpus))?;
        }
        if let Some((quota, period)) = limits.cpu_quota_us {
            write_file(&d.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(bytes) = limits.memory_bytes {
            write_file(&d.join("memory.max"), &bytes.to_string())?;
            if d.join("memory.swap.max").exists() {
                write_file(&d.join("memory.swap.max"), "0")?;
            }
        }
        if let Some(max) = limits.pids_max {
            write_file(&d.join("pids.max"), &max.to_string())?;
        }
        Ok(())
    }

    /// Writes the pid into `cgroup.procs`.
    pub fn attach(&self, pid: i32) -> Result<(), CgroupError> {
        write_file(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    /// Reads `cpu.stat`, `memory.current`, `memory.peak` and `memory.events`.
    pub fn usage(&self) -> Usage {
        let d = &self.dir;
        let num = |file: &str| read_file(&d.join(file)).and_then(|s| s.parse::<u64>().ok());
        let cpu = read_file(&d.join("cpu.stat")).unwrap_or_default();
        let events = read_file(&d.join("memory.events")).unwrap_or_default();
        Usage {
            cpu_ns: field(&cpu, "usage_usec").map(|us| us * 1000),
            memory_bytes: num("memory.current"),
            memory_peak_bytes: num("memory.peak"),
            oom_kills: field(&events, "oom_kill").unwrap_or(0),
            nr_throttled: field(&cpu, "nr_throttled"),
            throttled_ns: field(&cpu, "throttled_usec").map(|us| us * 1000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_delegation_are_written_to_the_unified_tree() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids",
        )
        .unwrap();
        std::fs::create_dir_all(root.path().join("vmbench/vmbench-7")).unwrap();
        std::fs::write(
            root.path().join("vmbench/cgroup.controllers"),
            "cpu memory pids",
        )
        .unwrap();
        std::fs::write(root.path().join("vmbench/vmbench-7/memory.swap.max"), "max").unwrap();
        let limits = Limits {
            cpus: Some(vec![0, 1]),
            cpu_quota_us: Some((100_000, 100_000)),
            memory_bytes: Some(128 << 20),
            pids_max: Some(32),
        };
        let cg = V2Cgroup::create(root.path(), "vmbench-7", &limits).unwrap();
        let read = |rel: &str| std::fs::read_to_string(root.path().join(rel)).unwrap();
        // The last controller written wins in a plain file; the kernel accumulates them.
        assert_eq!(read("vmbench/cgroup.subtree_control"), "+pids");
        assert_eq!(read("vmbench/vmbench-7/cpuset.cpus"), "0-1");
        assert_eq!(read("vmbench/vmbench-7/cpu.max"), "100000 100000");
        assert_eq!(read("vmbench/vmbench-7/memory.max"), "134217728");
        assert_eq!(read("vmbench/vmbench-7/memory.swap.max"), "0");
        assert_eq!(read("vmbench/vmbench-7/pids.max"), "32");
        std::fs::write(
            cg.dir.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        std::fs::write(
            cg.dir.join("cpu.stat"),
            "usage_usec 250\nnr_throttled 4\nthrottled_usec 9\n",
        )
        .unwrap();
        let u = cg.usage();
        assert_eq!(
            (u.oom_kills, u.cpu_ns, u.nr_throttled, u.throttled_ns),
            (1, Some(250_000), Some(4), Some(9000))
        );
    }
}
