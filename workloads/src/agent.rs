//! The guest agent: what the workload binary does when the kernel starts it as a VM's `/init`.
//!
//! It mounts the pseudo filesystems from a table, loads the virtio modules listed in the
//! initramfs with `finit_module` (the guest kernel has them as modules), mounts the data disk,
//! runs the plan passed on the kernel command line, and powers the machine off.

use crate::protocol::AgentBoot;
use nix::mount::{mount, MsFlags};
use std::ffi::CString;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// Kernel command-line key holding the workload arguments, comma separated.
pub const ARGS_PARAM: &str = "vmbench.args=";
/// Kernel command-line key naming the data disk to mount at the data directory.
pub const DISK_PARAM: &str = "vmbench.disk=";
/// Kernel command-line key: boot, announce [`SNAPSHOT_READY`] and wait for the plan on the
/// console (the host saves the guest there and restores it for every trial).
pub const SNAPSHOT_PARAM: &str = "vmbench.snapshot=1";
/// Plan key: random bytes (hex) the restored guest mixes into its pool, so clones differ.
pub const SEED_PARAM: &str = "vmbench.seed=";
/// Plan key: the host's wall clock (ns since the epoch) the restored guest sets.
pub const TIME_PARAM: &str = "vmbench.time=";
/// Kernel command-line key: network interfaces to configure, `mac@address/prefix`, comma
/// separated (the host's peer reaches the workload through them).
pub const NET_PARAM: &str = "vmbench.net=";
/// The line a guest booted for a snapshot prints once it waits for its plan.
pub const SNAPSHOT_READY: &str = "vmbench-snapshot-ready";
/// Where the initramfs lists the modules to load, one `.ko` path per line, in order.
pub const MODULE_LIST: &str = "/lib/modules/vmbench.load";
/// Where the data disk is mounted in the guest.
pub const DATA_DIR: &str = "/data";

/// Whether this process is a VM's init: PID 1 *and* started as `/init`. A container's PID 1
/// is started under another name, and must never take this path (it cannot power off).
pub fn is_agent(pid: u32, argv0: Option<&str>) -> bool {
    pid == 1 && argv0 == Some("/init")
}

/// The agent's plan, read from the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Arguments for the workload, as if given on its command line.
    pub args: Vec<String>,
    /// Block device to mount at [`DATA_DIR`].
    pub disk: Option<String>,
    /// Boot for a snapshot: wait for the plan on the console.
    pub snapshot: bool,
    /// Random bytes (hex) to mix into the guest's pool.
    pub seed: Option<String>,
    /// The host's wall clock, ns since the epoch.
    pub time_ns: Option<u64>,
    /// Network interfaces to configure, found by MAC address.
    pub nics: Vec<GuestNic>,
}

/// One guest network interface the agent configures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestNic {
    /// Its MAC address, as QEMU was told (lower case).
    pub mac: String,
    /// The IPv4 address to give it.
    pub addr: std::net::Ipv4Addr,
    /// The prefix length of its network.
    pub prefix: u8,
    /// Its MTU, when the host set one for the link (`:mtu` after the prefix).
    pub mtu: Option<u32>,
}

impl GuestNic {
    fn parse(word: &str) -> Option<GuestNic> {
        let (mac, cidr) = word.split_once('@')?;
        let (addr, rest) = cidr.split_once('/')?;
        let (prefix, mtu) = match rest.split_once(':') {
            Some((prefix, mtu)) => (prefix, Some(mtu.parse().ok()?)),
            None => (rest, None),
        };
        Some(GuestNic {
            mac: mac.to_ascii_lowercase(),
            addr: addr.parse().ok()?,
            prefix: prefix.parse().ok().filter(|p| *p <= 32)?,
            mtu,
        })
    }
}

impl Plan {
    /// Parses `/proc/cmdline` text.
    pub fn from_cmdline(cmdline: &str) -> Plan {
        let mut plan = Plan::default();
        for word in cmdline.split_whitespace() {
            if let Some(v) = word.strip_prefix(ARGS_PARAM) {
                plan.args = v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
            } else if let Some(v) = word.strip_prefix(DISK_PARAM) {
                plan.disk = Some(v.to_string());
            } else if word == SNAPSHOT_PARAM {
                plan.snapshot = true;
            } else if let Some(v) = word.strip_prefix(SEED_PARAM) {
                plan.seed = Some(v.to_string());
            } else if let Some(v) = word.strip_prefix(TIME_PARAM) {
                plan.time_ns = v.parse().ok();
            } else if let Some(v) = word.strip_prefix(NET_PARAM) {
                plan.nics = v.split(',').filter_map(GuestNic::parse).collect();
            }
        }
        plan
    }

    /// Renders the plan as kernel command-line words.
    pub fn to_cmdline(&self) -> String {
        let mut s = format!("{ARGS_PARAM}{}", self.args.join(","));
        if let Some(disk) = &self.disk {
            s.push(' ');
            s.push_str(DISK_PARAM);
            s.push_str(disk);
        }
        if self.snapshot {
            s.push(' ');
            s.push_str(SNAPSHOT_PARAM);
        }
        if let Some(seed) = &self.seed {
            s.push_str(&format!(" {SEED_PARAM}{seed}"));
        }
        if let Some(t) = self.time_ns {
            s.push_str(&format!(" {TIME_PARAM}{t}"));
        }
        if !self.nics.is_empty() {
            let nics: Vec<String> = self
                .nics
                .iter()
                .map(|n| {
                    let mtu = n.mtu.map(|m| format!(":{m}")).unwrap_or_default();
                    format!("{}@{}/{}{mtu}", n.mac, n.addr, n.prefix)
                })
                .collect();
            s.push_str(&format!(" {NET_PARAM}{}", nics.join(",")));
        }
        s
    }
}

/// Runs as the guest's init and never returns: the machine is powered off at the end.
pub fn run() -> ! {
    let status = boot_and_run();
    if let Err(message) = status {
        crate::emit(&crate::protocol::Event::Error { message });
    }
    nix::unistd::sync();
    let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_POWER_OFF);
    // Only reached when power-off is refused; a panicking init makes the kernel halt (panic=-1).
    std::process::exit(1);
}

fn boot_and_run() -> Result<(), String> {
    let table: [(&str, &str, &str, MsFlags); 4] = [
        (
            "proc",
            "/proc",
            "proc",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        ),
        (
            "sysfs",
            "/sys",
            "sysfs",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        ),
        ("devtmpfs", "/dev", "devtmpfs", MsFlags::MS_NOSUID),
        (
            "tmpfs",
            "/tmp",
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        ),
    ];
    for (source, target, fstype, flags) in table {
        let _ = fs::create_dir_all(target);
        mount(Some(source), target, Some(fstype), flags, None::<&str>)
            .or_else(|e| {
                if e == nix::errno::Errno::EBUSY {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| format!("mount {fstype} on {target}: {e}"))?;
    }
    let init_uptime_s = uptime();
    let setup = Instant::now();
    let cmdline =
        fs::read_to_string("/proc/cmdline").map_err(|e| format!("read /proc/cmdline: {e}"))?;
    let mut plan = Plan::from_cmdline(&cmdline);
    if plan.snapshot {
        crate::sys::loopback_up().map_err(|e| format!("loopback up: {e}"))?;
        plan = wait_for_plan()?;
    }
    // The listed modules serve the data disk and the network; a run with neither does not pay
    // for loading them.
    let modules = match plan.disk.is_some() || !plan.nics.is_empty() {
        true => load_modules(Path::new(MODULE_LIST))?,
        false => Vec::new(),
    };
    crate::sys::loopback_up().map_err(|e| format!("loopback up: {e}"))?;
    let mut nics = Vec::new();
    for nic in &plan.nics {
        let name = wait_for_nic(&nic.mac, Duration::from_secs(5))?;
        crate::sys::configure_interface(&name, nic.addr, nic.prefix, nic.mtu)
            .map_err(|e| format!("configure {name} ({}): {e}", nic.mac))?;
        nics.push(name);
    }
    let mut args = plan.args.clone();
    if let Some(disk) = &plan.disk {
        wait_for(Path::new(disk), Duration::from_secs(5))?;
        fs::create_dir_all(DATA_DIR).map_err(|e| format!("mkdir {DATA_DIR}: {e}"))?;
        mount(
            Some(disk.as_str()),
            DATA_DIR,
            Some("ext4"),
            MsFlags::MS_NOATIME,
            None::<&str>,
        )
        .map_err(|e| format!("mount {disk} on {DATA_DIR}: {e}"))?;
        args.extend(["--data-dir".to_string(), DATA_DIR.to_string()]);
    }
    let mut view = crate::view::gather();
    view.agent = Some(AgentBoot {
        init_uptime_s,
        modules,
        setup_ms: setup.elapsed().as_secs_f64() * 1e3,
        disk: plan.disk.clone(),
    });
    let status = crate::run_invocation(&args, view);
    // Down before power-off: after a stream, a guest powering off with its virtio-net NICs up
    // spun in the kernel under TCG in about one trial in three (measured: 5 of 11 hung, 0 of
    // 11 once the NICs were set down first).
    for name in &nics {
        let _ = crate::sys::interface_down(name);
    }
    if plan.disk.is_some() {
        let _ = nix::mount::umount(DATA_DIR);
    }
    if status != 0 {
        return Err(format!("workload exited with status {status}"));
    }
    Ok(())
}

fn uptime() -> f64 {
    fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Announces that the guest is ready to be saved, then reads its plan from the console: the
/// host restores a copy of this moment for every trial and sends each its own plan, seed and
/// clock (clones would otherwise share their entropy and their time).
fn wait_for_plan() -> Result<Plan, String> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    // No echo: the plan must not come back on the console the host reads.
    if let Ok(mut t) = termios::tcgetattr(&stdin) {
        t.local_flags.remove(LocalFlags::ECHO | LocalFlags::ECHONL);
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &t);
    }
    println!("{SNAPSHOT_READY}");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdin.lock(), &mut line)
        .map_err(|e| format!("read the plan from the console: {e}"))?;
    let plan = Plan::from_cmdline(&line);
    if let Some(seed) = &plan.seed {
        let bytes: Vec<u8> = (0..seed.len() / 2)
            .filter_map(|i| u8::from_str_radix(seed.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        fs::write("/dev/urandom", bytes).map_err(|e| format!("reseed /dev/urandom: {e}"))?;
    }
    if let Some(ns) = plan.time_ns {
        let ts = nix::sys::time::TimeSpec::from_duration(Duration::from_nanos(ns));
        nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, ts)
            .map_err(|e| format!("set the clock: {e}"))?;
    }
    Ok(plan)
}

/// Loads each listed module with `finit_module`; an already-present module is fine.
fn load_modules(list: &Path) -> Result<Vec<String>, String> {
    let Ok(text) = fs::read_to_string(list) else {
        return Ok(Vec::new());
    };
    let mut loaded = Vec::new();
    for path in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let file = fs::File::open(path).map_err(|e| format!("open module {path}: {e}"))?;
        let params = CString::default();
        match nix::kmod::finit_module(&file, &params, nix::kmod::ModuleInitFlags::empty()) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(format!("load module {path}: {e}")),
        }
        let name = Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned());
        loaded.push(name.unwrap_or_default());
    }
    Ok(loaded)
}

/// Polls for the interface with this MAC address: its driver probes asynchronously.
fn wait_for_nic(mac: &str, limit: Duration) -> Result<String, String> {
    let start = Instant::now();
    loop {
        for entry in fs::read_dir("/sys/class/net")
            .into_iter()
            .flatten()
            .flatten()
        {
            let address = fs::read_to_string(entry.path().join("address")).unwrap_or_default();
            if address.trim() == mac {
                return Ok(entry.file_name().to_string_lossy().into_owned());
            }
        }
        if start.elapsed() > limit {
            return Err(format!(
                "no network interface with MAC {mac} appeared within {limit:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Polls for a device node: drivers probe asynchronously after their module loads.
fn wait_for(path: &Path, limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() > limit {
            return Err(format!(
                "{} did not appear within {limit:?}",
                path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pid_one_started_as_init_is_the_agent() {
        assert!(is_agent(1, Some("/init")));
        assert!(!is_agent(1, Some("/vmbench-workload")));
        assert!(!is_agent(7, Some("/init")));
        assert!(!is_agent(1, None));
    }

    #[test]
    fn plan_round_trips_through_the_command_line() {
        let plan = Plan {
            args: vec![
                "--workload".into(),
                "file-io".into(),
                "--size".into(),
                "small".into(),
            ],
            disk: Some("/dev/vda".into()),
            snapshot: false,
            seed: Some("00ff".into()),
            time_ns: Some(1_700_000_000_000_000_000),
            nics: vec![
                GuestNic {
                    mac: "52:54:00:a9:fe:01".into(),
                    addr: "169.254.20.2".parse().unwrap(),
                    prefix: 30,
                    mtu: Some(9000),
                },
                GuestNic {
                    mac: "52:54:00:a9:fe:02".into(),
                    addr: "169.254.1.15".parse().unwrap(),
                    prefix: 24,
                    mtu: None,
                },
            ],
        };
        let cmdline = format!("console=ttyS0 quiet {} panic=-1", plan.to_cmdline());
        assert_eq!(Plan::from_cmdline(&cmdline), plan);
        assert_eq!(Plan::from_cmdline("console=ttyS0"), Plan::default());
        assert!(Plan::from_cmdline("quiet vmbench.snapshot=1").snapshot);
        // A malformed interface is dropped, not guessed at.
        let bad = Plan::from_cmdline(
            "vmbench.net=52:54:00:a9:fe:01@169.254.1.15/33,x@y/1,52:54:00:a9:fe:01@169.254.1.15/24:big",
        );
        assert!(bad.nics.is_empty());
    }
}
