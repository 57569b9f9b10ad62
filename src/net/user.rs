//! The rootless container's network, in user space: Debian's `slirp4netns` and `pasta`, each
//! started by vmbench as soon as the container's namespaces exist (it joins them through
//! `/proc/<pid>/ns/`), each forwarding one port on the host's 127.0.0.1 to the workload's.
//! Both get link-local addresses (their defaults are private ranges) and no default route is
//! added: the instance is reached only through the forwards. Each helper dies with vmbench
//! (a parent-death signal) and is killed with its instance.

use super::{NetError, PORT};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// slirp4netns's virtual network inside the container: link-local, never on a host interface.
pub const SLIRP4NETNS_CIDR: &str = "169.254.1.0/24";
/// The container's address on slirp4netns's tap (slirp4netns's fixed `.100` of its network).
pub const SLIRP4NETNS_GUEST: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 100);
/// The container's address on pasta's tap.
pub const PASTA_GUEST: Ipv4Addr = Ipv4Addr::new(169, 254, 2, 15);
/// pasta's gateway address on its tap (it answers for the host there).
pub const PASTA_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 2, 2);
/// The interfaces the helpers make in the container's namespace.
pub const SLIRP4NETNS_TAP: &str = "tap0";
/// pasta's interface in the container's namespace.
pub const PASTA_TAP: &str = "tap1";
/// The MTU of slirp4netns's tap (Podman's default for it).
pub const SLIRP4NETNS_MTU: u32 = 65520;
/// The MTU on pasta's path: it splices the connection onto the namespace's loopback.
pub const PASTA_MTU: u32 = 65536;

/// The host ports of one rootless instance's forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserNet {
    /// 127.0.0.1 port slirp4netns forwards to the container.
    pub slirp4netns_port: u16,
    /// 127.0.0.1 port pasta forwards to the container.
    pub pasta_port: u16,
}

/// Why the rootless network cannot be wired here, if it cannot.
pub fn missing() -> Option<String> {
    for (program, package) in [("slirp4netns", "slirp4netns"), ("pasta", "passt")] {
        if crate::tool::which(program).is_none() {
            return Some(format!(
                "{program} is not installed: as root, apt-get install {package}"
            ));
        }
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        return Some(format!(
            "/dev/net/tun does not open read-write for this user ({e}): as root, chmod 0666 /dev/net/tun (what udev does on a standard install)"
        ));
    }
    None
}

/// A helper process, killed and reaped when dropped.
#[derive(Debug)]
pub struct Helper {
    child: Child,
    name: &'static str,
    /// Where its standard error goes: a file, not a pipe nobody drains (slirp4netns writes a
    /// line per dropped packet, and a full pipe would stop it).
    log: PathBuf,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Result<Helper, NetError> {
    let err = std::fs::File::create(&log)
        .map_err(|e| NetError::Exhausted(format!("cannot create {}: {e}", log.display())))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err));
    // Every online CPU, as Podman leaves its helpers: not the harness CPU vmbench runs on,
    // where a helper sharing one CPU with the peer dropped packets on its full tap.
    // SAFETY: sysconf has no memory arguments.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for cpu in 0..online.min(libc::CPU_SETSIZE as usize) {
        // SAFETY: as above.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: prctl and sched_setaffinity are async-signal-safe system calls on a CPU set
    // built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Its own process group: a signal it sends its group (pasta's exit did) must not
            // reach vmbench.
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| NetError::Exhausted(format!("cannot start {name}: {e}")))?;
    Ok(Helper { child, name, log })
}

impl Helper {
    /// A failure of the helper, with what it said.
    fn failed(mut self, what: &str) -> NetError {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let said = std::fs::read_to_string(&self.log).unwrap_or_default();
        let said = said.lines().last().unwrap_or("").trim().to_string();
        NetError::Exhausted(format!("{} {what}: {said}", self.name))
    }
}

/// Starts slirp4netns and pasta for the container whose first process is `pid`, and returns
/// once both forward their ports. `dir` holds slirp4netns's API socket.
pub fn start(pid: i32, net: UserNet, dir: &Path) -> Result<Vec<Helper>, NetError> {
    let ns = |kind: &str| format!("/proc/{pid}/ns/{kind}");
    let slirp = slirp4netns(&ns("user"), &ns("net"), net.slirp4netns_port, dir)?;
    let mut pasta = Command::new("pasta");
    if nix::unistd::geteuid().is_root() {
        // Run by root, pasta drops to "nobody" unless told otherwise, and nobody may not
        // join the container's user namespace (root's): it failed and the start waited.
        pasta.args(["--runas", "0:0"]);
    }
    let pasta = spawn(
        "pasta",
        pasta.args([
            "--foreground",
            "--quiet",
            "--userns",
            &ns("user"),
            "--netns",
            &ns("net"),
            "--ns-ifname",
            PASTA_TAP,
            "--address",
            &PASTA_GUEST.to_string(),
            "--netmask",
            "24",
            "--gateway",
            &PASTA_GATEWAY.to_string(),
            "--ipv4-only",
            "--no-dhcp",
            "--tcp-ports",
            &format!("127.0.0.1/{}:{PORT}", net.pasta_port),
            "--udp-ports",
            "none",
            "--tcp-ns",
            "none",
            "--udp-ns",
            "none",
        ]),
        dir.join(format!("pasta-{}.log", net.pasta_port)),
    )?;
    // Each has its port and its tap in the container's namespace (its `/proc/<pid>/net/dev`).
    let deadline = Instant::now() + Duration::from_secs(10);
    let has_tap = |tap: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/net/dev")).is_ok_and(|t| {
            t.lines()
                .any(|l| l.trim_start().starts_with(&format!("{tap}:")))
        })
    };
    while !(listening(net.pasta_port) && has_tap(PASTA_TAP) && has_tap(SLIRP4NETNS_TAP)) {
        if Instant::now() > deadline {
            let which = if has_tap(SLIRP4NETNS_TAP) {
                pasta
            } else {
                slirp
            };
            return Err(which.failed("did not make its tap and forward its port within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(vec![slirp, pasta])
}

fn slirp4netns(userns: &str, netns: &str, port: u16, dir: &Path) -> Result<Helper, NetError> {
    let api: PathBuf = dir.join(format!("slirp4netns-{port}.sock"));
    let _ = std::fs::remove_file(&api);
    let (ready_read, ready_write) =
        nix::unistd::pipe().map_err(|e| NetError::Exhausted(format!("pipe: {e}")))?;
    let helper = spawn(
        "slirp4netns",
        Command::new("slirp4netns")
            .arg(format!("--userns-path={userns}"))
            .args([
                "--netns-type=path",
                "--disable-host-loopback",
                "--disable-dns",
            ])
            .arg(format!("--mtu={SLIRP4NETNS_MTU}"))
            .arg(format!("--cidr={SLIRP4NETNS_CIDR}"))
            .arg(format!("--ready-fd={}", ready_write.as_raw_fd()))
            .arg(format!("--api-socket={}", api.display()))
            .args([netns, SLIRP4NETNS_TAP]),
        dir.join(format!("slirp4netns-{port}.log")),
    )?;
    drop(ready_write);
    // Bounded: another process forked meanwhile may hold the pipe's write end too.
    let mut fds = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&ready_read),
        nix::poll::PollFlags::POLLIN,
    )];
    let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10_000u16)).unwrap_or(0);
    let mut byte = [0u8; 1];
    if ready != 1 || std::fs::File::from(ready_read).read(&mut byte).ok() != Some(1) {
        return Err(helper.failed("was not ready within 10 s"));
    }
    let request = serde_json::json!({
        "execute": "add_hostfwd",
        "arguments": {
            "proto": "tcp",
            "host_addr": "127.0.0.1",
            "host_port": port,
            "guest_addr": SLIRP4NETNS_GUEST.to_string(),
            "guest_port": PORT,
        }
    });
    let answer = (|| -> std::io::Result<String> {
        let mut sock = std::os::unix::net::UnixStream::connect(&api)?;
        sock.write_all(request.to_string().as_bytes())?;
        sock.shutdown(std::net::Shutdown::Write)?;
        let mut answer = String::new();
        sock.read_to_string(&mut answer)?;
        Ok(answer)
    })();
    match answer {
        Ok(a) if a.contains("\"return\"") && !a.contains("error") => Ok(helper),
        Ok(a) => Err(helper.failed(&format!("refused the port forward: {a}"))),
        Err(e) => Err(helper.failed(&format!("API socket {}: {e}", api.display()))),
    }
}

/// Whether something listens on 127.0.0.1:`port` in the host's network namespace.
fn listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            let mut f = l.split_whitespace().skip(1);
            f.next() == Some(want.as_str()) && f.nth(1) == Some("0A")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_port_is_seen_and_a_closed_one_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening(port));
        drop(listener);
        assert!(!listening(port));
    }

    #[test]
    fn the_helpers_addresses_are_link_local() {
        for a in [SLIRP4NETNS_GUEST, PASTA_GUEST, PASTA_GATEWAY] {
            assert!(a.is_link_local(), "{a}");
        }
        assert!(SLIRP4NETNS_CIDR.starts_with("169.254."));
    }
}
