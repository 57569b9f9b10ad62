//! Who made an object: everything a run makes carries its pid in its name
//! (`vmbench-<pid>-…`: cgroups, containers, work folders, cache staging), so whether its
//! owner is alive can be checked, and what a dead run left is recognisable.

use std::path::{Path, PathBuf};

/// Whether a process with this pid exists.
pub fn pid_alive(pid: i32) -> bool {
    pid > 0 && Path::new("/proc").join(pid.to_string()).exists()
}

/// The owner pid in a name `vmbench-<pid>-...`.
pub fn owner_of(name: &str) -> Option<i32> {
    name.strip_prefix("vmbench-")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// The state directory: `$VMBENCH_STATE`; for root `/run/vmbench` when it can be made; for an
/// ordinary user `$XDG_RUNTIME_DIR/vmbench`; else a folder of this user's under the temporary
/// directory. Each user has their own: a user's runs never see or clean another user's.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VMBENCH_STATE") {
        return PathBuf::from(dir);
    }
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        let run = PathBuf::from("/run/vmbench");
        if std::fs::create_dir_all(run.join("runs")).is_ok() {
            return run;
        }
    } else if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(runtime).join("vmbench");
    }
    std::env::temp_dir().join(format!("vmbench-state-{uid}"))
}

/// Whether this user owns the file or folder at `path` (a shared folder such as `/tmp` holds
/// every user's files: each user removes only their own).
pub fn owned_by_me(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw())
}

#[cfg(test)]
mod tests {
    #[test]
    fn owners_are_read_from_names() {
        assert_eq!(super::owner_of("vmbench-123-4"), Some(123));
        assert_eq!(super::owner_of("vmbench-x-4"), None);
        assert_eq!(super::owner_of("other-123"), None);
        assert!(super::pid_alive(std::process::id() as i32));
        assert!(!super::pid_alive(0));
    }
}
