//! Facts about the host a run measured, recorded in every results file. What only the
//! environments can find out (the cgroup layout, QEMU, the runtimes) is given by the caller.

pub use crate::results::HostInfo;
use std::collections::BTreeMap;
use std::path::Path;

/// Reads the host facts that need no external program; `cgroup` describes the cgroup layout.
pub fn probe(cgroup: String) -> HostInfo {
    probe_at(Path::new("/"), cgroup)
}

/// Reads the host facts below `root` (a fixture tree in tests).
pub fn probe_at(root: &Path, cgroup: String) -> HostInfo {
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap_or_default();
    let cpuinfo = read("proc/cpuinfo");
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, f)| f.split_whitespace().collect())
        .unwrap_or_default();
    let uts = nix::sys::utsname::uname().ok();
    HostInfo {
        hostname: read("proc/sys/kernel/hostname").trim().to_string(),
        kernel: uts
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        os: read("etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default(),
        cpu_model: cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default(),
        cores: cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count(),
        memory_bytes: vmbench_workload::view::meminfo_field(&read("proc/meminfo"), "MemTotal:")
            .unwrap_or(0),
        cpu_virt_flag: flags.iter().any(|f| *f == "vmx" || *f == "svm"),
        nested: flags.contains(&"hypervisor"),
        hypervisor: flags.contains(&"hypervisor").then(|| {
            hypervisor_name(
                cpuid_signature(),
                read("sys/class/dmi/id/sys_vendor").trim(),
            )
        }),
        cgroup,
        accelerator: None,
        accelerator_reason: None,
        qemu_version: None,
        runtimes: BTreeMap::new(),
        engines: Default::default(),
        root: nix::unistd::geteuid().is_root(),
    }
}

/// The hypervisor's CPUID signature (leaf 0x40000000), when the CPU gives one.
#[cfg(target_arch = "x86_64")]
fn cpuid_signature() -> Option<String> {
    use raw_cpuid::Hypervisor;
    let info = raw_cpuid::CpuId::new().get_hypervisor_info()?;
    let name = match info.identify() {
        Hypervisor::Xen => "Xen".into(),
        Hypervisor::VMware => "VMware".into(),
        Hypervisor::HyperV => "Hyper-V".into(),
        Hypervisor::KVM => "KVM".into(),
        Hypervisor::QEMU => crate::results::EMULATED.into(),
        Hypervisor::Bhyve => "bhyve".into(),
        Hypervisor::QNX => "QNX".into(),
        Hypervisor::ACRN => "ACRN".into(),
        Hypervisor::Unknown(b, c, d) => {
            let bytes: Vec<u8> = [b, c, d].iter().flat_map(|r| r.to_le_bytes()).collect();
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            if text.is_empty() {
                return None;
            }
            format!("unrecognised ({text})")
        }
    };
    Some(name)
}

/// No CPUID off x86: the DMI vendor is all there is.
#[cfg(not(target_arch = "x86_64"))]
fn cpuid_signature() -> Option<String> {
    None
}

/// The hypervisor's name from its CPUID signature, else the machine's DMI vendor.
fn hypervisor_name(signature: Option<String>, dmi_vendor: &str) -> String {
    match signature {
        Some(name) => name,
        None if !dmi_vendor.is_empty() => dmi_vendor.to_string(),
        None => "unnamed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_facts_come_from_the_given_root() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("proc/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 hypervisor\n\nprocessor\t: 1\n");
        w("proc/meminfo", "MemTotal:        1024 kB\n");
        w(
            "etc/os-release",
            "NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        );
        let h = probe_at(dir.path(), "v2 (unified)".into());
        assert_eq!(h.cpu_model, "Test CPU");
        assert_eq!(h.cores, 2);
        assert_eq!(h.memory_bytes, 1024 * 1024);
        assert!(h.nested && !h.cpu_virt_flag);
        assert!(h.hypervisor.is_some(), "a guest names its hypervisor");
        assert_eq!(h.os, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(h.cgroup, "v2 (unified)");
    }

    #[test]
    fn the_hypervisor_is_named_by_its_signature_then_by_dmi() {
        assert_eq!(hypervisor_name(Some("KVM".into()), "QEMU"), "KVM");
        assert_eq!(hypervisor_name(None, "Amazon EC2"), "Amazon EC2");
        assert_eq!(hypervisor_name(None, ""), "unnamed");
    }
}
