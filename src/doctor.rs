//! `vmbench doctor`: what this host can and cannot run, each missing piece with its fix.

use crate::env::{self, EnvKind, Unavailable};
use crate::host::HostInfo;
use serde::Serialize;
use std::fmt::Write;

/// State of one capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Present and usable.
    Ok,
    /// Usable with a caveat.
    Warn,
    /// Missing: the environments that need it cannot run.
    Missing,
}

/// One capability checked.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Its state.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix it, when it is not ok.
    pub fix: Option<String>,
}

impl Check {
    /// A check with no fix needed.
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A check of something missing, with its fix.
    pub fn missing(name: &str, status: Status, why: Unavailable) -> Check {
        Check::not_ok(name, status, why.detail, why.fix)
    }

    /// A check with a caveat or a missing piece, and its fix.
    pub fn not_ok(
        name: &str,
        status: Status,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Whether new pid, mount, net, uts, ipc and cgroup namespaces can be created here (inside a
/// new user namespace when `user`, as an ordinary user creates them).
pub fn namespaces_usable(user: bool) -> Result<(), String> {
    use nix::sched::{unshare, CloneFlags};
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: unshare is a single system call, safe between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let userns = if user {
                CloneFlags::CLONE_NEWUSER
            } else {
                CloneFlags::empty()
            };
            unshare(
                userns
                    | CloneFlags::CLONE_NEWPID
                    | CloneFlags::CLONE_NEWNS
                    | CloneFlags::CLONE_NEWNET
                    | CloneFlags::CLONE_NEWUTS
                    | CloneFlags::CLONE_NEWIPC
                    | CloneFlags::CLONE_NEWCGROUP,
            )
            .map_err(std::io::Error::from)
        });
    }
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("test process failed: {s}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs every check.
pub fn checks(host: &HostInfo) -> Vec<Check> {
    let mut out = machine_checks(host);
    out.extend(quiet_checks(host));
    out.push(match crate::cache::writable_cache_dir() {
        Ok(dir) => Check::ok("cache", dir.display().to_string()),
        Err(why) => Check::not_ok(
            "cache",
            Status::Missing,
            why,
            "set VMBENCH_CACHE to a writable folder",
        ),
    });
    let left = crate::state::clean(true);
    out.push(if left.is_empty() {
        Check::ok("leftovers", "nothing left behind by earlier runs")
    } else {
        Check::not_ok(
            "leftovers",
            Status::Warn,
            format!("killed runs left: {}", left.join("; ")),
            "vmbench clean (every run also does this first)",
        )
    });
    out.extend(isolation_checks(host));
    out.extend(vm_checks(host));
    for runtime in crate::env::container::oci::Runtime::ALL {
        let name = runtime.program();
        out.push(match host.runtimes.get(name) {
            Some(v) => Check::ok(name, v.to_string()),
            None => Check::not_ok(
                name,
                Status::Missing,
                format!("{name} not found"),
                format!("apt-get install {name}"),
            ),
        });
    }
    out.extend(image_checks());
    out.extend(net_checks());
    out.extend(fleet_checks());
    out.extend(EnvKind::ALL.iter().map(|&kind| {
        let name = format!("env {kind}");
        match env::availability(kind, host) {
            Ok(detail) => Check::ok(&name, detail),
            Err(why) => Check::missing(&name, Status::Missing, why),
        }
    }));
    out
}

/// What building each container image needs.
fn image_checks() -> Vec<Check> {
    let busybox = crate::tool::which("busybox")
        .filter(|p| std::fs::read(p).is_ok_and(|b| crate::workload_bin::is_static(&b)));
    let (suite, mirror) = crate::env::container::image::debian_source();
    vec![
        Check::ok(
            "image minimal",
            "the static workload binary and file-layer's lower file (always available)",
        ),
        match busybox {
            Some(path) => Check::ok(
                "image busybox",
                format!("static busybox at {}", path.display()),
            ),
            None => Check::not_ok(
                "image busybox",
                Status::Missing,
                "no static busybox found",
                "apt-get install busybox-static",
            ),
        },
        match crate::tool::which("mmdebstrap") {
            Some(path) => Check::ok(
                "image debian",
                format!(
                    "{} builds Debian {suite} minbase from {mirror} (VMBENCH_DEBIAN_MIRROR)",
                    crate::tool::version_of(&path).unwrap_or_else(|| path.display().to_string())
                ),
            ),
            None => Check::not_ok(
                "image debian",
                Status::Missing,
                "mmdebstrap not found",
                "apt-get install mmdebstrap",
            ),
        },
    ]
}

/// What a fleet run needs on this machine (Docker and mmdebstrap to build the image, kubectl
/// to collect from a cluster), and whether density can switch KSM.
/// What net-rr and net-stream need to wire their paths.
fn net_checks() -> Vec<Check> {
    let found = |p: &str| crate::tool::which(p).is_some();
    let mut missing: Vec<&str> = ["ip", "iptables"]
        .into_iter()
        .filter(|p| !found(p))
        .collect();
    if !std::path::Path::new("/dev/net/tun").exists() {
        missing.push("/dev/net/tun");
    }
    let wiring = if missing.is_empty() {
        Check::ok(
            "network path",
            "veth, bridge+DNAT and tap can be wired on 169.254.0.0/16 (ip, iptables, /dev/net/tun found)",
        )
    } else {
        Check::not_ok(
            "network path",
            Status::Missing,
            format!(
                "{} not found: net-rr and net-stream cannot wire their paths",
                missing.join(", ")
            ),
            "apt-get install iproute2 iptables (and modprobe tun)",
        )
    };
    let vhost = if crate::net::vhost_available() {
        Check::ok(
            "vhost-net",
            "/dev/vhost-net: the VM's tap path runs through the kernel's vhost-net",
        )
    } else {
        Check::not_ok(
            "vhost-net",
            Status::Warn,
            "/dev/vhost-net missing: QEMU moves the VM's packets itself (labelled tap+virtio-net)",
            "modprobe vhost_net",
        )
    };
    vec![wiring, vhost]
}

fn fleet_checks() -> Vec<Check> {
    let found = |p: &str| crate::tool::which(p);
    let image = match (found("docker"), found("mmdebstrap")) {
        (Some(_), Some(_)) => Check::ok(
            "fleet image",
            "vmbench image build can make the image (docker and mmdebstrap found)",
        ),
        (docker, _) => Check::not_ok(
            "fleet image",
            Status::Missing,
            format!(
                "{} not found: vmbench image build cannot run",
                if docker.is_none() {
                    "docker"
                } else {
                    "mmdebstrap"
                }
            ),
            "scripts/install-deps (docker.io, mmdebstrap)",
        ),
    };
    let collect = match found("kubectl") {
        Some(path) => Check::ok(
            "fleet collect",
            format!("kubectl at {} (uses its current context)", path.display()),
        ),
        None => Check::not_ok(
            "fleet collect",
            Status::Warn,
            "kubectl not found: fleet collect needs it, or --kubectl PATH",
            "apt-get install kubernetes-client, or kubectl from your cluster's vendor",
        ),
    };
    let ksm = std::path::Path::new(crate::density::ksm::HOST);
    let merging =
        match crate::density::ksm::Ksm::at(ksm, std::path::Path::new(crate::density::ksm::SAVED)) {
            Some(_) => Check::ok(
                "density ksm",
                "KSM can be switched for density's VM steps (the host's setting is put back)",
            ),
            None => Check::not_ok(
                "density ksm",
                Status::Warn,
                format!(
                    "{} missing or not writable: density's VM steps run once, without KSM",
                    ksm.display()
                ),
                "a kernel with CONFIG_KSM, as root",
            ),
        };
    vec![image, collect, merging]
}

/// The machine itself: kernel, CPU, memory.
fn machine_checks(host: &HostInfo) -> Vec<Check> {
    vec![
        Check::ok("kernel", format!("{} ({})", host.kernel, host.os)),
        Check::ok(
            "cpu",
            format!(
                "{}, {} logical CPUs{}",
                host.cpu_model,
                host.cores,
                if host.nested {
                    ", itself a virtual machine"
                } else {
                    ""
                }
            ),
        ),
        Check::ok(
            "memory",
            format!("{:.1} GiB", host.memory_bytes as f64 / (1u64 << 30) as f64),
        ),
    ]
}

/// Whether the host is quiet enough to measure: a hypervisor underneath, other busy programs.
fn quiet_checks(host: &HostInfo) -> Vec<Check> {
    let window = std::time::Duration::from_millis(500);
    let mut out = Vec::new();
    let steal = crate::noise::steal_over(window).unwrap_or(0.0);
    if host.nested || steal > 0.0 {
        out.push(Check::not_ok(
            "virtualised host",
            Status::Warn,
            format!(
                "this host is itself a virtual machine ({}; the hypervisor took {steal:.1}% of its CPUs over 0.5 s): its figures carry the hypervisor's noise",
                host.hypervisor.as_deref().unwrap_or("hypervisor unnamed")
            ),
            "measure on bare metal for the tightest intervals; vmbench flags trials with steal as noisy",
        ));
    }
    let busy = crate::noise::busy_processes(window, 10.0);
    out.push(if busy.is_empty() {
        Check::ok(
            "other programs",
            "none used more than 10% of a core over 0.5 s",
        )
    } else {
        let list: Vec<String> = busy
            .iter()
            .take(5)
            .map(|b| format!("{} (pid {}, {:.0}%)", b.name, b.pid, b.cpu_pct))
            .collect();
        Check::not_ok(
            "other programs",
            Status::Warn,
            format!("busy while nothing was measured: {}", list.join(", ")),
            "stop them or measure when the host is quiet; trials they disturb are flagged noisy",
        )
    });
    out
}

/// What containers need: root, cgroups, namespaces.
fn isolation_checks(host: &HostInfo) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(if host.root {
        Check::ok("root", "running as root")
    } else {
        Check::not_ok(
            "root",
            Status::Warn,
            "not root: container-rootless and rootless Podman run (a user namespace maps you to root inside); the other containers need root",
            "for every environment: run vmbench as root, e.g. sudo vmbench ...",
        )
    });
    out.push(if host.cgroup.starts_with("no cgroup") {
        Check::not_ok(
            "cgroups",
            Status::Missing,
            host.cgroup.clone(),
            "mount cgroup2 on /sys/fs/cgroup",
        )
    } else {
        Check::ok("cgroups", host.cgroup.clone())
    });
    let within = if host.root {
        ""
    } else {
        " inside a user namespace"
    };
    out.push(match namespaces_usable(!host.root) {
        Ok(()) => Check::ok(
            "namespaces",
            format!("pid, mount, net, uts, ipc and cgroup namespaces can be created{within}"),
        ),
        Err(e) => Check::not_ok(
            "namespaces",
            Status::Missing,
            format!("cannot create namespaces{within}: {e}"),
            match crate::env::container::userns::blocked(std::path::Path::new("/proc"), host.root) {
                Some(why) => format!("{}: {}", why.detail, why.fix),
                None => {
                    "a kernel with namespaces enabled (not inside a restricted container)".into()
                }
            },
        ),
    });
    out
}

/// What VMs need: QEMU, a guest kernel, and KVM (else TCG).
fn vm_checks(host: &HostInfo) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(match env::vm::find_qemu(None) {
        Ok(q) => Check::ok(
            "qemu",
            format!(
                "{} ({})",
                q.display(),
                host.qemu_version.clone().unwrap_or_default()
            ),
        ),
        Err(why) => Check::missing("qemu", Status::Missing, why),
    });
    let cache = crate::cache::cache_dir();
    out.push(match env::vm::kernel::cache_problem(&cache) {
        Some(problem) => Check::not_ok(
            "guest kernel",
            Status::Warn,
            problem,
            "the next VM run provisions it again from the distribution's package",
        ),
        None => match env::vm::kernel::describe(None, &cache) {
            Ok(detail) => Check::ok("guest kernel", detail),
            Err(why) => Check::missing("guest kernel", Status::Missing, why),
        },
    });
    out.push(match env::vm::accel::kvm_usable() {
        Ok(why) => match host.nested_kvm() {
            Some(nested) => Check::ok("kvm", format!("usable: {why}; {}", nested.describe())),
            None => Check::ok("kvm", format!("usable: {why}")),
        },
        Err(why) => Check::not_ok(
            "kvm",
            Status::Warn,
            format!("{}; VMs run under TCG (software emulation)", why.detail),
            why.fix,
        ),
    });
    out
}

/// Renders the checks as a table.
pub fn render(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Missing => "NO  ",
        };
        let _ = writeln!(s, "[{mark}] {:<17} {}", c.name, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(s, "       {:<17} fix: {fix}", "");
        }
    }
    s
}
