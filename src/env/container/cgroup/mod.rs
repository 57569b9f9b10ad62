//! cgroups behind one interface: the mounted layout (v1, v2 or hybrid) is probed from
//! `/proc/self/mountinfo`, and a per-version manager creates, limits, reads and removes the
//! cgroup of one instance.

mod v1;
mod v2;

use crate::results::AttachPath;
pub use crate::results::CgroupUsage as Usage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
pub use v1::prepare_root_parent;
pub use v2::delegated;

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

/// Limits put on one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// CPUs the instance may run on (cpuset).
    pub cpus: Option<Vec<usize>>,
    /// CPU bandwidth as (quota, period) microseconds.
    pub cpu_quota_us: Option<(u64, u64)>,
    /// Memory limit; swap is capped to nothing so the limit is the limit.
    pub memory_bytes: Option<u64>,
    /// Maximum number of tasks.
    pub pids_max: Option<u64>,
}

/// One instance's cgroup, in whichever version the host uses; removed when dropped.
#[derive(Debug)]
pub enum Cgroup {
    /// One directory per v1 controller hierarchy.
    V1(v1::V1Cgroup),
    /// One directory in the unified hierarchy.
    V2(v2::V2Cgroup),
}

/// How a new process enters an instance's cgroup; the descriptors are closed on exec.
#[derive(Debug)]
pub struct Entry {
    /// Which way it goes in.
    pub path: AttachPath,
    /// A cgroup v2 directory for `clone3(CLONE_INTO_CGROUP)`.
    pub clone_into: Option<OwnedFd>,
    /// v1 `tasks` files the child writes `0` to (moving itself, alone).
    pub tasks: Vec<OwnedFd>,
}

/// The text of `/proc/self/cgroup`: where this process sits in each hierarchy (empty if
/// unreadable).
pub fn own() -> String {
    std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default()
}

/// Name of the parent cgroup under which instances are created.
pub const PARENT: &str = "vmbench";

impl Cgroup {
    /// Creates the cgroup `name` under the vmbench parent and applies `limits`. v1 is used
    /// when the legacy hierarchies hold the memory controller (v1 and hybrid hosts), else v2.
    /// `own` is the text of `/proc/self/cgroup`: v1 parents go under the harness's own
    /// cgroup, since the hierarchy root may not be writable.
    pub fn create(
        layout: &Layout,
        own: &str,
        name: &str,
        limits: &Limits,
    ) -> Result<Cgroup, CgroupError> {
        if layout.v1.contains_key("memory") {
            v1::V1Cgroup::create(layout, own, name, limits).map(Cgroup::V1)
        } else {
            let root = layout
                .unified
                .clone()
                .ok_or_else(|| CgroupError::NotMounted(PathBuf::from("/sys/fs/cgroup")))?;
            v2::V2Cgroup::create(&root, name, limits).map(Cgroup::V2)
        }
    }

    /// Creates the cgroup `name` under the vmbench parent in `top`, the cgroup v2 subtree
    /// delegated to an ordinary user, and applies `limits`.
    pub fn create_delegated(
        top: &Path,
        name: &str,
        limits: &Limits,
    ) -> Result<Cgroup, CgroupError> {
        v2::V2Cgroup::create(top, name, limits).map(Cgroup::V2)
    }

    /// How a process about to be cloned gets in without the parent migrating it: a
    /// directory descriptor for `clone3(CLONE_INTO_CGROUP)` (v2), or the v1 hierarchies'
    /// `tasks` files for the child to write `0` to itself.
    pub fn entry(&self) -> Result<Entry, CgroupError> {
        let open = |path: &Path, flags: nix::fcntl::OFlag| {
            nix::fcntl::open(
                path,
                flags | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            // SAFETY: open returned a new descriptor that nothing else owns.
            .map(|fd| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
            .map_err(|e| CgroupError::Io {
                action: "open",
                path: path.to_path_buf(),
                source: e.into(),
            })
        };
        match self {
            Cgroup::V1(c) => Ok(Entry {
                path: AttachPath::SelfTasks,
                clone_into: None,
                tasks: c
                    .distinct_dirs()
                    .iter()
                    .map(|d| open(&d.join("tasks"), nix::fcntl::OFlag::O_WRONLY))
                    .collect::<Result<_, _>>()?,
            }),
            Cgroup::V2(c) => Ok(Entry {
                path: AttachPath::Clone3IntoCgroup,
                clone_into: Some(open(
                    &c.dir,
                    nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
                )?),
                tasks: Vec::new(),
            }),
        }
    }

    /// Moves a running process into the cgroup (the slow path: the parent migrates it).
    pub fn attach(&self, pid: i32) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.attach(pid),
            Cgroup::V2(c) => c.attach(pid),
        }
    }

    /// Reads the accounting files.
    pub fn usage(&self) -> Usage {
        match self {
            Cgroup::V1(c) => c.usage(),
            Cgroup::V2(c) => c.usage(),
        }
    }

    /// The file holding the memory charged now (`memory.usage_in_bytes` or `memory.current`).
    pub fn memory_file(&self) -> Option<PathBuf> {
        match self {
            Cgroup::V1(c) => c
                .dirs
                .get("memory")
                .map(|d| d.join("memory.usage_in_bytes")),
            Cgroup::V2(c) => Some(c.dir.join("memory.current")),
        }
    }

    /// The file holding the highest memory charged (`memory.max_usage_in_bytes` or
    /// `memory.peak`).
    pub fn memory_peak_file(&self) -> Option<PathBuf> {
        match self {
            Cgroup::V1(c) => c
                .dirs
                .get("memory")
                .map(|d| d.join("memory.max_usage_in_bytes")),
            Cgroup::V2(c) => Some(c.dir.join("memory.peak")),
        }
    }

    /// The file holding the CPU time used (`cpuacct.usage` or `cpu.stat`).
    pub fn cpu_file(&self) -> Option<PathBuf> {
        match self {
            Cgroup::V1(c) => c.dirs.get("cpuacct").map(|d| d.join("cpuacct.usage")),
            Cgroup::V2(c) => Some(c.dir.join("cpu.stat")),
        }
    }

    /// The `cgroup.procs` listing the instance's processes.
    pub fn procs_file(&self) -> PathBuf {
        match self {
            Cgroup::V1(c) => c.procs_file(),
            Cgroup::V2(c) => c.dir.join("cgroup.procs"),
        }
    }

    /// Every directory of the cgroup.
    pub fn dirs(&self) -> Vec<PathBuf> {
        match self {
            Cgroup::V1(c) => c.dirs.values().cloned().collect(),
            Cgroup::V2(c) => vec![c.dir.clone()],
        }
    }

    /// Kills what is left inside and removes the directories.
    pub fn remove(mut self) -> Result<(), CgroupError> {
        self.remove_now()
    }

    fn remove_now(&mut self) -> Result<(), CgroupError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        kill_all(&self.procs_file(), deadline);
        let mut result = Ok(());
        for dir in self.dirs() {
            if let Err(e) = remove_dir_retrying(&dir, deadline) {
                result = Err(e);
            }
        }
        match self {
            Cgroup::V1(c) => c.dirs.clear(),
            Cgroup::V2(c) => c.dir = PathBuf::new(),
        }
        result
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = self.remove_now();
    }
}

/// `rmdir` of a cgroup, retried while the kernel still reports it busy (tasks exiting).
fn remove_dir_retrying(dir: &Path, deadline: Instant) -> Result<(), CgroupError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() < deadline && e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(source) => {
                return Err(CgroupError::Io {
                    action: "remove cgroup",
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Writes a cgroup control file.
fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|source| CgroupError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a cgroup file, trimmed.
fn read_file(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Creates a directory (an existing one is fine).
fn make_dir(path: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(CgroupError::Io {
            action: "create cgroup",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Every `vmbench` parent cgroup of this user's in the mounted hierarchies (the builtin
/// container's sit under the harness's own cgroup, the OCI runtimes' at a hierarchy's root, an
/// ordinary user's under the subtree delegated to them).
fn parents() -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name() == PARENT {
                if crate::owner::owned_by_me(&path) {
                    found.push(path);
                }
            } else if depth > 0 {
                walk(&path, depth - 1, found);
            }
        }
    }
    let Ok(layout) = Layout::probe() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for mount in layout.v1_mounts.iter().chain(layout.unified.iter()) {
        walk(mount, 4, &mut found);
    }
    found
}

/// Kills what is left in instance cgroups whose owning run is dead and removes them; reports
/// each instance once.
pub fn remove_dead(dry_run: bool) -> Vec<String> {
    let mut reported: Vec<String> = Vec::new();
    for parent in parents() {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(owner) = crate::owner::owner_of(&name) else {
                continue;
            };
            if crate::owner::pid_alive(owner) {
                continue;
            }
            if !reported.contains(&name) {
                reported.push(name.clone());
            }
            if !dry_run {
                remove_tree(&e.path(), Instant::now() + Duration::from_secs(5));
            }
        }
    }
    reported
        .into_iter()
        .map(|n| format!("cgroup {n} of a dead run"))
        .collect()
}

/// Kills the processes of a cgroup and of the cgroups below it (an engine's container, or
/// Podman's `conmon` cgroup, under its parent), and removes them all, deepest first.
pub fn remove_tree(dir: &Path, deadline: Instant) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path(), deadline);
            }
        }
    }
    kill_all(&dir.join("cgroup.procs"), deadline);
    let _ = remove_dir_retrying(dir, deadline);
}

/// Removes the `vmbench` parent cgroups that are empty (when no run is alive).
pub fn remove_empty_parents(dry_run: bool) -> Vec<String> {
    let mut removed = Vec::new();
    for parent in parents() {
        let empty = std::fs::read_dir(&parent)
            .map(|d| !d.flatten().any(|e| e.file_type().is_ok_and(|t| t.is_dir())))
            .unwrap_or(false);
        if empty && (dry_run || std::fs::remove_dir(&parent).is_ok()) {
            removed.push(format!("empty cgroup {}", parent.display()));
        }
    }
    removed
}

/// SIGKILLs every process listed in a `cgroup.procs` until none is left (or the deadline).
fn kill_all(procs: &Path, deadline: Instant) {
    loop {
        let pids: Vec<i32> = std::fs::read_to_string(procs)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The cgroup path of this process for a v1 controller, from `/proc/self/cgroup` text.
pub fn own_v1_path(own: &str, controller: &str) -> String {
    own.lines()
        .find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_string())
        })
        .unwrap_or_else(|| "/".to_string())
}

pub use crate::config::cpu_list_text as cpu_list;

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

/// An accounting file of a cgroup, named per version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    /// The memory charged now: `memory.usage_in_bytes` (v1) or `memory.current` (v2).
    MemoryNow,
    /// The highest memory charged: `memory.max_usage_in_bytes` (v1) or `memory.peak` (v2,
    /// Linux 5.19 and later).
    MemoryPeak,
    /// The CPU time used: `cpuacct.usage` (v1) or `cpu.stat` (v2).
    Cpu,
    /// The processes inside: `cgroup.procs` (the memory hierarchy's, on v1).
    Procs,
}

impl File {
    /// (the v1 controller whose hierarchy holds it, its v1 name, its v2 name).
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            File::MemoryNow => ("memory", "memory.usage_in_bytes", "memory.current"),
            File::MemoryPeak => ("memory", "memory.max_usage_in_bytes", "memory.peak"),
            File::Cpu => ("cpuacct", "cpuacct.usage", "cpu.stat"),
            File::Procs => ("memory", "cgroup.procs", "cgroup.procs"),
        }
    }
}

/// The mounted cgroup hierarchies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Version of the layout.
    pub version: Version,
    /// v1 controller name → mount point (for co-mounted ones, each name maps to the mount).
    pub v1: BTreeMap<String, PathBuf>,
    /// Every v1 mount point, named hierarchies (`name=systemd`) included.
    #[serde(default)]
    pub v1_mounts: Vec<PathBuf>,
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
        let mut v1_mounts = Vec::new();
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
                    v1_mounts.push(point.clone());
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
            v1_mounts,
            unified,
            unified_controllers,
        })
    }

    /// `file` of the cgroup at `rel` (relative to each hierarchy's root) that a runtime or an
    /// engine makes: in the v1 hierarchy of its controller where the memory controller is on
    /// v1 (v1 and hybrid hosts), in the unified tree otherwise.
    pub fn file(&self, rel: &str, file: File) -> PathBuf {
        let (controller, v1, v2) = file.names();
        let rel = rel.trim_start_matches('/');
        match (self.v1.get(controller), self.v1.contains_key("memory")) {
            (Some(mount), true) => mount.join(rel).join(v1),
            _ => self.unified.clone().unwrap_or_default().join(rel).join(v2),
        }
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

    #[test]
    fn own_v1_paths_are_found_per_controller() {
        let own = "8:pids:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/\n";
        assert_eq!(own_v1_path(own, "memory"), "/process_api/abc");
        assert_eq!(own_v1_path(own, "cpuacct"), "/x");
        assert_eq!(own_v1_path(own, "cpuset"), "/");
    }

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
        assert!(l
            .v1_mounts
            .contains(&dir.path().join("sys/fs/cgroup/systemd")));
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
