//! A density sweep's record: N instances alive at once, step by step.

use crate::ids::EnvKind;
use serde::{Deserialize, Serialize};

/// A density sweep: N instances of each environment alive at once, step by step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DensityRecord {
    /// Whether this host has KSM (`/sys/kernel/mm/ksm`).
    pub ksm_available: bool,
    /// One record per (environment, count, KSM setting) that ran.
    pub steps: Vec<DensityStep>,
    /// Environments whose sweep stopped before its last count, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<(EnvKind, String)>,
}

/// One density step: `count` instances started as fast as the host allows, measured once all
/// were ready, then released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DensityStep {
    /// Environment.
    pub env: EnvKind,
    /// Instances alive at once.
    pub count: u32,
    /// KSM merging during the step (VMs on a host with KSM), else None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ksm: Option<bool>,
    /// From the first launch until the last instance was ready, milliseconds.
    pub all_ready_ms: f64,
    /// Each instance's own startup (its launch to its ready), milliseconds.
    pub startup_ms: Vec<f64>,
    /// `MemAvailable` before the first launch and with all instances ready, bytes.
    pub mem_available: (u64, u64),
    /// `Committed_AS` before and with all ready, bytes.
    pub committed: (u64, u64),
    /// Sum of the instances' PSS (every process of each instance), bytes.
    pub pss_bytes: u64,
    /// Sum of the instances' RSS, bytes.
    pub rss_bytes: u64,
    /// Sum of the instances' cgroup charges, for containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_bytes: Option<u64>,
    /// `MemTotal` each guest reports, for VMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_mem_total_bytes: Option<u64>,
    /// Mean PSS per instance of the workload binary's file-backed pages (shared page cache),
    /// where the host can see them (not inside a guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_pss_bytes: Option<f64>,
    /// Bytes of the workload binary each guest holds in its own RAM (its initramfs), for VMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_in_guest_bytes: Option<u64>,
    /// Mean PSS per instance of the instance process's own executable's file-backed pages
    /// (QEMU's, for VMs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe_pss_bytes: Option<f64>,
    /// Memory KSM merged away during the step (`pages_sharing`), bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ksm_saved_bytes: Option<u64>,
    /// Sum over the instances of the highest RSS the sampler saw during the step, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// CPU the step's sampler used while it sampled every instance, as a fraction of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector_fraction: Option<f64>,
}

impl DensityStep {
    /// Host memory the step took: `MemAvailable` before less with all ready.
    pub fn host_used_bytes(&self) -> i64 {
        self.mem_available.0 as i64 - self.mem_available.1 as i64
    }
}
