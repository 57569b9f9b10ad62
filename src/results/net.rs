//! How the host's peer reached an instance across its network boundary.

use serde::{Deserialize, Serialize};

/// How the host's peer reached an instance across its network boundary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetRecord {
    /// Each path, the headline's first.
    pub paths: Vec<NetPathRecord>,
    /// The CPUs the peer could run on (off the workload's when it is pinned).
    pub peer_cpus: Vec<usize>,
}

/// One path the peer measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetPathRecord {
    /// The path.
    pub path: crate::ids::NetPath,
    /// The address the peer connected to.
    pub connect: String,
    /// Where the instance listened, as it sees it.
    pub instance: String,
    /// The host-side interface vmbench made, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_link: Option<String>,
    /// The suffix of this path's metric names (empty for the headline path).
    pub metric_suffix: String,
}
