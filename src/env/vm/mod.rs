//! The VM environment: the workload as a QEMU guest's `/init`.

use crate::env::{EnvError, EnvKind, Outcome, Spec};

/// Everything prepared once for VM instances of a run.
#[derive(Debug, Clone)]
pub struct VmSettings {}

/// Runs one instance as a VM guest.
pub fn run(kind: EnvKind, _spec: &Spec, _vm: &VmSettings) -> Result<Outcome, EnvError> {
    Err(EnvError::Unavailable {
        env: kind,
        reason: "not built yet".into(),
    })
}

/// Whether this environment can run here.
pub fn availability(_kind: EnvKind, _host: &crate::host::HostInfo) -> Result<String, String> {
    Err("not built yet: fix: wait for the VM issue".into())
}

/// Records QEMU and the accelerator verdict in the host facts.
pub fn record_host(_host: &mut crate::host::HostInfo) {}

/// The VM environment `--env vm` means on this host.
pub fn best_kind(_host: &crate::host::HostInfo) -> EnvKind {
    EnvKind::VmTcg
}

/// Prepares kernel, initramfs and disk for a run's VM instances.
pub fn prepare(
    _binary: &crate::results::BinaryInfo,
    _workloads: &[vmbench_workload::Workload],
    _cache: &std::path::Path,
    _host: &mut crate::host::HostInfo,
) -> Result<VmSettings, EnvError> {
    Err(EnvError::Setup("not built yet".into()))
}
