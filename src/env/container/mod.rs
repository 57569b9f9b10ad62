//! The container environments: vmbench's builtin container and the OCI runtimes.

pub mod builtin;
pub mod cgroup;
pub mod oci;
