//! Every fact about an environment kind, each answered by one exhaustive `match`: adding a
//! kind is a compile error in every place here that must learn it, and nowhere else needs a
//! list of kinds (the variants are enumerated by `strum`).

use super::NetPath;
use std::fmt;
use strum::VariantArray;

/// One environment kind, recorded in every trial by its name (`native`, `vm-tcg`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, VariantArray)]
pub enum EnvKind {
    /// A plain child process of the harness.
    Native,
    /// vmbench's own container: namespaces, cgroups and pivot_root.
    Container,
    /// vmbench's own container for an ordinary user: a user namespace first, then the same.
    ContainerRootless,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Where an environment's system calls are answered, from least to most isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// The host kernel, with nothing in between.
    Native,
    /// The host kernel, behind namespaces and cgroups.
    Namespaces,
    /// A kernel written in user space (gVisor's Sentry) that intercepts every system call.
    UserSpaceKernel,
    /// A guest kernel on virtual hardware, hardware-assisted or emulated.
    GuestKernel,
}

impl Tier {
    /// A short name for charts and tables.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Native => "native",
            Tier::Namespaces => "namespaces",
            Tier::UserSpaceKernel => "user-space kernel",
            Tier::GuestKernel => "guest kernel",
        }
    }
}

/// How one instance's host memory adds up from the process vmbench started and its cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryAccounting {
    /// The process is the only thing the instance is: its RSS.
    Process,
    /// The sampled process is the workload, inside its cgroup: the larger of the two.
    ProcessInCgroup,
    /// The sampled process is the workload, inside its cgroup (the larger of the two), and a
    /// launcher vmbench started stays beside it (an OCI runtime, an engine's client): its RSS
    /// adds up. Results recorded before vmbench sampled the workload here (no launcher figure)
    /// hold the launcher's RSS as the process's and a wrong cgroup peak: no memory figure.
    WorkloadBesideLauncher,
    /// The sampled process is outside the cgroup (gVisor's runtime, the workload inside its
    /// sandbox): the two add up.
    ProcessBesideCgroup,
}

/// How the host's peer reaches an instance of a kind for net-rr and net-stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// vmbench wires these paths, the headline path first.
    Wired(&'static [NetPath]),
    /// vmbench wires nothing for this kind, and why.
    Unwired(&'static str),
}

const ENGINE_UNWIRED: &str = "the engine runs its containers with --network none here; vmbench \
    wires veths only for the namespace containers (container, container-runc, container-crun)";

impl EnvKind {
    /// Every environment, in report order.
    pub const ALL: &'static [EnvKind] = <EnvKind as VariantArray>::VARIANTS;

    /// Name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            EnvKind::Native => "native",
            EnvKind::Container => "container",
            EnvKind::ContainerRootless => "container-rootless",
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
            EnvKind::ContainerRootless => "builtin container without root: a user namespace maps the invoking user to root inside, then the same namespaces, image and pivot_root (cgroup limits only where the cgroup tree is delegated)",
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
        EnvKind::ALL.iter().copied().find(|k| k.name() == s)
    }

    /// The broad kind of isolation.
    pub fn family(self) -> Family {
        match self {
            EnvKind::Native => Family::Native,
            EnvKind::Container
            | EnvKind::ContainerRootless
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

    /// Where the workload's system calls are answered.
    pub fn tier(self) -> Tier {
        match self {
            EnvKind::Native => Tier::Native,
            EnvKind::Container
            | EnvKind::ContainerRootless
            | EnvKind::ContainerRunc
            | EnvKind::ContainerCrun
            | EnvKind::ContainerDocker
            | EnvKind::ContainerPodman => Tier::Namespaces,
            EnvKind::ContainerGvisor => Tier::UserSpaceKernel,
            EnvKind::VmKvm | EnvKind::VmTcg | EnvKind::VmKvmSnapshot | EnvKind::VmTcgSnapshot => {
                Tier::GuestKernel
            }
        }
    }

    /// The accelerator, for VM environments.
    pub fn accel(self) -> Option<Accel> {
        match self {
            EnvKind::VmKvm | EnvKind::VmKvmSnapshot => Some(Accel::Kvm),
            EnvKind::VmTcg | EnvKind::VmTcgSnapshot => Some(Accel::Tcg),
            EnvKind::Native
            | EnvKind::Container
            | EnvKind::ContainerRootless
            | EnvKind::ContainerRunc
            | EnvKind::ContainerCrun
            | EnvKind::ContainerGvisor
            | EnvKind::ContainerPodman
            | EnvKind::ContainerDocker => None,
        }
    }

    /// Whether this VM starts by restoring a snapshot.
    pub fn is_snapshot(self) -> bool {
        self.booting_twin() != self
    }

    /// The snapshot-restoring twin of a booting VM (itself otherwise).
    pub fn snapshot_of(self) -> EnvKind {
        match self {
            EnvKind::VmKvm => EnvKind::VmKvmSnapshot,
            EnvKind::VmTcg => EnvKind::VmTcgSnapshot,
            EnvKind::Native
            | EnvKind::Container
            | EnvKind::ContainerRootless
            | EnvKind::ContainerRunc
            | EnvKind::ContainerCrun
            | EnvKind::ContainerGvisor
            | EnvKind::ContainerPodman
            | EnvKind::ContainerDocker
            | EnvKind::VmKvmSnapshot
            | EnvKind::VmTcgSnapshot => self,
        }
    }

    /// The booting twin of a snapshot-restoring VM (itself otherwise).
    pub fn booting_twin(self) -> EnvKind {
        match self {
            EnvKind::VmKvmSnapshot => EnvKind::VmKvm,
            EnvKind::VmTcgSnapshot => EnvKind::VmTcg,
            EnvKind::Native
            | EnvKind::Container
            | EnvKind::ContainerRootless
            | EnvKind::ContainerRunc
            | EnvKind::ContainerCrun
            | EnvKind::ContainerGvisor
            | EnvKind::ContainerPodman
            | EnvKind::ContainerDocker
            | EnvKind::VmKvm
            | EnvKind::VmTcg => self,
        }
    }

    /// Whether this is the native baseline.
    pub fn is_native(self) -> bool {
        self == EnvKind::Native
    }

    /// Whether only root can run it here (namespaces without a user namespace, cgroups, a
    /// runtime's or engine's socket). An ordinary user runs the rootless container, Podman's
    /// rootless mode and the VMs (KVM with read-write access to `/dev/kvm`).
    pub fn needs_root(self) -> bool {
        match self {
            EnvKind::Native
            | EnvKind::ContainerRootless
            | EnvKind::ContainerPodman
            | EnvKind::VmKvm
            | EnvKind::VmTcg
            | EnvKind::VmKvmSnapshot
            | EnvKind::VmTcgSnapshot => false,
            EnvKind::Container
            | EnvKind::ContainerRunc
            | EnvKind::ContainerCrun
            | EnvKind::ContainerGvisor
            | EnvKind::ContainerDocker => true,
        }
    }

    /// How one instance's host memory is counted from the sampled process and its cgroup.
    pub fn memory_accounting(self) -> MemoryAccounting {
        match self {
            EnvKind::Native
            | EnvKind::VmKvm
            | EnvKind::VmTcg
            | EnvKind::VmKvmSnapshot
            | EnvKind::VmTcgSnapshot => MemoryAccounting::Process,
            EnvKind::Container | EnvKind::ContainerRootless => MemoryAccounting::ProcessInCgroup,
            EnvKind::ContainerRunc
            | EnvKind::ContainerCrun
            | EnvKind::ContainerPodman
            | EnvKind::ContainerDocker => MemoryAccounting::WorkloadBesideLauncher,
            EnvKind::ContainerGvisor => MemoryAccounting::ProcessBesideCgroup,
        }
    }

    /// The network paths vmbench wires for it (`vhost`: whether `/dev/vhost-net` exists).
    pub fn network(self, vhost: bool) -> Network {
        const NAMESPACE: &[NetPath] = &[NetPath::Veth, NetPath::BridgeDnat];
        match self {
            EnvKind::Native => Network::Wired(&[NetPath::Loopback]),
            EnvKind::Container | EnvKind::ContainerRunc | EnvKind::ContainerCrun => {
                Network::Wired(NAMESPACE)
            }
            EnvKind::VmKvm | EnvKind::VmTcg if vhost => {
                Network::Wired(&[NetPath::TapVirtioVhost, NetPath::Slirp])
            }
            EnvKind::VmKvm | EnvKind::VmTcg => {
                Network::Wired(&[NetPath::TapVirtio, NetPath::Slirp])
            }
            EnvKind::VmKvmSnapshot | EnvKind::VmTcgSnapshot => Network::Unwired(
                "a snapshot guest has no network device (vm-tcg and vm-kvm have one)",
            ),
            EnvKind::ContainerRootless => Network::Wired(&[NetPath::Slirp4netns, NetPath::Pasta]),
            EnvKind::ContainerGvisor => Network::Unwired(
                "gVisor runs here with --network=none; vmbench wires veths only for the \
                 namespace containers (container, container-runc, container-crun)",
            ),
            EnvKind::ContainerPodman | EnvKind::ContainerDocker => Network::Unwired(ENGINE_UNWIRED),
        }
    }

    /// Whether its root filesystem has a writable layer over the image's (overlayfs), for
    /// `file-layer`; why not, if not. Natively the same writes go to a host folder.
    pub fn writable_layer(self) -> Result<(), &'static str> {
        match self {
            EnvKind::Native | EnvKind::Container => Ok(()),
            EnvKind::ContainerDocker | EnvKind::ContainerPodman => Ok(()),
            EnvKind::ContainerRootless => {
                Err("vmbench gives the builtin container an overlay root only as root (container)")
            }
            EnvKind::ContainerRunc | EnvKind::ContainerCrun | EnvKind::ContainerGvisor => Err(
                "vmbench hands the runtime the image's folder itself, read-only: no layer over \
                 it (Docker and Podman give runc and crun one)",
            ),
            EnvKind::VmKvm | EnvKind::VmTcg | EnvKind::VmKvmSnapshot | EnvKind::VmTcgSnapshot => {
                Err("a guest's root is its initramfs in RAM, with no image layers")
            }
        }
    }

    /// The paths vmbench wires for it, the headline first; empty when it wires none.
    pub fn net_paths(self, vhost: bool) -> &'static [NetPath] {
        match self.network(vhost) {
            Network::Wired(paths) => paths,
            Network::Unwired(_) => &[],
        }
    }

    /// Its colour in every chart, RGB.
    pub fn colour(self) -> (u8, u8, u8) {
        match self {
            EnvKind::Native => (55, 126, 34),
            EnvKind::Container => (31, 119, 180),
            EnvKind::ContainerRootless => (96, 160, 210),
            EnvKind::ContainerCrun => (23, 190, 207),
            EnvKind::ContainerRunc => (148, 103, 189),
            EnvKind::ContainerPodman => (140, 86, 75),
            EnvKind::ContainerGvisor => (188, 189, 34),
            EnvKind::ContainerDocker => (227, 119, 194),
            EnvKind::VmKvm => (255, 127, 14),
            EnvKind::VmTcg => (214, 39, 40),
            EnvKind::VmKvmSnapshot => (255, 187, 120),
            EnvKind::VmTcgSnapshot => (255, 152, 150),
        }
    }
}

/// The names `--env` accepts, `vm` and `vm-snapshot` before the first VM kind.
pub fn env_choices() -> String {
    let mut names: Vec<&str> = EnvKind::ALL.iter().map(|k| k.name()).collect();
    let first_vm = EnvKind::ALL
        .iter()
        .position(|k| k.family() == Family::Vm)
        .unwrap_or(names.len());
    names.insert(first_vm, "vm");
    names.insert(first_vm + 1, "vm-snapshot");
    names.join(", ")
}

impl fmt::Display for EnvKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl serde::Serialize for EnvKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for EnvKind {
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
    fn names_round_trip_and_facts_agree_with_each_other() {
        for &k in EnvKind::ALL {
            assert_eq!(EnvKind::parse(k.name()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
            assert_eq!(serde_json::from_str::<EnvKind>(&json).unwrap(), k);
            assert_eq!(k.accel().is_some(), k.family() == Family::Vm);
            assert_eq!(k.tier() == Tier::GuestKernel, k.family() == Family::Vm);
            assert_eq!(k.is_native(), k.tier() == Tier::Native);
            assert_eq!(k.booting_twin().snapshot_of(), k.snapshot_of());
            assert_eq!(
                k.snapshot_of() != k,
                k.family() == Family::Vm && !k.is_snapshot()
            );
        }
        assert!(serde_json::from_str::<EnvKind>("\"docker\"").is_err());
        assert_eq!(EnvKind::VmTcg.accel(), Some(Accel::Tcg));
        assert_eq!(EnvKind::ContainerCrun.family(), Family::Container);
        assert_eq!(EnvKind::ContainerGvisor.tier(), Tier::UserSpaceKernel);
        assert!(EnvKind::VmTcgSnapshot.is_snapshot() && !EnvKind::VmTcg.is_snapshot());
    }

    #[test]
    fn every_kind_is_listed_once_and_has_its_own_colour() {
        let mut seen = std::collections::HashSet::new();
        for &k in EnvKind::ALL {
            assert!(seen.insert(k.colour()), "{k} shares a colour");
        }
        assert_eq!(EnvKind::ALL.len(), seen.len());
        let choices = env_choices();
        assert!(choices.starts_with("native, container,"), "{choices}");
        assert!(
            choices.contains("container-docker, vm, vm-snapshot, vm-kvm"),
            "{choices}"
        );
    }

    #[test]
    fn the_network_paths_put_the_headline_first() {
        assert_eq!(EnvKind::Native.net_paths(false), &[NetPath::Loopback]);
        assert_eq!(EnvKind::ContainerCrun.net_paths(false)[0], NetPath::Veth);
        assert_eq!(EnvKind::VmTcg.net_paths(false)[1], NetPath::Slirp);
        assert_eq!(EnvKind::VmKvm.net_paths(true)[0], NetPath::TapVirtioVhost);
        assert!(EnvKind::ContainerDocker.net_paths(true).is_empty());
        assert!(matches!(
            EnvKind::VmTcgSnapshot.network(false),
            Network::Unwired(why) if why.contains("snapshot")
        ));
    }
}
