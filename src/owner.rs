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

/// The state directory: `$VMBENCH_STATE`, else `/run/vmbench` when it can be made, else a
/// folder of this user's under the temporary directory.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VMBENCH_STATE") {
        return PathBuf::from(dir);
    }
    let run = PathBuf::from("/run/vmbench");
    if std::fs::create_dir_all(run.join("runs")).is_ok() {
        return run;
    }
    std::env::temp_dir().join(format!("vmbench-state-{}", nix::unistd::geteuid()))
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
