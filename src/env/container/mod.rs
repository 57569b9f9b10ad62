//! The container environments: vmbench's builtin container (namespaces + cgroups + pivot_root)
//! and the OCI runtimes runc and crun running the same image.

pub mod builtin;
pub mod cgroup;
pub mod image;
pub mod namespaces;
pub mod oci;

use crate::env::EnvError;
use cgroup::{Layout, Version};
use std::path::Path;

/// Default limit on tasks per container.
pub const DEFAULT_PIDS_MAX: u64 = 1024;

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

/// Prepares the image and cgroup facts for a run's container instances.
pub fn prepare(
    binary: &crate::results::BinaryInfo,
    cache: &Path,
) -> Result<ContainerSettings, EnvError> {
    let layout = Layout::probe().map_err(|e| EnvError::Setup(crate::error_chain(&e)))?;
    let image = image::ensure(cache, &binary.path, &binary.sha256).map_err(|e| {
        EnvError::Setup(format!(
            "build the container image in {}: {e}",
            cache.display()
        ))
    })?;
    Ok(ContainerSettings {
        cgroup_mounts: cgroup_mounts(&layout),
        layout,
        own_cgroup: std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
        image,
        pids_max: DEFAULT_PIDS_MAX,
    })
}
