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
    let enabled = read_file(&dir.join("cgroup.subtree_control")).unwrap_or_default();
    let has = |list: &str, c: &str| list.split_whitespace().any(|a| a == c);
    for c in CONTROLLERS
        .iter()
        .filter(|c| has(&available, c) && !has(&enabled, c))
    {
        let written = write_file(&dir.join("cgroup.subtree_control"), &format!("+{c}"));
        // cpuset is optional: a delegated subtree may hold processes that keep it off, and
        // the workload's affinity pins it anyway.
        if *c != "cpuset" {
            written?;
        }
    }
    Ok(())
}

/// Controllers a delegated subtree must offer for the limits vmbench puts on an instance
/// (cpuset is used where it is offered; systemd does not delegate it by default).
const DELEGATED: [&str; 3] = ["cpu", "memory", "pids"];

/// The top of the cgroup v2 subtree delegated to this user, where an ordinary user's
/// instances get their limits, or why there is none (a sentence starting "no limits: ").
/// `root` is the unified hierarchy's mount and `own` the text of `/proc/self/cgroup`.
pub fn delegated(root: &Path, own: &str) -> Result<PathBuf, String> {
    let not = "no limits: the cgroup tree is not delegated to this user";
    let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return Err(format!("{not} (no cgroup v2 entry in /proc/self/cgroup)"));
    };
    let mine = |dir: &Path| {
        let writable =
            |f: &str| nix::unistd::access(&dir.join(f), nix::unistd::AccessFlags::W_OK).is_ok();
        crate::owner::owned_by_me(dir)
            && writable("cgroup.procs")
            && writable("cgroup.subtree_control")
    };
    // The highest folder of the user's own cgroup's ancestry that is the user's.
    let own_dir = root.join(path.trim().trim_start_matches('/'));
    let top = own_dir
        .ancestors()
        .take_while(|d| d.starts_with(root) && mine(d))
        .last()
        .map(Path::to_path_buf);
    let Some(top) = top else {
        return Err(format!(
            "{not} (its cgroup {} is not theirs)",
            own_dir.display()
        ));
    };
    let words = |f: &str| read_file(&top.join(f)).unwrap_or_default();
    let offered = words("cgroup.controllers");
    if let Some(c) = DELEGATED
        .iter()
        .find(|c| !offered.split_whitespace().any(|o| o == **c))
    {
        return Err(format!(
            "no limits: the cgroup subtree delegated to this user ({}) lacks the {c} controller: as root, write +{c} to its parent's cgroup.subtree_control",
            top.display()
        ));
    }
    let enabled = words("cgroup.subtree_control");
    let all_on = DELEGATED
        .iter()
        .all(|c| enabled.split_whitespace().any(|o| o == *c));
    if !all_on && !words("cgroup.procs").trim().is_empty() {
        return Err(format!(
            "no limits: the delegated cgroup {} holds processes, so its controllers cannot be turned on for its children: move them into a child cgroup (mkdir {0}/session, then write their pids to {0}/session/cgroup.procs)",
            top.display()
        ));
    }
    Ok(top)
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
        // Without the cpuset controller (a subtree systemd delegates) the child's own
        // affinity is the pinning.
        if let Some(cpus) = limits
            .cpus
            .as_ref()
            .filter(|_| d.join("cpuset.cpus").exists())
        {
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

    /// A unified tree with `user/session` as this process's cgroup: `user` offers and enables
    /// what is given, `session` holds the processes.
    fn tree(offered: &str, enabled: &str, user_procs: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let user = root.path().join("user");
        std::fs::create_dir_all(user.join("session")).unwrap();
        for dir in [root.path(), &user, &user.join("session")] {
            for f in [
                "cgroup.procs",
                "cgroup.subtree_control",
                "cgroup.controllers",
            ] {
                std::fs::write(dir.join(f), "").unwrap();
            }
        }
        std::fs::write(user.join("cgroup.controllers"), offered).unwrap();
        std::fs::write(user.join("cgroup.subtree_control"), enabled).unwrap();
        std::fs::write(user.join("cgroup.procs"), user_procs).unwrap();
        std::fs::write(user.join("session/cgroup.procs"), "42\n").unwrap();
        // The hierarchy's root is not the user's: someone else's (as root), or read-only.
        if nix::unistd::geteuid().is_root() {
            nix::unistd::chown(root.path(), Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let procs = root.path().join("cgroup.procs");
            std::fs::set_permissions(procs, std::fs::Permissions::from_mode(0o444)).unwrap();
        }
        root
    }

    #[test]
    fn the_delegated_subtree_is_the_highest_folder_of_the_users_own() {
        let own = "0::/user/session\n";
        let t = tree("cpuset cpu memory pids", "cpu memory pids", "");
        assert_eq!(delegated(t.path(), own).unwrap(), t.path().join("user"));
        let t = tree("cpu memory", "cpu memory", "");
        let why = delegated(t.path(), own).unwrap_err();
        assert!(why.contains("lacks the pids controller"), "{why}");
        let t = tree("cpu memory pids", "cpu", "7\n");
        let why = delegated(t.path(), own).unwrap_err();
        assert!(
            why.contains("holds processes") && why.contains("/session"),
            "{why}"
        );
        let why = delegated(t.path(), "1:name=systemd:/\n").unwrap_err();
        assert!(
            why.starts_with("no limits: the cgroup tree is not delegated"),
            "{why}"
        );
    }

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
        std::fs::write(root.path().join("vmbench/vmbench-7/cpuset.cpus"), "").unwrap();
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
