//! Fleet runs on Kubernetes: the image of vmbench itself, the manifests of an Indexed Job that
//! runs the suite once on each node, what each pod runs, and the collector that fetches every
//! pod's results back through the cluster's API (kubectl) for one merged report.

pub mod collect;
pub mod image;
pub mod manifest;
pub mod node;
pub mod transport;

/// Why a fleet command could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A node name that cannot be a Kubernetes node name (nor a file name).
    #[error(
        "node name {0:?} is not a Kubernetes node name (lowercase letters, digits, '-' and '.')"
    )]
    NodeName(String),
    /// The host's cgroup namespace could not be joined.
    #[error("cannot join the host's cgroup namespace ({0}): run the pod privileged with hostPID, as the manifest does")]
    Cgroupns(String),
}

/// Checks that `name` is a DNS-1123 subdomain, as Kubernetes node names are, so that it can
/// also name a file safely.
pub fn check_node_name(name: &str) -> Result<(), FleetError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(FleetError::NodeName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_that_could_escape_a_folder_are_refused() {
        for good in ["node-a", "ip-10-0-1-7.ec2.internal", "n1"] {
            assert!(check_node_name(good).is_ok(), "{good}");
        }
        for bad in ["", "../etc", "a/b", "Node", "-a", "a..b", ".", "a b"] {
            assert!(check_node_name(bad).is_err(), "{bad}");
        }
    }
}
