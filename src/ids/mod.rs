//! Typed identifiers shared by the records and the runtime: which environment a trial ran in,
//! its family, and the accelerator of a VM. Plain data, so the results records can use them
//! without importing any code that launches anything.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One environment kind, recorded in every trial by its name (`native`, `vm-tcg`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnvKind {
    /// A plain child process of the harness.
    Native,
    /// vmbench's own container: namespaces, cgroups and pivot_root.
    Container,
    /// The same image through `runc`.
    ContainerRunc,
    /// The same image through `crun`.
    ContainerCrun,
    /// The same image and bundle through gVisor's `runsc`: a kernel in user space.
    ContainerGvisor,
    /// The same image imported into Podman, run with `podman run`.
    ContainerPodman,
    /// The same image imported into Docker Engine, run with `docker run`.
    ContainerDocker,
    /// A QEMU guest with hardware virtualisation (KVM).
    VmKvm,
    /// A QEMU guest under software emulation (TCG).
    VmTcg,
    /// The KVM guest restored from a snapshot taken just before its workload starts.
    VmKvmSnapshot,
    /// The TCG guest restored from a snapshot taken just before its workload starts.
    VmTcgSnapshot,
}

/// The broad kind of isolation an environment gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// No isolation: the baseline.
    Native,
    /// A process on the host's kernel behind namespaces and cgroups.
    Container,
    /// A guest kernel on virtual hardware.
    Vm,
}

/// The accelerator a VM runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Hardware-assisted virtualisation.
    Kvm,
    /// QEMU's binary translator (software emulation).
    Tcg,
}

impl Accel {
    /// Name as QEMU spells it.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

impl EnvKind {
    /// Every environment, in report order.
    pub const ALL: [EnvKind; 11] = [
        EnvKind::Native,
        EnvKind::Container,
        EnvKind::ContainerRunc,
        EnvKind::ContainerCrun,
        EnvKind::ContainerGvisor,
        EnvKind::ContainerPodman,
        EnvKind::ContainerDocker,
        EnvKind::VmKvm,
        EnvKind::VmTcg,
        EnvKind::VmKvmSnapshot,
        EnvKind::VmTcgSnapshot,
    ];

    /// Name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            EnvKind::Native => "native",
            EnvKind::Container => "container",
            EnvKind::ContainerRunc => "container-runc",
            EnvKind::ContainerCrun => "container-crun",
            EnvKind::ContainerDocker => "container-docker",
            EnvKind::ContainerGvisor => "container-gvisor",
            EnvKind::ContainerPodman => "container-podman",
            EnvKind::VmKvm => "vm-kvm",
            EnvKind::VmTcg => "vm-tcg",
            EnvKind::VmKvmSnapshot => "vm-kvm-snapshot",
            EnvKind::VmTcgSnapshot => "vm-tcg-snapshot",
        }
    }

    /// One line saying what the environment is.
    pub fn describe(self) -> &'static str {
        match self {
            EnvKind::Native => "plain child process on the host (the baseline)",
            EnvKind::Container => "builtin container: pid/mount/uts/ipc/net/cgroup namespaces, cgroup limits, pivot_root into a minimal image",
            EnvKind::ContainerRunc => "the same image run by the runc OCI runtime",
            EnvKind::ContainerCrun => "the same image run by the crun OCI runtime",
            EnvKind::ContainerGvisor => "the same image run by gVisor's runsc: the workload's system calls go to a kernel written in user space (the Sentry), not to the host's",
            EnvKind::ContainerDocker => "the same image imported into Docker Engine, started with docker run (client, daemon, containerd, shim, runc)",
            EnvKind::ContainerPodman => "the same image imported into Podman, started with podman run (no daemon: podman, conmon, OCI runtime)",
            EnvKind::VmKvm => "QEMU guest, hardware-assisted virtualisation (KVM)",
            EnvKind::VmTcg => "QEMU guest, software emulation (TCG binary translation)",
            EnvKind::VmKvmSnapshot => "the KVM guest restored from a snapshot saved just before its workload starts (no kernel boot)",
            EnvKind::VmTcgSnapshot => "the TCG guest restored from a snapshot saved just before its workload starts (no kernel boot)",
        }
    }

    /// Parses one name; `vm` is not a kind (it is resolved per host).
    pub fn parse(s: &str) -> Option<EnvKind> {
        EnvKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The broad kind of isolation.
    pub fn family(self) -> Family {
        match self {
            EnvKind::Native => Family::Native,
            EnvKind::Container
            | EnvKind::ContainerRunc
            | EnvKind::ContainerCrun
            | EnvKind::ContainerDocker
            | EnvKind::ContainerPodman
            | EnvKind::ContainerGvisor => Family::Container,
            EnvKind::VmKvm | EnvKind::VmTcg | EnvKind::VmKvmSnapshot | EnvKind::VmTcgSnapshot => {
                Family::Vm
            }
        }
    }

    /// The accelerator, for VM environments.
    pub fn accel(self) -> Option<Accel> {
        match self {
            EnvKind::VmKvm | EnvKind::VmKvmSnapshot => Some(Accel::Kvm),
            EnvKind::VmTcg | EnvKind::VmTcgSnapshot => Some(Accel::Tcg),
            _ => None,
        }
    }

    /// Whether this VM starts by restoring a snapshot.
    pub fn is_snapshot(self) -> bool {
        matches!(self, EnvKind::VmKvmSnapshot | EnvKind::VmTcgSnapshot)
    }

    /// The snapshot-restoring twin of a booting VM (itself otherwise).
    pub fn snapshot_of(self) -> EnvKind {
        match self {
            EnvKind::VmKvm => EnvKind::VmKvmSnapshot,
            EnvKind::VmTcg => EnvKind::VmTcgSnapshot,
            other => other,
        }
    }

    /// Whether this is the native baseline.
    pub fn is_native(self) -> bool {
        self == EnvKind::Native
    }
}

/// The container image the workload runs in: the same binary, more or less userland around it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    /// The static binary and the empty mount points it needs, nothing else.
    #[default]
    Minimal,
    /// A small userland: a static busybox with its applets and `/etc` basics (Alpine-like).
    Busybox,
    /// A Debian minbase root filesystem built with `mmdebstrap`.
    Debian,
}

impl ImageKind {
    /// Every image, smallest first.
    pub const ALL: [ImageKind; 3] = [ImageKind::Minimal, ImageKind::Busybox, ImageKind::Debian];

    /// Name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            ImageKind::Minimal => "minimal",
            ImageKind::Busybox => "busybox",
            ImageKind::Debian => "debian",
        }
    }

    /// Parses one name.
    pub fn parse(s: &str) -> Option<ImageKind> {
        ImageKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Where the workload binary lives inside the image.
    pub fn workload_path(self) -> &'static str {
        match self {
            ImageKind::Minimal => "/vmbench-workload",
            ImageKind::Busybox | ImageKind::Debian => "/usr/local/bin/vmbench-workload",
        }
    }
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Whether an instance's image files start in the page cache or evicted from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageCache {
    /// As the previous instance left them: normally cached.
    #[default]
    Warm,
    /// Evicted before every instance (the image's files only, never the whole host's cache).
    Cold,
}

impl fmt::Display for EnvKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl Serialize for EnvKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for EnvKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        EnvKind::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown environment '{name}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_families_follow_the_kind() {
        for k in EnvKind::ALL {
            assert_eq!(EnvKind::parse(k.name()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
            assert_eq!(serde_json::from_str::<EnvKind>(&json).unwrap(), k);
            assert_eq!(k.accel().is_some(), k.family() == Family::Vm);
        }
        assert!(serde_json::from_str::<EnvKind>("\"docker\"").is_err());
        assert_eq!(EnvKind::VmTcg.accel(), Some(Accel::Tcg));
        assert_eq!(EnvKind::ContainerCrun.family(), Family::Container);
    }
}
