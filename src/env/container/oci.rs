//! OCI runtimes (runc, crun) as comparators.

use crate::env::{EnvError, EnvKind, Outcome, Spec};

/// Runs one instance through an OCI runtime.
pub fn run(kind: EnvKind, _spec: &Spec) -> Result<Outcome, EnvError> {
    Err(EnvError::Unavailable {
        env: kind,
        reason: "not built yet".into(),
    })
}

/// Whether this environment can run here.
pub fn availability(_kind: EnvKind, host: &crate::host::HostInfo) -> Result<String, String> {
    let _ = host;
    Err("not built yet: fix: wait for the container issue".into())
}

/// Records the runtimes found in the host facts.
pub fn record_runtimes(_host: &mut crate::host::HostInfo) {}
