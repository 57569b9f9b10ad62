//! cgroup v1: one directory per controller hierarchy (cpu, cpuacct, cpuset, memory, pids),
//! each under the harness's own cgroup in that hierarchy.

use super::{
    make_dir, own_v1_path, read_file, write_file, CgroupError, Layout, Limits, Usage, PARENT,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Controllers an instance cgroup is made in.
const CONTROLLERS: [&str; 5] = ["cpu", "cpuacct", "cpuset", "memory", "pids"];

/// An instance's cgroup in every v1 hierarchy it uses.
#[derive(Debug)]
pub struct V1Cgroup {
    /// Controller → directory (co-mounted controllers share one).
    pub dirs: BTreeMap<String, PathBuf>,
}

impl V1Cgroup {
    /// Creates the directories, parents first, and applies the limits.
    pub fn create(
        layout: &Layout,
        own: &str,
        name: &str,
        limits: &Limits,
    ) -> Result<V1Cgroup, CgroupError> {
        let mut dirs = BTreeMap::new();
        for controller in CONTROLLERS {
            let Some(mount) = layout.v1.get(controller) else {
                continue;
            };
            if dirs.values().any(|d: &PathBuf| d.starts_with(mount)) {
                // Co-mounted with a controller already handled: same directory.
                let dir = dirs
                    .values()
                    .find(|d: &&PathBuf| d.starts_with(mount))
                    .cloned()
                    .unwrap();
                dirs.insert(controller.to_string(), dir);
                continue;
            }
            let parent = mount
                .join(own_v1_path(own, controller).trim_start_matches('/'))
                .join(PARENT);
            make_dir(&parent)?;
            if controller == "cpuset" {
                // A new cpuset is empty and refuses tasks: inherit CPUs and memory nodes.
                inherit_cpuset(&parent)?;
            }
            let dir = parent.join(name);
            make_dir(&dir)?;
            dirs.insert(controller.to_string(), dir);
        }
        let cg = V1Cgroup { dirs };
        cg.apply(limits)?;
        Ok(cg)
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.get(controller).map(PathBuf::as_path)
    }

    fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        if let Some(dir) = self.dir("cpuset") {
            inherit_cpuset(dir)?;
            if let Some(cpus) = &limits.cpus {
                write_file(&dir.join("cpuset.cpus"), &super::cpu_list(cpus))?;
            }
        }
        if let (Some(dir), Some((quota, period))) = (self.dir("cpu"), limits.cpu_quota_us) {
            write_file(&dir.join("cpu.cfs_period_us"), &period.to_string())?;
            write_file(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
        }
        if let (Some(dir), Some(bytes)) = (self.dir("memory"), limits.memory_bytes) {
            write_file(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
            // With swap accounting, cap memory+swap too so the limit cannot be swapped around.
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                write_file(&memsw, &bytes.to_string())?;
            }
        }
        if let (Some(dir), Some(max)) = (self.dir("pids"), limits.pids_max) {
            write_file(&dir.join("pids.max"), &max.to_string())?;
        }
        Ok(())
    }

    /// Each hierarchy's directory once (co-mounted controllers share one).
    pub fn distinct_dirs(&self) -> Vec<&PathBuf> {
        let mut out: Vec<&PathBuf> = Vec::new();
        for dir in self.dirs.values() {
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
        out
    }

    /// Writes the pid into every hierarchy's `cgroup.procs`.
    pub fn attach(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in self.distinct_dirs() {
            write_file(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// The `cgroup.procs` that lists the instance's tasks.
    pub fn procs_file(&self) -> PathBuf {
        self.dirs
            .get("memory")
            .or_else(|| self.dirs.values().next())
            .map(|d| d.join("cgroup.procs"))
            .unwrap_or_default()
    }

    /// Reads cpuacct, memory and cpu accounting.
    pub fn usage(&self) -> Usage {
        let num = |dir: Option<&Path>, file: &str| {
            dir.and_then(|d| read_file(&d.join(file)))
                .and_then(|s| s.parse::<u64>().ok())
        };
        let mut usage = Usage {
            cpu_ns: num(self.dir("cpuacct"), "cpuacct.usage"),
            memory_bytes: num(self.dir("memory"), "memory.usage_in_bytes"),
            memory_peak_bytes: num(self.dir("memory"), "memory.max_usage_in_bytes"),
            ..Usage::default()
        };
        if let Some(text) = self
            .dir("memory")
            .and_then(|d| read_file(&d.join("memory.oom_control")))
        {
            usage.oom_kills = field(&text, "oom_kill").unwrap_or(0);
        }
        if let Some(text) = self.dir("cpu").and_then(|d| read_file(&d.join("cpu.stat"))) {
            usage.nr_throttled = field(&text, "nr_throttled");
            usage.throttled_ns = field(&text, "throttled_time");
        }
        usage
    }
}

/// A `key value` line's value.
pub(super) fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Creates the `vmbench` parent at the root of the cpuset hierarchy, where OCI runtimes put
/// their containers (`cgroupsPath` `/vmbench/<id>`), with the root's CPUs and memory nodes: a
/// runtime that creates it itself may leave it empty (runsc then fails to write its child's
/// `cpuset.cpus`).
pub fn prepare_root_parent(layout: &Layout) -> Result<(), CgroupError> {
    let Some(mount) = layout.v1.get("cpuset") else {
        return Ok(());
    };
    let parent = mount.join(PARENT);
    make_dir(&parent)?;
    inherit_cpuset(&parent)
}

/// Copies `cpuset.cpus` and `cpuset.mems` from the parent where they are empty.
fn inherit_cpuset(dir: &Path) -> Result<(), CgroupError> {
    let parent = dir.parent().unwrap_or(dir);
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read_file(&dir.join(file)).is_some_and(|s| s.is_empty()) {
            let value = read_file(&parent.join(file)).unwrap_or_default();
            write_file(&dir.join(file), &value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture "cgroupfs": plain directories, with the files a kernel would create.
    fn fixture() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let mut v1 = BTreeMap::new();
        for c in CONTROLLERS {
            let mount = dir.path().join(c);
            std::fs::create_dir_all(mount.join("app/vmbench/vmbench-1")).unwrap();
            v1.insert(c.to_string(), mount);
        }
        let cpuset = dir.path().join("cpuset");
        std::fs::write(cpuset.join("app/cpuset.cpus"), "0-3").unwrap();
        std::fs::write(cpuset.join("app/cpuset.mems"), "0").unwrap();
        for d in ["app/vmbench", "app/vmbench/vmbench-1"] {
            std::fs::write(cpuset.join(d).join("cpuset.cpus"), "").unwrap();
            std::fs::write(cpuset.join(d).join("cpuset.mems"), "").unwrap();
        }
        let layout = Layout {
            version: super::super::Version::Hybrid,
            v1,
            v1_mounts: vec![],
            unified: None,
            unified_controllers: vec![],
        };
        (dir, layout)
    }

    #[test]
    fn limits_land_in_each_controller_under_the_own_cgroup() {
        let (dir, layout) = fixture();
        let own = "5:cpuset:/app\n4:memory:/app\n3:pids:/app\n2:cpu:/app\n1:cpuacct:/app\n";
        let limits = Limits {
            cpus: Some(vec![1]),
            cpu_quota_us: Some((50_000, 100_000)),
            memory_bytes: Some(256 << 20),
            pids_max: Some(64),
        };
        let cg = V1Cgroup::create(&layout, own, "vmbench-1", &limits).unwrap();
        let read = |rel: &str| std::fs::read_to_string(dir.path().join(rel)).unwrap();
        assert_eq!(read("cpuset/app/vmbench/cpuset.cpus"), "0-3");
        assert_eq!(read("cpuset/app/vmbench/vmbench-1/cpuset.cpus"), "1");
        assert_eq!(read("cpuset/app/vmbench/vmbench-1/cpuset.mems"), "0");
        assert_eq!(
            read("memory/app/vmbench/vmbench-1/memory.limit_in_bytes"),
            "268435456"
        );
        assert_eq!(read("pids/app/vmbench/vmbench-1/pids.max"), "64");
        assert_eq!(read("cpu/app/vmbench/vmbench-1/cpu.cfs_quota_us"), "50000");
        cg.attach(42).unwrap();
        assert_eq!(read("memory/app/vmbench/vmbench-1/cgroup.procs"), "42");
        std::fs::write(
            dir.path()
                .join("memory/app/vmbench/vmbench-1/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        std::fs::write(
            dir.path()
                .join("cpuacct/app/vmbench/vmbench-1/cpuacct.usage"),
            "12345\n",
        )
        .unwrap();
        let u = cg.usage();
        assert_eq!(u.oom_kills, 2);
        assert_eq!(u.cpu_ns, Some(12345));
        // The fixture pid is not ours to kill when the guard drops.
        std::fs::write(
            dir.path().join("memory/app/vmbench/vmbench-1/cgroup.procs"),
            "",
        )
        .unwrap();
        drop(cg);
    }
}
