//! How the host's peer reached an instance across its network boundary.

use serde::{Deserialize, Serialize};

/// How the host's peer reached an instance across its network boundary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetRecord {
    /// Each path, the headline's first.
    pub paths: Vec<NetPathRecord>,
    /// The CPUs the peer could run on (off the workload's when it is pinned).
    pub peer_cpus: Vec<usize>,
    /// The CPUs the instance was pinned to, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_cpus: Option<Vec<usize>>,
    /// Where the peer ran against the instance for the headline figures (absent in results
    /// written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// Where the host's peer ran against the instance for a trial's headline figures.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Peer and instance on different CPUs: every round trip wakes the other CPU. The
    /// peer's second set, on the instance's CPU, is `round_trip_same_cpu`.
    CrossCpu,
    /// The peer's CPUs include the instance's: the scheduler places both.
    Shared,
    /// The instance is not pinned: the scheduler places both.
    Unpinned,
}

impl Placement {
    /// The placement of a peer on `peer` against an instance pinned to `instance`.
    pub fn of(peer: &[usize], instance: Option<&[usize]>) -> Placement {
        match instance {
            None | Some([]) => Placement::Unpinned,
            Some(i) if i.iter().any(|c| peer.contains(c)) => Placement::Shared,
            Some(_) => Placement::CrossCpu,
        }
    }
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
    /// The link MTU on this path, bytes (absent in results written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::Placement;

    #[test]
    fn the_placement_says_whether_peer_and_instance_share_a_cpu() {
        assert_eq!(Placement::of(&[0], Some(&[1])), Placement::CrossCpu);
        assert_eq!(Placement::of(&[0, 1], Some(&[1])), Placement::Shared);
        assert_eq!(Placement::of(&[0, 1], None), Placement::Unpinned);
        assert_eq!(Placement::of(&[0], Some(&[])), Placement::Unpinned);
    }
}
