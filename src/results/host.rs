//! The machine and its software, as recorded in every results file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A container engine as it reported itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EngineInfo {
    /// The command-line client run, with its version.
    pub client: String,
    /// The engine's version (Docker's daemon, or Podman itself).
    pub version: String,
    /// Storage driver (`overlay2`, `overlay`, `vfs`...).
    pub storage_driver: String,
    /// cgroup driver or manager (`cgroupfs`, `systemd`).
    pub cgroup_driver: String,
    /// The OCI runtime it starts containers with.
    pub runtime: String,
    /// Security options applied by default (seccomp, AppArmor...).
    #[serde(default)]
    pub security: Vec<String>,
}

/// The machine and its software, as recorded in results.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// Kernel release.
    pub kernel: String,
    /// Distribution (`PRETTY_NAME` of os-release).
    pub os: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Logical CPUs online.
    pub cores: usize,
    /// Physical memory.
    pub memory_bytes: u64,
    /// Whether the CPU advertises hardware virtualisation (vmx/svm).
    pub cpu_virt_flag: bool,
    /// Whether the host itself runs under a hypervisor.
    pub nested: bool,
    /// cgroup layout, one line.
    pub cgroup: String,
    /// Accelerator a VM environment would use, and why.
    #[serde(default)]
    pub accelerator: Option<String>,
    /// Why that accelerator was chosen.
    #[serde(default)]
    pub accelerator_reason: Option<String>,
    /// QEMU version line, when QEMU was found.
    #[serde(default)]
    pub qemu_version: Option<String>,
    /// OCI runtimes found, name → version line.
    #[serde(default)]
    pub runtimes: BTreeMap<String, String>,
    /// Container engines found (`docker`, `podman`): versions, drivers, the runtime they use.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub engines: BTreeMap<String, EngineInfo>,
    /// Running as root.
    pub root: bool,
}
