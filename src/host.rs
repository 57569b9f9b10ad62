//! Facts about the host a run measured, recorded in every results file.

pub use crate::results::HostInfo;
use std::collections::BTreeMap;
use std::path::Path;

/// Reads the host facts that need no external program.
pub fn probe() -> HostInfo {
    probe_at(Path::new("/"))
}

/// Reads the host facts below `root` (a fixture tree in tests).
pub fn probe_at(root: &Path) -> HostInfo {
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap_or_default();
    let cpuinfo = read("proc/cpuinfo");
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, f)| f.split_whitespace().collect())
        .unwrap_or_default();
    let uts = nix::sys::utsname::uname().ok();
    HostInfo {
        hostname: read("proc/sys/kernel/hostname").trim().to_string(),
        kernel: uts
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        os: read("etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default(),
        cpu_model: cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default(),
        cores: cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count(),
        memory_bytes: vmbench_workload::view::meminfo_field(&read("proc/meminfo"), "MemTotal:")
            .unwrap_or(0),
        cpu_virt_flag: flags.iter().any(|f| *f == "vmx" || *f == "svm"),
        nested: flags.contains(&"hypervisor"),
        cgroup: crate::env::container::cgroup::Layout::probe_at(root)
            .map(|l| l.describe())
            .unwrap_or_else(|e| e.to_string()),
        accelerator: None,
        accelerator_reason: None,
        qemu_version: None,
        runtimes: BTreeMap::new(),
        engines: Default::default(),
        root: nix::unistd::geteuid().is_root(),
    }
}

/// First line of `PROGRAM --version`, when the program runs.
pub fn version_of(program: &Path) -> Option<String> {
    let out = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// Finds a program on `PATH`.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_facts_come_from_the_given_root() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("proc/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 hypervisor\n\nprocessor\t: 1\n");
        w("proc/meminfo", "MemTotal:        1024 kB\n");
        w(
            "etc/os-release",
            "NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        );
        w(
            "proc/self/mountinfo",
            "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        );
        let h = probe_at(dir.path());
        assert_eq!(h.cpu_model, "Test CPU");
        assert_eq!(h.cores, 2);
        assert_eq!(h.memory_bytes, 1024 * 1024);
        assert!(h.nested && !h.cpu_virt_flag);
        assert_eq!(h.os, "Debian GNU/Linux 12 (bookworm)");
        assert!(h.cgroup.starts_with("v2"), "{}", h.cgroup);
    }
}
