//! Is KVM usable here? Decided without hanging: `/dev/kvm` must open read-write, the CPU must
//! advertise vmx/svm, and the host must not be a paravirtual (PVM) KVM host — there `/dev/kvm`
//! opens but a normal guest spins at 100% system time and never prints.

use crate::env::Unavailable;
pub use crate::ids::Accel;
use std::path::Path;

/// Whether KVM can run a normal guest: `Ok(why)` or `Err(why not, with the fix)`.
pub fn kvm_usable() -> Result<String, Unavailable> {
    kvm_usable_at(Path::new("/"))
}

/// As [`kvm_usable`], reading `/dev`, `/proc` and `/sys` below `root`.
pub fn kvm_usable_at(root: &Path) -> Result<String, Unavailable> {
    let dev = root.join("dev/kvm");
    if !dev.exists() {
        return Err(Unavailable::new(
            "no /dev/kvm",
            "enable virtualisation in the firmware and load kvm_intel or kvm_amd",
        ));
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&dev)
    {
        return Err(Unavailable::new(
            format!("/dev/kvm does not open read-write ({e})"),
            "run as root or join the kvm group",
        ));
    }
    if root.join("sys/module/kvm_pvm").exists() {
        return Err(Unavailable::new(
            "paravirtual KVM host (kvm_pvm loaded, no vmx/svm): /dev/kvm opens but a normal guest hangs under it",
            "none on this host, VMs run under TCG",
        ));
    }
    let cpuinfo = std::fs::read_to_string(root.join("proc/cpuinfo")).unwrap_or_default();
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or("");
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    if !has("vmx") && !has("svm") {
        return Err(Unavailable::new(
            "the CPU advertises no vmx/svm flag, so KVM cannot run a normal guest",
            "enable nested virtualisation on the host's hypervisor",
        ));
    }
    Ok(format!(
        "/dev/kvm opens and the CPU has {}",
        if has("vmx") { "vmx" } else { "svm" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(flags: &str, pvm: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dev")).unwrap();
        std::fs::write(dir.path().join("dev/kvm"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::fs::write(
            dir.path().join("proc/cpuinfo"),
            format!("processor : 0\nflags : fpu {flags}\n"),
        )
        .unwrap();
        if pvm {
            std::fs::create_dir_all(dir.path().join("sys/module/kvm_pvm")).unwrap();
        }
        dir
    }

    #[test]
    fn a_paravirtual_host_is_refused_with_the_reason() {
        let err = kvm_usable_at(fixture("hypervisor", true).path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("paravirtual") && err.contains("kvm_pvm"),
            "{err}"
        );
    }

    #[test]
    fn vmx_or_svm_is_required() {
        assert!(kvm_usable_at(fixture("sse2 hypervisor", false).path())
            .unwrap_err()
            .detail
            .contains("vmx/svm"));
        assert!(kvm_usable_at(fixture("sse2 vmx", false).path())
            .unwrap()
            .contains("vmx"));
        assert!(kvm_usable_at(fixture("svm", false).path())
            .unwrap()
            .contains("svm"));
        let none = tempfile::tempdir().unwrap();
        assert!(kvm_usable_at(none.path())
            .unwrap_err()
            .detail
            .contains("no /dev/kvm"));
    }
}
