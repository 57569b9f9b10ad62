//! cgroups behind one interface: the mounted layout (v1, v2 or hybrid) is probed from
//! `/proc/self/mountinfo`, and a per-version manager creates, limits, reads and removes the
//! cgroup of one instance.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors probing or managing cgroups; each carries the path involved.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A cgroup file or directory could not be read, written, created or removed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No usable cgroup hierarchy is mounted.
    #[error("no cgroup hierarchy is mounted (looked in {0}): mount cgroup2 on /sys/fs/cgroup")]
    NotMounted(PathBuf),
}

/// Names of cgroup v1 controllers (other mount options, `name=systemd`, `xattr`... are not).
const V1_CONTROLLERS: [&str; 14] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "pids",
    "blkio",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "rdma",
    "misc",
];

/// Which cgroup version(s) the host mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    /// Only legacy per-controller hierarchies.
    V1,
    /// Only the unified hierarchy.
    V2,
    /// Legacy hierarchies for the controllers plus a unified tree (often holding none).
    Hybrid,
}

/// The mounted cgroup hierarchies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Version of the layout.
    pub version: Version,
    /// v1 controller name → mount point (for co-mounted ones, each name maps to the mount).
    pub v1: BTreeMap<String, PathBuf>,
    /// The cgroup2 mount point, if any.
    pub unified: Option<PathBuf>,
    /// Controllers enabled in the unified hierarchy's root.
    pub unified_controllers: Vec<String>,
}

impl Layout {
    /// Probes the real host.
    pub fn probe() -> Result<Layout, CgroupError> {
        Layout::probe_at(Path::new("/"))
    }

    /// Probes a root directory (`/`, or a fixture tree): reads `proc/self/mountinfo` and the
    /// unified root's `cgroup.controllers` below it.
    pub fn probe_at(root: &Path) -> Result<Layout, CgroupError> {
        let mountinfo = root.join("proc/self/mountinfo");
        let text = std::fs::read_to_string(&mountinfo).map_err(|source| CgroupError::Io {
            action: "read",
            path: mountinfo.clone(),
            source,
        })?;
        let mut v1 = BTreeMap::new();
        let mut unified = None;
        for line in text.lines() {
            // id parent major:minor root mount-point options [optional...] - fstype source super
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = left.split_whitespace().collect();
            let tail: Vec<&str> = right.split_whitespace().collect();
            let (Some(mount_point), Some(fstype)) = (fields.get(4), tail.first()) else {
                continue;
            };
            let point = root.join(mount_point.trim_start_matches('/'));
            match *fstype {
                "cgroup2" => unified = unified.or(Some(point)),
                "cgroup" => {
                    let options = tail.get(2).copied().unwrap_or("");
                    for name in options.split(',').filter(|o| V1_CONTROLLERS.contains(o)) {
                        v1.entry(name.to_string()).or_insert_with(|| point.clone());
                    }
                }
                _ => {}
            }
        }
        let unified_controllers = unified
            .as_ref()
            .and_then(|u| std::fs::read_to_string(u.join("cgroup.controllers")).ok())
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        let version = match (v1.is_empty(), unified.is_some()) {
            (true, true) => Version::V2,
            (false, false) => Version::V1,
            (false, true) => Version::Hybrid,
            (true, false) => return Err(CgroupError::NotMounted(mountinfo)),
        };
        Ok(Layout {
            version,
            v1,
            unified,
            unified_controllers,
        })
    }

    /// One line for reports: version and where each controller lives.
    pub fn describe(&self) -> String {
        match self.version {
            Version::V2 => format!(
                "v2 (unified at {}; controllers: {})",
                self.unified.as_deref().unwrap_or(Path::new("?")).display(),
                self.unified_controllers.join(" ")
            ),
            Version::V1 | Version::Hybrid => {
                let names: Vec<&str> = self.v1.keys().map(String::as_str).collect();
                let mut s = format!(
                    "{} (v1 controllers: {})",
                    if self.version == Version::V1 {
                        "v1"
                    } else {
                        "hybrid"
                    },
                    names.join(" ")
                );
                if let Some(u) = &self.unified {
                    s.push_str(&format!(
                        "; cgroup2 at {} with [{}]",
                        u.display(),
                        self.unified_controllers.join(" ")
                    ));
                }
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 1 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,xattr,name=systemd
30 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
31 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
32 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
";

    fn fixture(mountinfo: &str, controllers: Option<(&str, &str)>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        std::fs::write(dir.path().join("proc/self/mountinfo"), mountinfo).unwrap();
        if let Some((at, text)) = controllers {
            let p = dir.path().join(at);
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("cgroup.controllers"), text).unwrap();
        }
        dir
    }

    #[test]
    fn hybrid_layout_maps_each_controller() {
        let dir = fixture(HYBRID, Some(("sys/fs/cgroup/unified", "hugetlb\n")));
        let l = Layout::probe_at(dir.path()).unwrap();
        assert_eq!(l.version, Version::Hybrid);
        assert_eq!(l.v1["memory"], dir.path().join("sys/fs/cgroup/memory"));
        assert_eq!(l.v1["cpu"], dir.path().join("sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(l.v1["cpuacct"], l.v1["cpu"]);
        assert!(!l.v1.contains_key("systemd") && !l.v1.contains_key("xattr"));
        assert_eq!(l.unified_controllers, vec!["hugetlb"]);
        assert!(l.describe().starts_with("hybrid"));
    }

    #[test]
    fn pure_v2_and_pure_v1_are_told_apart() {
        let v2 = "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let dir = fixture(v2, Some(("sys/fs/cgroup", "cpuset cpu io memory pids\n")));
        let l = Layout::probe_at(dir.path()).unwrap();
        assert_eq!(l.version, Version::V2);
        assert!(l.unified_controllers.contains(&"memory".to_string()));
        let v1_only: String = HYBRID
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .map(|l| format!("{l}\n"))
            .collect();
        let dir = fixture(&v1_only, None);
        assert_eq!(Layout::probe_at(dir.path()).unwrap().version, Version::V1);
        let dir = fixture("1 0 0:1 / / rw - ext4 /dev/vda rw\n", None);
        assert!(matches!(
            Layout::probe_at(dir.path()),
            Err(CgroupError::NotMounted(_))
        ));
    }
}
