//! The user namespace of the rootless container: who the invoking user is, which extra ids
//! `/etc/subuid` and `/etc/subgid` grant them, whether this host lets them create a user
//! namespace at all, and the id maps the parent writes for the child (through the setuid
//! `newuidmap`/`newgidmap` of Debian's `uidmap` where a range is granted, else the one id a
//! user may map for themselves).

use crate::env::Unavailable;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One line of an id map: `inside outside count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First id inside the namespace.
    pub inside: u32,
    /// First id on the host.
    pub outside: u32,
    /// How many ids.
    pub count: u32,
}

/// The uid and gid maps of one rootless instance, and how they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMaps {
    /// uid map lines.
    pub uids: Vec<IdRange>,
    /// gid map lines.
    pub gids: Vec<IdRange>,
    /// `newuidmap` and `newgidmap`, when a subordinate range is mapped through them.
    pub helpers: Option<(PathBuf, PathBuf)>,
}

/// The subordinate range `/etc/subuid`-style `text` grants the user `name` (or `id`).
pub fn subordinate(text: &str, name: &str, id: u32) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let (who, start, count) = (fields.next()?, fields.next()?, fields.next()?);
        if who != name && who.parse::<u32>().ok() != Some(id) {
            return None;
        }
        Some((start.parse().ok()?, count.parse().ok()?)).filter(|&(_, n)| n > 0)
    })
}

/// Why this host does not let the invoking user create a user namespace (`proc` is `/proc`
/// in use, a fixture in tests).
pub fn blocked(proc: &Path, root: bool) -> Option<Unavailable> {
    let read = |name: &str| {
        std::fs::read_to_string(proc.join("sys").join(name))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    if read("user/max_user_namespaces") == Some(0) {
        return Some(Unavailable::new(
            "user namespaces are disabled (user.max_user_namespaces = 0)",
            "as root: sysctl -w user.max_user_namespaces=15000",
        ));
    }
    if !root && read("kernel/unprivileged_userns_clone") == Some(0) {
        return Some(Unavailable::new(
            "this kernel lets only root create user namespaces (kernel.unprivileged_userns_clone = 0)",
            "as root: sysctl -w kernel.unprivileged_userns_clone=1",
        ));
    }
    if !root && read("kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
        return Some(Unavailable::new(
            "AppArmor takes the capabilities of an unprivileged user namespace away (kernel.apparmor_restrict_unprivileged_userns = 1)",
            "as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile allowing userns for vmbench",
        ));
    }
    None
}

/// The maps for the invoking user: their own uid and gid as 0 inside, then the subordinate
/// ranges `/etc/subuid` and `/etc/subgid` grant them (which need `newuidmap`/`newgidmap`).
pub fn maps_for_me() -> Result<IdMaps, Unavailable> {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let name = nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let own = |id| IdRange {
        inside: 0,
        outside: id,
        count: 1,
    };
    let sub = |range: Option<(u32, u32)>| {
        range.map(|(start, count)| IdRange {
            inside: 1,
            outside: start,
            count,
        })
    };
    let (sub_uid, sub_gid) = (
        sub(subordinate(&read("/etc/subuid"), &name, uid)),
        sub(subordinate(&read("/etc/subgid"), &name, uid)),
    );
    let (Some(sub_uid), Some(sub_gid)) = (sub_uid, sub_gid) else {
        // Without a range, the one id a user may map without help.
        return Ok(IdMaps {
            uids: vec![own(uid)],
            gids: vec![own(gid)],
            helpers: None,
        });
    };
    let helpers = match (
        crate::tool::which("newuidmap"),
        crate::tool::which("newgidmap"),
    ) {
        (Some(u), Some(g)) => (u, g),
        _ => {
            return Err(Unavailable::new(
                format!(
                    "/etc/subuid grants {} ids {}..{} but newuidmap/newgidmap are not installed to map them",
                    if name.is_empty() { uid.to_string() } else { name },
                    sub_uid.outside,
                    sub_uid.outside as u64 + sub_uid.count as u64 - 1
                ),
                "as root: apt-get install uidmap",
            ))
        }
    };
    Ok(IdMaps {
        uids: vec![own(uid), sub_uid],
        gids: vec![own(gid), sub_gid],
        helpers: Some(helpers),
    })
}

fn lines(ranges: &[IdRange]) -> String {
    ranges
        .iter()
        .map(|r| format!("{} {} {}\n", r.inside, r.outside, r.count))
        .collect()
}

impl IdMaps {
    /// How they are written, for the trial's record.
    pub fn describe(&self) -> String {
        let ids: u64 = self.uids.iter().map(|r| r.count as u64).sum();
        match &self.helpers {
            Some(_) => format!("newuidmap/newgidmap: {ids} uids (own uid as 0, then /etc/subuid)"),
            None => "own uid and gid as 0 (one id, no subordinate range)".into(),
        }
    }

    /// Writes the maps of the child `pid` (still waiting for them).
    pub fn write(&self, pid: i32) -> Result<(), String> {
        match &self.helpers {
            Some((newuidmap, newgidmap)) => {
                helper(newuidmap, pid, &self.uids)?;
                helper(newgidmap, pid, &self.gids)
            }
            None => {
                let proc = PathBuf::from(format!("/proc/{pid}"));
                let write = |file: &str, text: &str| {
                    std::fs::write(proc.join(file), text)
                        .map_err(|e| format!("cannot write /proc/{pid}/{file}: {e}"))
                };
                write("uid_map", &lines(&self.uids))?;
                // An unprivileged process may map its gid only once setgroups is denied.
                if !nix::unistd::geteuid().is_root() {
                    write("setgroups", "deny")?;
                }
                write("gid_map", &lines(&self.gids))
            }
        }
    }
}

fn helper(program: &Path, pid: i32, ranges: &[IdRange]) -> Result<(), String> {
    let mut cmd = Command::new(program);
    cmd.arg(pid.to_string());
    for r in ranges {
        cmd.args([
            r.inside.to_string(),
            r.outside.to_string(),
            r.count.to_string(),
        ]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} failed ({}): {}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// The cgroup v2 subtree delegated to the invoking user, or why an ordinary user's
/// containers run without limits here (cgroup v1, no delegation, or a delegation vmbench
/// cannot use).
pub fn delegated_cgroup() -> Result<PathBuf, String> {
    use super::cgroup::Layout;
    let layout = Layout::probe().map_err(|e| format!("no limits: {e}"))?;
    if layout.v1.contains_key("memory") {
        return Err(
            "no limits: the cgroup tree is not delegated to this user (the memory controller is on cgroup v1, which is never delegated)"
                .into(),
        );
    }
    let Some(root) = layout.unified else {
        return Err("no limits: no cgroup v2 tree is mounted".into());
    };
    super::cgroup::delegated(&root, &super::cgroup::own())
}

/// Why an ordinary user's containers run without limits here, when they do.
pub fn no_limits_reason() -> String {
    delegated_cgroup()
        .err()
        .unwrap_or_else(|| "no limits: the engine does not use the delegated cgroup tree".into())
}

/// The effective uid of a host process (from its `/proc/<pid>/status`).
pub fn host_uid(pid: i32) -> Option<u32> {
    procfs::process::Process::new(pid)
        .ok()?
        .status()
        .ok()
        .map(|s| s.euid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_range_is_found_by_name_or_uid() {
        let text = "alice:100000:65536\n1001:165536:65536\nbob:231072:0\n";
        assert_eq!(subordinate(text, "alice", 1000), Some((100000, 65536)));
        assert_eq!(subordinate(text, "carol", 1001), Some((165536, 65536)));
        assert_eq!(
            subordinate(text, "bob", 1002),
            None,
            "an empty range is none"
        );
        assert_eq!(subordinate(text, "dave", 1003), None);
    }

    #[test]
    fn a_host_without_user_namespaces_says_which_setting_and_the_fix() {
        let proc = tempfile::tempdir().unwrap();
        let sys = proc.path().join("sys");
        std::fs::create_dir_all(sys.join("user")).unwrap();
        std::fs::create_dir_all(sys.join("kernel")).unwrap();
        std::fs::write(sys.join("user/max_user_namespaces"), "15000\n").unwrap();
        assert_eq!(blocked(proc.path(), false), None);
        std::fs::write(sys.join("kernel/unprivileged_userns_clone"), "0\n").unwrap();
        let why = blocked(proc.path(), false).unwrap();
        assert!(
            why.detail.contains("unprivileged_userns_clone = 0"),
            "{why}"
        );
        assert_eq!(
            blocked(proc.path(), true),
            None,
            "root is not held back by it"
        );
        std::fs::write(sys.join("user/max_user_namespaces"), "0\n").unwrap();
        let why = blocked(proc.path(), true).unwrap();
        assert!(why.fix.contains("max_user_namespaces"), "{why}");
    }

    #[test]
    fn this_process_has_a_host_uid() {
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(host_uid(std::process::id() as i32), Some(me));
        assert_eq!(host_uid(0), None);
    }
}
