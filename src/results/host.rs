//! The machine and its software, as recorded in every results file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A container engine as it reported itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EngineInfo {
    /// The command-line client run, with its version.
    pub client: String,
    /// The engine's version (Docker's daemon, or Podman itself).
    pub version: String,
    /// Storage driver (`overlay2`, `overlay`, `vfs`...).
    pub storage_driver: String,
    /// cgroup driver or manager (`cgroupfs`, `systemd`).
    pub cgroup_driver: String,
    /// The OCI runtime it starts containers with.
    pub runtime: String,
    /// Security options applied by default (seccomp, AppArmor...).
    #[serde(default)]
    pub security: Vec<String>,
    /// Whether it ran rootless (an ordinary user's Podman: a user namespace, its own storage).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rootless: bool,
    /// Why its containers ran without cgroup limits, when they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_limits: Option<String>,
}

/// The hypervisor name a QEMU guest without an accelerator reports: its CPU is emulated.
pub const EMULATED: &str = "QEMU TCG";

/// How a run's KVM guests relate to the hardware when the host is itself a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NestedKvm {
    /// KVM inside a guest whose own CPU QEMU emulates (TCG): KVM's code path and shape only.
    InsideEmulated,
    /// KVM inside a guest of the named hypervisor: nested virtualisation, not bare-metal speed.
    InsideGuest(String),
}

/// The machine and its software, as recorded in results.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// Kernel release.
    pub kernel: String,
    /// Distribution (`PRETTY_NAME` of os-release).
    pub os: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Logical CPUs online.
    pub cores: usize,
    /// Physical memory.
    pub memory_bytes: u64,
    /// Whether the CPU advertises hardware virtualisation (vmx/svm).
    pub cpu_virt_flag: bool,
    /// Whether the host itself runs under a hypervisor.
    pub nested: bool,
    /// The hypervisor the host runs under, by its CPUID signature (or DMI vendor): `KVM`,
    /// `QEMU TCG` (an emulated CPU), `Xen`, `Hyper-V`...; none on bare metal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypervisor: Option<String>,
    /// cgroup layout, one line.
    pub cgroup: String,
    /// Accelerator a VM environment would use, and why.
    #[serde(default)]
    pub accelerator: Option<String>,
    /// Why that accelerator was chosen.
    #[serde(default)]
    pub accelerator_reason: Option<String>,
    /// QEMU version line, when QEMU was found.
    #[serde(default)]
    pub qemu_version: Option<String>,
    /// OCI runtimes found, name → version line (and gVisor's platform).
    #[serde(default)]
    pub runtimes: BTreeMap<String, RuntimeFacts>,
    /// Container engines found (`docker`, `podman`): versions, drivers, the runtime they use.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub engines: BTreeMap<String, EngineInfo>,
    /// Running as root.
    pub root: bool,
}

/// A platform gVisor's runsc intercepts system calls with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum GvisorPlatform {
    /// Seccomp traps and a stub per address space (runsc from 2023 on).
    Systrap,
    /// The Sentry as a KVM guest's kernel (needs a usable /dev/kvm).
    Kvm,
    /// `ptrace` of every thread: works everywhere, costs the most per system call.
    Ptrace,
}

impl GvisorPlatform {
    /// The name runsc gives it.
    pub fn name(self) -> &'static str {
        match self {
            GvisorPlatform::Systrap => "systrap",
            GvisorPlatform::Kvm => "kvm",
            GvisorPlatform::Ptrace => "ptrace",
        }
    }

    /// Parses runsc's name of a platform.
    pub fn parse(s: &str) -> Option<GvisorPlatform> {
        <GvisorPlatform as strum::VariantArray>::VARIANTS
            .iter()
            .copied()
            .find(|p| p.name() == s)
    }
}

impl std::fmt::Display for GvisorPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// The platform an installed runsc uses here, and the ones it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GvisorPlatforms {
    /// The one vmbench runs it with, or why none can be used.
    pub chosen: Result<GvisorPlatform, String>,
    /// What this runsc offers.
    pub offered: Vec<GvisorPlatform>,
}

/// An OCI runtime found on the host: its version line, and runsc's platforms. Recorded as one
/// line, `runsc version 0.0~2022; platform ptrace (offered: ptrace, kvm)`, as results files
/// have always held it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeFacts {
    /// The runtime's first `--version` line.
    pub version: String,
    /// gVisor's platforms (runsc only).
    pub gvisor: Option<GvisorPlatforms>,
}

impl std::fmt::Display for RuntimeFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.version)?;
        if let Some(g) = &self.gvisor {
            let chosen = match &g.chosen {
                Ok(p) => p.name().to_string(),
                Err(why) => format!("none: {why}"),
            };
            let offered: Vec<&str> = g.offered.iter().map(|p| p.name()).collect();
            write!(f, "; platform {chosen} (offered: {})", offered.join(", "))?;
        }
        Ok(())
    }
}

impl RuntimeFacts {
    /// Reads the recorded line back; a line without a platform part is a version alone.
    pub fn parse(line: &str) -> RuntimeFacts {
        let parsed = line.split_once("; platform ").and_then(|(version, rest)| {
            let (chosen, offered) = rest.rsplit_once(" (offered: ")?;
            let offered = offered.strip_suffix(')')?;
            let chosen = match chosen.strip_prefix("none: ") {
                Some(why) => Err(why.to_string()),
                None => Ok(GvisorPlatform::parse(chosen)?),
            };
            let offered = offered
                .split(", ")
                .filter(|p| !p.is_empty())
                .map(GvisorPlatform::parse)
                .collect::<Option<Vec<_>>>()?;
            Some(RuntimeFacts {
                version: version.to_string(),
                gvisor: Some(GvisorPlatforms { chosen, offered }),
            })
        });
        parsed.unwrap_or_else(|| RuntimeFacts {
            version: line.to_string(),
            gvisor: None,
        })
    }
}

impl Serialize for RuntimeFacts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for RuntimeFacts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RuntimeFacts::parse(&String::deserialize(d)?))
    }
}

/// Written as the sentence that says what it means.
impl Serialize for NestedKvm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.describe())
    }
}

impl NestedKvm {
    /// What a KVM figure from such a host is, in one sentence without a full stop.
    pub fn describe(&self) -> String {
        match self {
            NestedKvm::InsideEmulated => "nested KVM inside an emulated guest: ratios to that guest's native, not KVM's absolute speed".into(),
            NestedKvm::InsideGuest(h) => format!("nested KVM inside a guest of {h}: ratios to that guest's native, not KVM's speed on bare metal"),
        }
    }
}

impl HostInfo {
    /// What a KVM guest on this host is, when the host is itself a guest; none on bare metal.
    pub fn nested_kvm(&self) -> Option<NestedKvm> {
        if !self.nested {
            return None;
        }
        match self.hypervisor.as_deref() {
            Some(EMULATED) => Some(NestedKvm::InsideEmulated),
            Some(h) => Some(NestedKvm::InsideGuest(h.to_string())),
            None => Some(NestedKvm::InsideGuest("an unnamed hypervisor".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_lines_read_back_as_written() {
        for line in [
            "runc version 1.1.5+ds1",
            "runsc version 0.0~20221219.0; platform ptrace (offered: ptrace, kvm)",
            "runsc version 2024; platform none: VMBENCH_RUNSC_PLATFORM=x, which this runsc does not offer (it offers systrap) (offered: systrap)",
        ] {
            let facts = RuntimeFacts::parse(line);
            assert_eq!(facts.to_string(), line);
        }
        let runsc = RuntimeFacts::parse("runsc 1; platform kvm (offered: ptrace, kvm)");
        let g = runsc.gvisor.unwrap();
        assert_eq!(g.chosen, Ok(GvisorPlatform::Kvm));
        assert_eq!(g.offered, [GvisorPlatform::Ptrace, GvisorPlatform::Kvm]);
        assert_eq!(runsc.version, "runsc 1");
    }
}
