//! The QEMU command line: direct kernel boot of the PVH `vmlinux` with our initramfs, no
//! firmware menus or option ROMs, serial console on a pipe, no display, `-no-reboot` with
//! `panic=-1` so a guest panic ends QEMU instead of hanging.

use super::accel::Accel;
pub use crate::config::Machine;
use std::path::PathBuf;

/// Everything one QEMU invocation needs.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// Machine type.
    pub machine: Machine,
    /// Accelerator.
    pub accel: Accel,
    /// vCPUs.
    pub cpus: usize,
    /// RAM.
    pub memory_mib: u64,
    /// Kernel image.
    pub kernel: PathBuf,
    /// initramfs.
    pub initrd: PathBuf,
    /// Kernel command line.
    pub cmdline: String,
    /// Raw disk image for the data directory, and whether the host can bypass its page cache.
    pub disk: Option<(PathBuf, bool)>,
    /// Firmware for q35 (qboot), when installed.
    pub bios: Option<PathBuf>,
    /// The network path vmbench wired: a tap NIC and a slirp NIC.
    pub net: Option<crate::net::VmNics>,
}

/// The kernel command line: the fast-boot recipe plus the agent's plan.
pub fn kernel_cmdline(tsc_khz: Option<u64>, plan: &str) -> String {
    let mut words = vec![
        "console=ttyS0",
        "quiet",
        "panic=-1",
        "rdinit=/init",
        "cryptomgr.notests",
        "mitigations=off",
        "audit=0",
        "random.trust_cpu=on",
        "tsc=reliable",
        "no_timer_check",
        "i8042.noaux",
        "i8042.nokbd",
        "8250.nr_uarts=1",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    // Without it microvm under TCG hangs in about one boot in three ("could not calculate TSC").
    if let Some(khz) = tsc_khz {
        words.push(format!("tsc_early_khz={khz}"));
    }
    words.push(plan.to_string());
    words.join(" ")
}

/// The host's TSC frequency in kHz, from `/proc/cpuinfo`'s `cpu MHz`.
pub fn host_tsc_khz(cpuinfo: &str) -> Option<u64> {
    let mhz: f64 = cpuinfo
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    Some((mhz * 1000.0).round() as u64)
}

/// The wired guest's two NICs: a tap (vhost-net where asked) and slirp forwarding the
/// workload's port from 127.0.0.1, restricted to the host.
fn net_args(net: &crate::net::VmNics, machine: Machine) -> Vec<String> {
    let (nic, romfile) = match machine {
        Machine::Microvm => ("virtio-net-device", ""),
        Machine::Q35 => ("virtio-net-pci", ",romfile="),
    };
    let vhost = if net.vhost { "on" } else { "off" };
    vec![
        "-netdev".into(),
        format!(
            "tap,id=tap0,ifname={},script=no,downscript=no,vhost={vhost}",
            net.tap
        ),
        "-device".into(),
        format!("{nic},netdev=tap0,mac={}{romfile}", crate::net::TAP_MAC),
        "-netdev".into(),
        format!(
            "user,id=slirp0,net={},host={},dhcpstart={},ipv6=off,restrict=on,\
             hostfwd=tcp:127.0.0.1:{}-{}:{}",
            crate::net::SLIRP_NET,
            crate::net::SLIRP_HOST,
            crate::net::SLIRP_GUEST,
            net.slirp_port,
            crate::net::SLIRP_GUEST,
            vmbench_workload::kernels::serve::PORT
        ),
        "-device".into(),
        format!("{nic},netdev=slirp0,mac={}{romfile}", crate::net::SLIRP_MAC),
    ]
}

/// The data disk as a virtio-blk device, uncached where the host allows O_DIRECT.
fn disk_args(disk: &std::path::Path, direct: bool, machine: Machine) -> Vec<String> {
    let cache = if direct { "none" } else { "writeback" };
    let device = match machine {
        Machine::Microvm => "virtio-blk-device,drive=data",
        Machine::Q35 => "virtio-blk-pci,drive=data",
    };
    vec![
        "-drive".into(),
        format!(
            "id=data,file={},format=raw,if=none,cache={cache},aio=threads",
            disk.display()
        ),
        "-device".into(),
        device.into(),
    ]
}

/// The arguments after the program name.
pub fn args(cfg: &QemuConfig) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    match cfg.machine {
        Machine::Microvm => push(&["-M", "microvm,x-option-roms=off,acpi=on"]),
        Machine::Q35 => push(&["-M", "q35"]),
    }
    match cfg.accel {
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => push(&["-accel", "tcg"]),
    }
    let (smp, mem) = (cfg.cpus.to_string(), format!("{}M", cfg.memory_mib));
    push(&["-smp", &smp, "-m", &mem]);
    push(&[
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
    ]);
    if let (Machine::Q35, Some(bios)) = (cfg.machine, &cfg.bios) {
        push(&["-bios", &bios.display().to_string()]);
    }
    push(&[
        "-kernel",
        &cfg.kernel.display().to_string(),
        "-initrd",
        &cfg.initrd.display().to_string(),
        "-append",
        &cfg.cmdline,
    ]);
    if let Some(net) = &cfg.net {
        a.extend(net_args(net, cfg.machine));
    }
    if let Some((disk, direct)) = &cfg.disk {
        a.extend(disk_args(disk, *direct, cfg.machine));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(machine: Machine, accel: Accel, disk: bool) -> QemuConfig {
        QemuConfig {
            machine,
            accel,
            cpus: 1,
            memory_mib: 512,
            kernel: "/k/vmlinux".into(),
            initrd: "/k/initrd.cpio".into(),
            cmdline: kernel_cmdline(Some(2_596_130), "vmbench.args=--workload,noop"),
            disk: disk.then(|| ("/var/tmp/d.img".into(), true)),
            bios: None,
            net: None,
        }
    }

    fn value_of<'a>(args: &'a [String], flag: &str) -> &'a str {
        let i = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag} missing"));
        &args[i + 1]
    }

    #[test]
    fn microvm_under_tcg_boots_the_kernel_directly_with_the_recipe() {
        let a = args(&config(Machine::Microvm, Accel::Tcg, false));
        assert_eq!(value_of(&a, "-M"), "microvm,x-option-roms=off,acpi=on");
        assert_eq!(value_of(&a, "-accel"), "tcg");
        assert_eq!(value_of(&a, "-m"), "512M");
        assert_eq!(value_of(&a, "-smp"), "1");
        assert_eq!(value_of(&a, "-serial"), "stdio");
        assert_eq!(value_of(&a, "-kernel"), "/k/vmlinux");
        assert!(a.contains(&"-no-reboot".to_string()) && a.contains(&"-nodefaults".to_string()));
        let cmdline = value_of(&a, "-append");
        for word in [
            "panic=-1",
            "tsc_early_khz=2596130",
            "console=ttyS0",
            "vmbench.args=--workload,noop",
        ] {
            assert!(
                cmdline.split(' ').any(|w| w == word),
                "{word} not in {cmdline}"
            );
        }
        assert!(!a.contains(&"-drive".to_string()));
    }

    #[test]
    fn kvm_uses_the_host_cpu_and_devices_follow_the_machine() {
        let a = args(&config(Machine::Q35, Accel::Kvm, true));
        assert_eq!(value_of(&a, "-accel"), "kvm");
        assert_eq!(value_of(&a, "-cpu"), "host");
        assert_eq!(value_of(&a, "-device"), "virtio-blk-pci,drive=data");
        assert!(value_of(&a, "-drive").contains("cache=none"));
        let m = args(&config(Machine::Microvm, Accel::Tcg, true));
        assert_eq!(value_of(&m, "-device"), "virtio-blk-device,drive=data");
    }

    #[test]
    fn a_wired_guest_gets_a_tap_nic_and_a_restricted_slirp_nic() {
        let mut cfg = config(Machine::Microvm, Accel::Tcg, false);
        cfg.net = Some(crate::net::VmNics {
            tap: "vmb0012ab01t".into(),
            vhost: false,
            tap_guest: "169.254.20.2".parse().unwrap(),
            slirp_port: 40000,
            tap_mtu: None,
        });
        let a = args(&cfg);
        let netdevs: Vec<&String> = a
            .iter()
            .zip(a.iter().skip(1))
            .filter(|(flag, _)| *flag == "-netdev")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(netdevs.len(), 2);
        assert!(netdevs[0].starts_with("tap,") && netdevs[0].contains("ifname=vmb0012ab01t"));
        assert!(netdevs[0].contains("vhost=off"));
        let slirp = netdevs[1];
        assert!(slirp.contains("restrict=on") && slirp.contains("net=169.254.1.0/24"));
        assert!(slirp.contains("hostfwd=tcp:127.0.0.1:40000-169.254.1.15:7399"));
        assert!(
            !slirp.contains("10.0.2."),
            "slirp must not use its private default: {slirp}"
        );
        let q35 = args(&QemuConfig {
            machine: Machine::Q35,
            ..cfg
        });
        assert!(q35
            .iter()
            .any(|a| a.starts_with("virtio-net-pci,netdev=tap0")));
    }

    #[test]
    fn tsc_frequency_comes_from_cpuinfo() {
        assert_eq!(
            host_tsc_khz("model name : x\ncpu MHz\t\t: 2596.130\n"),
            Some(2_596_130)
        );
        assert_eq!(host_tsc_khz("nothing"), None);
        assert!(Machine::parse("pc").unwrap_err().contains("microvm or q35"));
    }
}
