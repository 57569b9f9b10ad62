//! The mounts every container gets, in one table shared by the builtin container (turned into
//! child steps) and the OCI bundle (turned into `config.json` mounts), so the two cannot drift.

use crate::env::child::Step;
use nix::mount::MsFlags;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Where a mount's source comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A pseudo filesystem named by its type (`proc`, `tmpfs`).
    Fs(&'static str),
    /// The run's host data directory, bind-mounted.
    DataDir,
}

/// One mount inside a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it appears inside.
    pub destination: &'static str,
    /// What is mounted.
    pub source: Source,
    /// Mount flags (`MS_BIND` for a bind mount).
    pub flags: MsFlags,
    /// Filesystem options, comma separated.
    pub data: &'static str,
}

/// The container's mounts, in order.
pub const MOUNTS: [MountEntry; 4] = [
    MountEntry {
        destination: "/proc",
        source: Source::Fs("proc"),
        flags: MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
        data: "",
    },
    MountEntry {
        destination: "/dev",
        source: Source::Fs("tmpfs"),
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        data: "mode=755,size=64k",
    },
    MountEntry {
        destination: "/tmp",
        source: Source::Fs("tmpfs"),
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: "mode=1777",
    },
    MountEntry {
        destination: "/data",
        source: Source::DataDir,
        flags: MsFlags::MS_BIND.union(MsFlags::MS_REC),
        data: "",
    },
];

/// Device nodes of `/dev` (name, major, minor); OCI runtimes create the same ones themselves.
pub const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Links of `/dev` (name, target), as OCI runtimes make them.
pub const DEV_LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("paths have no NUL bytes")
}

impl MountEntry {
    fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// The `mount(2)` step that puts this entry under `root` (before pivot_root).
    pub fn step(&self, root: &Path, data_dir: &Path) -> Step {
        let target = root.join(self.destination.trim_start_matches('/'));
        let (source, fstype) = match self.source {
            Source::Fs(fs) => (c(Path::new(fs)), Some(c(Path::new(fs)))),
            Source::DataDir => (c(data_dir), None),
        };
        Step::Mount {
            source: Some(source),
            target: c(&target),
            fstype,
            flags: self.flags,
            data: (!self.data.is_empty()).then(|| CString::new(self.data).expect("no NUL bytes")),
        }
    }

    /// Its options as an OCI runtime spec writes them (`rbind`, `nosuid`, the fs data...).
    pub fn oci_options(&self) -> Vec<String> {
        let mut options: Vec<String> = Vec::new();
        if self.is_bind() {
            let rec = self.flags.contains(MsFlags::MS_REC);
            options.push(if rec { "rbind" } else { "bind" }.into());
            options.push("rw".into());
        }
        for (flag, word) in [
            (MsFlags::MS_NOSUID, "nosuid"),
            (MsFlags::MS_NODEV, "nodev"),
            (MsFlags::MS_NOEXEC, "noexec"),
            (MsFlags::MS_RDONLY, "ro"),
        ] {
            if self.flags.contains(flag) {
                options.push(word.into());
            }
        }
        options.extend(
            self.data
                .split(',')
                .filter(|o| !o.is_empty())
                .map(String::from),
        );
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_gives_the_same_mounts_to_both_kinds_of_container() {
        let data = Path::new("/var/tmp/d");
        for entry in MOUNTS {
            let options = entry.oci_options();
            let Step::Mount {
                target,
                flags,
                data: opts,
                ..
            } = entry.step(Path::new("/r"), data)
            else {
                panic!("a mount step")
            };
            assert_eq!(target.to_str().unwrap(), format!("/r{}", entry.destination));
            assert_eq!(flags, entry.flags);
            for o in opts
                .as_ref()
                .map(|d| d.to_str().unwrap().to_string())
                .unwrap_or_default()
                .split(',')
                .filter(|o| !o.is_empty())
            {
                assert!(
                    options.iter().any(|x| x == o),
                    "{o} missing from {options:?}"
                );
            }
            assert_eq!(
                options.iter().any(|o| o == "nosuid"),
                entry.flags.contains(MsFlags::MS_NOSUID)
            );
        }
        assert!(MOUNTS[1].oci_options().iter().any(|o| o == "size=64k"));
        assert_eq!(MOUNTS[3].oci_options()[0], "rbind");
    }
}
