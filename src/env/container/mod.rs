//! The container environments: vmbench's builtin container (namespaces + cgroups + pivot_root),
//! the OCI runtimes runc and crun, and the engines Podman and Docker, all running the same image.

pub mod builtin;
pub mod cgroup;
pub mod engine;
pub mod image;
pub mod mounts;
pub mod namespaces;
pub mod oci;
pub mod userns;

use crate::env::EnvError;
use cgroup::{Layout, Version};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A unique name for an instance (its cgroup, its OCI container id).
pub fn instance_name() -> String {
    format!(
        "vmbench-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Default limit on tasks per container.
pub const DEFAULT_PIDS_MAX: u64 = 1024;

/// The cgroup limits a container instance of `spec` gets: its CPUs, CPU quota, memory and at
/// most `pids_max` tasks.
pub fn instance_limits(spec: &crate::env::Spec, pids_max: u64) -> cgroup::Limits {
    cgroup::Limits {
        cpus: spec.cpus.map(<[usize]>::to_vec),
        cpu_quota_us: spec
            .cpu_quota
            .map(|cpus| ((cpus * 100_000.0).round() as u64, 100_000)),
        memory_bytes: Some(spec.memory_mib << 20),
        pids_max: Some(pids_max),
    }
}

/// What every container instance of a run shares, prepared once.
#[derive(Debug, Clone)]
pub struct ContainerSettings {
    /// The mounted cgroup layout.
    pub layout: Layout,
    /// `/proc/self/cgroup` of the harness.
    pub own_cgroup: String,
    /// The image.
    pub image: image::Image,
    /// Limit on tasks per container.
    pub pids_max: u64,
    /// cgroup hierarchies shown inside: (directory under /sys/fs/cgroup, fstype, options).
    pub cgroup_mounts: Vec<(String, &'static str, String)>,
    /// How a container's first process enters its cgroup.
    pub attach: crate::results::AttachPath,
    /// The run's folder for temporary files (OCI bundles and runtime state).
    pub work_dir: std::path::PathBuf,
}

/// The cheapest way into a cgroup this host offers: created inside it on cgroup v2 (Linux
/// 5.7 and later), else the child moving itself on v1 and hybrid hosts (no RCU grace period,
/// as a single thread moving alone skips the threadgroup lock), else the parent migrating it.
pub fn attach_path(layout: &Layout, release: &str) -> crate::results::AttachPath {
    use crate::results::AttachPath;
    if layout.v1.contains_key("memory") {
        AttachPath::SelfTasks
    } else if kernel_has_clone_into_cgroup(release) {
        AttachPath::Clone3IntoCgroup
    } else {
        AttachPath::ParentProcs
    }
}

/// Whether the running kernel has `clone3(CLONE_INTO_CGROUP)` (Linux 5.7 and later).
pub fn kernel_has_clone_into_cgroup(release: &str) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (5, 7)
}

/// The cgroup hierarchies to mount read-only inside a container so the workload sees its
/// own limits: the v1 hierarchies of the limited controllers, or the unified tree.
pub fn cgroup_mounts(layout: &Layout) -> Vec<(String, &'static str, String)> {
    if layout.version == Version::V2 || !layout.v1.contains_key("memory") {
        return vec![(String::new(), "cgroup2", String::new())];
    }
    let mut out: Vec<(String, &'static str, String)> = Vec::new();
    for controller in ["cpu", "cpuacct", "cpuset", "memory", "pids"] {
        let Some(mount) = layout.v1.get(controller) else {
            continue;
        };
        let dir = mount
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if out.iter().any(|(d, _, _)| *d == dir) {
            continue;
        }
        let options: Vec<&str> = layout
            .v1
            .iter()
            .filter(|(_, m)| *m == mount)
            .map(|(c, _)| c.as_str())
            .collect();
        out.push((dir, "cgroup", options.join(",")));
    }
    out
}

/// Prepares the `kind` image and cgroup facts for a run's container instances.
pub fn prepare(
    kind: crate::ids::ImageKind,
    binary: &crate::results::BinaryInfo,
    cache: &Path,
    work_dir: &Path,
) -> Result<ContainerSettings, EnvError> {
    let layout = Layout::probe()?;
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let image = image::ensure(kind, cache, &binary.path, &binary.sha256)?;
    let attach = attach_path(&layout, &release);
    Ok(ContainerSettings {
        attach,
        work_dir: work_dir.to_path_buf(),
        cgroup_mounts: cgroup_mounts(&layout),
        layout,
        own_cgroup: cgroup::own(),
        image,
        pids_max: DEFAULT_PIDS_MAX,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn clone_into_cgroup_needs_linux_5_7() {
        assert!(super::kernel_has_clone_into_cgroup("6.18.0-pvm"));
        assert!(super::kernel_has_clone_into_cgroup("5.7.1"));
        assert!(!super::kernel_has_clone_into_cgroup("5.4.0-150-generic"));
        assert!(!super::kernel_has_clone_into_cgroup("garbage"));
    }
}
