//! The phases of an instance's life recorded in `Trial::phases`: moments of its start,
//! nanoseconds since launch, and steps of its teardown, durations. Written by the environments,
//! read by the report, recorded by name.

use std::fmt;
use strum::VariantArray;

/// One recorded phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, VariantArray)]
pub enum Phase {
    /// A plain process exec'd (native).
    Spawn,
    /// `clone3` returned in the parent (builtin container).
    Clone,
    /// The child's user namespace had its uid and gid maps (rootless container).
    IdMap,
    /// The child was in its cgroup.
    CgroupAttach,
    /// The rootless network's helpers (slirp4netns, pasta) made their taps and forwards.
    UserNetReady,
    /// Namespaces, mounts and pivot_root were done.
    MountsPivotRoot,
    /// The container's first process exec'd the workload.
    Exec,
    /// The OCI runtime exec'd.
    RuntimeExec,
    /// The engine's client exec'd.
    ClientExec,
    /// The engine reported the container created.
    EngineCreated,
    /// The engine's runtime started the container.
    RuntimeStarted,
    /// QEMU exec'd.
    QemuExec,
    /// A restored guest's incoming migration completed.
    MigrationCompleted,
    /// A restored guest resumed (`cont`).
    Resumed,
    /// A restored guest's plan was sent on its console.
    PlanSent,
    /// The guest kernel started, estimated from the guest's clock.
    GuestKernelStartEst,
    /// The guest's `/init` started, estimated from the guest's clock.
    GuestInitEst,
    /// The instance's first output byte reached the host.
    FirstOutput,
    /// Teardown: removing the builtin container's cgroups.
    TeardownCgroupRemove,
    /// Teardown: the OCI runtime's `delete`.
    TeardownRuntimeDelete,
    /// Teardown: the engine's `rm`.
    TeardownEngineRm,
}

impl Phase {
    /// Every phase.
    pub const ALL: &'static [Phase] = <Phase as VariantArray>::VARIANTS;

    /// The name recorded in results.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Spawn => "spawn",
            Phase::Clone => "clone",
            Phase::IdMap => "userns_id_map",
            Phase::CgroupAttach => "cgroup_attach",
            Phase::UserNetReady => "user_net_ready",
            Phase::MountsPivotRoot => "mounts_pivot_root",
            Phase::Exec => "exec",
            Phase::RuntimeExec => "runtime_exec",
            Phase::ClientExec => "client_exec",
            Phase::EngineCreated => "engine_created",
            Phase::RuntimeStarted => "runtime_started",
            Phase::QemuExec => "qemu_exec",
            Phase::MigrationCompleted => "migration_completed",
            Phase::Resumed => "resumed",
            Phase::PlanSent => "plan_sent",
            Phase::GuestKernelStartEst => "guest_kernel_start_est",
            Phase::GuestInitEst => "guest_init_est",
            Phase::FirstOutput => "first_output",
            Phase::TeardownCgroupRemove => "teardown_cgroup_remove",
            Phase::TeardownRuntimeDelete => "teardown_runtime_delete",
            Phase::TeardownEngineRm => "teardown_engine_rm",
        }
    }

    /// Whether the value is a teardown step's duration rather than a moment of the start.
    pub fn is_teardown(self) -> bool {
        match self {
            Phase::TeardownCgroupRemove
            | Phase::TeardownRuntimeDelete
            | Phase::TeardownEngineRm => true,
            Phase::Spawn
            | Phase::Clone
            | Phase::IdMap
            | Phase::CgroupAttach
            | Phase::UserNetReady
            | Phase::MountsPivotRoot
            | Phase::Exec
            | Phase::RuntimeExec
            | Phase::ClientExec
            | Phase::EngineCreated
            | Phase::RuntimeStarted
            | Phase::QemuExec
            | Phase::MigrationCompleted
            | Phase::Resumed
            | Phase::PlanSent
            | Phase::GuestKernelStartEst
            | Phase::GuestInitEst
            | Phase::FirstOutput => false,
        }
    }

    /// Parses a recorded name.
    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.iter().copied().find(|p| p.name() == s)
    }
}

// Ordered by name, as the results file has always listed them.
impl Ord for Phase {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for Phase {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl serde::Serialize for Phase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Phase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Phase::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown phase '{name}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_teardown_steps_say_so() {
        for &p in Phase::ALL {
            assert_eq!(Phase::parse(p.name()), Some(p));
            assert_eq!(p.is_teardown(), p.name().starts_with("teardown_"), "{p}");
        }
        let set: std::collections::HashSet<_> = Phase::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(set.len(), Phase::ALL.len());
        assert!(Phase::Clone < Phase::Exec, "ordered by name");
    }
}
