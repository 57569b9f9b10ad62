//! The network path between the host and an instance, for net-rr and net-stream: what vmbench
//! wires for each environment ([`Wiring`]), the peer on the host that drives the traffic
//! ([`peer`]), and the leftovers a killed run can leave ([`leftovers`], [`remove_dead`]).
//!
//! Only link-local addresses (169.254.0.0/16) are used, on interfaces vmbench creates and names
//! `vmb<owner pid, 6 hex><serial, 2 hex><role>`; a network namespace is named `vmb<pid><serial>`
//! and a NAT rule carries the comment `vmbench:<pid><serial>`, so what a dead run left is
//! recognisable and the next run removes it. Nothing is routed beyond the host end.

pub mod peer;
pub mod user;

use crate::ids::EnvKind;
pub use crate::ids::NetPath;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use vmbench_workload::kernels::serve::PORT;

/// Why a network path could not be wired.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A tool (ip, iptables) failed.
    #[error(transparent)]
    Tool(#[from] crate::tool::ToolError),
    /// No free link-local block, or no free port.
    #[error("{0}")]
    Exhausted(String),
}

/// Whether QEMU can hand the tap's packets to the kernel's vhost-net.
pub fn vhost_available() -> bool {
    Path::new("/dev/vhost-net").exists()
}

/// Where the peer reaches the instance on one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEnd {
    /// The path.
    pub path: NetPath,
    /// The address the peer connects to.
    pub connect: SocketAddr,
    /// The address the instance listens on, as it sees it.
    pub instance: String,
    /// The host-side interface, when vmbench made one.
    pub host_link: Option<String>,
    /// The link MTU on this path, bytes (the instance's side is set the same).
    pub mtu: u32,
    /// The suffix of its metric names: the path's, then the MTU's in a sweep.
    pub suffix: String,
}

/// The MTU a trial's links get, and the headline MTU of a run that sweeps several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MtuChoice {
    /// The MTU set on the veth, bridge and tap links (`None`: the kernel's default).
    pub mtu: Option<u32>,
    /// The sweep's first MTU, whose figures carry no MTU suffix.
    pub headline: Option<u32>,
}

impl MtuChoice {
    /// The MTU of repetition `rep` of a run asking for `mtus`, rotating through them.
    pub fn of_rep(mtus: &[u32], rep: u32) -> MtuChoice {
        MtuChoice {
            mtu: (!mtus.is_empty()).then(|| mtus[rep as usize % mtus.len()]),
            headline: mtus.first().copied(),
        }
    }
}

/// The guest side of a VM's wiring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmNics {
    /// The tap device QEMU attaches to.
    pub tap: String,
    /// Whether QEMU is to use vhost-net.
    pub vhost: bool,
    /// The guest's address on the tap path.
    pub tap_guest: Ipv4Addr,
    /// The host port slirp forwards to the guest.
    pub slirp_port: u16,
    /// The MTU the guest gives its tap NIC, when `--mtu` set one.
    pub tap_mtu: Option<u32>,
}

/// MAC address of the guest's NIC on the tap path.
pub const TAP_MAC: &str = "52:54:00:a9:fe:01";
/// MAC address of the guest's NIC on the slirp path.
pub const SLIRP_MAC: &str = "52:54:00:a9:fe:02";
/// slirp's virtual network: a link-local /24 that the host never routes (it lives in QEMU).
pub const SLIRP_NET: &str = "169.254.1.0/24";
/// slirp's host address on its virtual network.
pub const SLIRP_HOST: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 2);
/// The guest's address on slirp's virtual network.
pub const SLIRP_GUEST: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 15);
/// The MTU of QEMU's slirp network (libslirp's fixed `if_mtu`).
pub const SLIRP_MTU: u32 = 1500;
/// The MTU of a Linux link nobody set one for.
const DEFAULT_MTU: u32 = 1500;

/// What vmbench undoes, in reverse order of making.
#[derive(Debug)]
enum Undo {
    Link(String),
    Netns(String),
    NatRule(Vec<String>),
}

/// The network path of one instance: made before it starts, undone when dropped (on success,
/// failure, timeout and interruption alike).
#[derive(Debug)]
pub struct Wiring {
    /// `<pid><serial>`: the names' common part.
    pub tag: String,
    /// Where the workload listens (`--bind`).
    pub bind: String,
    /// The paths, headline first.
    pub paths: Vec<PathEnd>,
    /// The network namespace a container joins (under `/run/netns`).
    pub netns: Option<String>,
    /// What a VM attaches.
    pub vm: Option<VmNics>,
    /// The rootless container's forwards, its helpers started once its namespaces exist.
    pub user: Option<user::UserNet>,
    undo: Vec<Undo>,
}

static SERIAL: AtomicU32 = AtomicU32::new(0);

/// The first 24 bits of 169.254/16 blocks vmbench hands out: third octets 16..=167, so the
/// reserved first and last /24s, slirp's /24 and 169.254.169.254 stay untouched.
const FIRST_OCTET: u32 = 16;
const LAST_OCTET: u32 = 167;

fn tag() -> String {
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed) & 0xff;
    format!("{:06x}{serial:02x}", std::process::id() & 0xff_ffff)
}

/// The owner pid of a name vmbench gave an interface, namespace or rule.
pub fn owner_of_name(name: &str) -> Option<i32> {
    let hex = name
        .strip_prefix("vmbench:")
        .or_else(|| name.strip_prefix("vmb"))?;
    if hex.len() < 8 || !hex[..8].bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i32::from_str_radix(&hex[..6], 16).ok()
}

/// The `/29` block number `n` as its first address.
fn block_base(n: u32) -> Ipv4Addr {
    let third = FIRST_OCTET + n / 32;
    Ipv4Addr::new(169, 254, third as u8, ((n % 32) * 8) as u8)
}

/// The block an address falls in, when it is one vmbench hands out.
fn block_of(addr: Ipv4Addr) -> Option<u32> {
    let [a, b, c, d] = addr.octets();
    let third = u32::from(c);
    (a == 169 && b == 254 && (FIRST_OCTET..=LAST_OCTET).contains(&third))
        .then(|| (third - FIRST_OCTET) * 32 + u32::from(d) / 8)
}

/// A free `/29` block: none of its addresses on any interface of the host now.
fn free_block(used: &[Ipv4Addr]) -> Result<u32, NetError> {
    let count = (LAST_OCTET - FIRST_OCTET + 1) * 32;
    let taken: std::collections::BTreeSet<u32> = used.iter().filter_map(|a| block_of(*a)).collect();
    let start = std::process::id() % count;
    (0..count)
        .map(|i| (start + i) % count)
        .find(|b| !taken.contains(b))
        .ok_or_else(|| {
            NetError::Exhausted(format!(
                "every 169.254.0.0/16 block vmbench uses is taken ({count}): run `vmbench clean`"
            ))
        })
}

/// The IPv4 addresses on the host's interfaces.
fn host_addresses() -> Result<Vec<Ipv4Addr>, NetError> {
    let out = crate::tool::run(
        Command::new("ip").args(["-o", "-4", "addr", "show"]),
        "list the host's addresses (ip addr)",
    )?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect())
}

/// A free TCP port on 127.0.0.1, for the native listener and slirp's forward.
pub fn free_port() -> Result<u16, NetError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| NetError::Exhausted(format!("no free port on 127.0.0.1: {e}")))
}

/// The MTU of the host's interface `name`, as the kernel has it now.
fn link_mtu(name: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn ip(args: &[&str]) -> Result<(), NetError> {
    let what = format!("ip {}", args.join(" "));
    crate::tool::run(Command::new("ip").args(args), &what)?;
    Ok(())
}

impl Wiring {
    /// The record of its paths for the trial, with the CPUs the peer may run on and the
    /// instance's, when it is pinned.
    pub fn record(
        &self,
        peer_cpus: Vec<usize>,
        instance_cpus: Option<&[usize]>,
    ) -> crate::results::NetRecord {
        let placement = crate::results::Placement::of(&peer_cpus, instance_cpus);
        crate::results::NetRecord {
            paths: self
                .paths
                .iter()
                .map(|p| crate::results::NetPathRecord {
                    path: p.path,
                    connect: p.connect.to_string(),
                    instance: p.instance.clone(),
                    host_link: p.host_link.clone(),
                    metric_suffix: p.suffix.clone(),
                    mtu: Some(p.mtu),
                })
                .collect(),
            peer_cpus,
            instance_cpus: instance_cpus.map(<[usize]>::to_vec),
            placement: Some(placement),
        }
    }

    /// The wiring of an instance of `kind`, its veth, bridge and tap links at `mtu` when
    /// given; `None` when vmbench does not wire that kind.
    pub fn for_env(kind: EnvKind, choice: MtuChoice) -> Result<Option<Wiring>, NetError> {
        let paths = kind.net_paths(vhost_available());
        let mtu = choice.mtu;
        let mut wiring = match paths.first() {
            None => return Ok(None),
            Some(NetPath::Loopback) => Wiring::loopback()?,
            Some(NetPath::Veth) => Wiring::container(mtu)?,
            Some(NetPath::Slirp4netns) => Wiring::rootless()?,
            Some(_) => Wiring::vm(mtu)?,
        };
        for end in &mut wiring.paths {
            end.suffix = format!(
                "{}{}",
                end.path.metric_suffix(),
                end.path.mtu_suffix(choice.mtu, choice.headline)
            );
        }
        Ok(Some(wiring))
    }

    fn empty() -> Wiring {
        Wiring {
            tag: tag(),
            bind: vmbench_workload::default_bind(),
            paths: Vec::new(),
            netns: None,
            vm: None,
            user: None,
            undo: Vec::new(),
        }
    }

    /// The host's loopback, on a free port.
    pub fn loopback() -> Result<Wiring, NetError> {
        let port = free_port()?;
        let mut w = Wiring::empty();
        w.bind = format!("127.0.0.1:{port}");
        w.paths.push(PathEnd {
            path: NetPath::Loopback,
            connect: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)),
            instance: w.bind.clone(),
            host_link: None,
            mtu: link_mtu("lo").unwrap_or(65536),
            suffix: String::new(),
        });
        Ok(w)
    }

    /// A network namespace with a routed veth (`eth0`) and a bridged one (`eth1`) behind a
    /// DNAT rule.
    pub fn container(mtu: Option<u32>) -> Result<Wiring, NetError> {
        let mut w = Wiring::empty();
        let _lock = allocation_lock()?;
        let base = block_base(free_block(&host_addresses()?)?);
        let at = |i: u8| Ipv4Addr::from(u32::from(base) + u32::from(i));
        let (ns, tag) = (format!("vmb{}", w.tag), w.tag.clone());
        ip(&["netns", "add", &ns])?;
        w.undo.push(Undo::Netns(ns.clone()));
        w.netns = Some(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        let veth = format!("vmb{tag}v");
        w.add_veth(&veth, "eth0", (at(1), at(2)), None, mtu)?;
        w.paths.push(PathEnd {
            path: NetPath::Veth,
            connect: SocketAddr::V4(SocketAddrV4::new(at(2), PORT)),
            instance: format!("{}:{PORT} on eth0", at(2)),
            mtu: link_mtu(&veth).unwrap_or(DEFAULT_MTU),
            suffix: String::new(),
            host_link: Some(veth),
        });
        let bridge = format!("vmb{tag}b");
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        w.undo.push(Undo::Link(bridge.clone()));
        ip(&["addr", "add", &format!("{}/30", at(5)), "dev", &bridge])?;
        let port = format!("vmb{tag}p");
        w.add_veth(&port, "eth1", (at(5), at(6)), Some(&bridge), mtu)?;
        // A bridge takes its ports' smallest MTU; set too, so it is the same before a port.
        if let Some(m) = mtu {
            ip(&["link", "set", &bridge, "mtu", &m.to_string()])?;
        }
        ip(&["link", "set", &bridge, "up"])?;
        let published = PORT + 10_000;
        let rule: Vec<String> = [
            "-t",
            "nat",
            "OUTPUT",
            "-d",
            &format!("{}/32", at(5)),
            "-p",
            "tcp",
            "--dport",
            &published.to_string(),
            "-m",
            "comment",
            "--comment",
            &format!("vmbench:{tag}"),
            "-j",
            "DNAT",
            "--to-destination",
            &format!("{}:{PORT}", at(6)),
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let mut add = rule.clone();
        add.insert(2, "-A".into());
        crate::tool::run(
            Command::new("iptables").args(&add),
            "add the DNAT rule (iptables; install it with apt-get install iptables)",
        )?;
        w.undo.push(Undo::NatRule(rule));
        w.paths.push(PathEnd {
            path: NetPath::BridgeDnat,
            connect: SocketAddr::V4(SocketAddrV4::new(at(5), published)),
            instance: format!("{}:{PORT} on eth1", at(6)),
            mtu: link_mtu(&bridge).unwrap_or(DEFAULT_MTU),
            suffix: String::new(),
            host_link: Some(bridge),
        });
        Ok(w)
    }

    /// The rootless container's two user-space paths: a free 127.0.0.1 port for slirp4netns
    /// and one for pasta (the helpers start with the instance, see [`user::start`]).
    pub fn rootless() -> Result<Wiring, NetError> {
        let mut w = Wiring::empty();
        let slirp4netns_port = free_port()?;
        let mut pasta_port = free_port()?;
        while pasta_port == slirp4netns_port {
            pasta_port = free_port()?;
        }
        let net = user::UserNet {
            slirp4netns_port,
            pasta_port,
        };
        let local = |port| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        w.paths.push(PathEnd {
            path: NetPath::Slirp4netns,
            connect: local(net.slirp4netns_port),
            instance: format!(
                "{}:{PORT} on {} (slirp4netns, MTU {})",
                user::SLIRP4NETNS_GUEST,
                user::SLIRP4NETNS_TAP,
                user::SLIRP4NETNS_MTU
            ),
            host_link: None,
            mtu: user::SLIRP4NETNS_MTU,
            suffix: String::new(),
        });
        w.paths.push(PathEnd {
            path: NetPath::Pasta,
            connect: local(net.pasta_port),
            instance: format!(
                "127.0.0.1:{PORT} in the namespace (pasta splices from the host's loopback)"
            ),
            host_link: None,
            mtu: user::PASTA_MTU,
            suffix: String::new(),
        });
        w.user = Some(net);
        Ok(w)
    }

    /// A veth pair: `host` with `addrs.0` (or enslaved to `bridge`), `inside` in the
    /// namespace with `addrs.1`, both ends at `mtu` when given.
    fn add_veth(
        &mut self,
        host: &str,
        inside: &str,
        addrs: (Ipv4Addr, Ipv4Addr),
        bridge: Option<&str>,
        mtu: Option<u32>,
    ) -> Result<(), NetError> {
        let ns = self.netns.clone().expect("a namespace is made first");
        let mut add = vec!["link", "add", host];
        let mtu = mtu.map(|m| m.to_string());
        if let Some(m) = &mtu {
            add.extend(["mtu", m]);
        }
        add.extend(["type", "veth", "peer", "name", inside]);
        if let Some(m) = &mtu {
            add.extend(["mtu", m]);
        }
        add.extend(["netns", &ns]);
        ip(&add)?;
        self.undo.push(Undo::Link(host.to_string()));
        match bridge {
            Some(bridge) => ip(&["link", "set", host, "master", bridge])?,
            None => ip(&["addr", "add", &format!("{}/30", addrs.0), "dev", host])?,
        }
        ip(&["link", "set", host, "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{}/30", addrs.1),
            "dev",
            inside,
        ])?;
        ip(&["-n", &ns, "link", "set", inside, "up"])
    }

    /// A tap device for a virtio-net NIC (at `mtu` when given, the guest's NIC the same), and
    /// a slirp forward on a free port.
    pub fn vm(mtu: Option<u32>) -> Result<Wiring, NetError> {
        let mut w = Wiring::empty();
        let _lock = allocation_lock()?;
        let base = block_base(free_block(&host_addresses()?)?);
        let at = |i: u8| Ipv4Addr::from(u32::from(base) + u32::from(i));
        let tap = format!("vmb{}t", w.tag);
        ip(&["tuntap", "add", "dev", &tap, "mode", "tap"])?;
        w.undo.push(Undo::Link(tap.clone()));
        ip(&["addr", "add", &format!("{}/30", at(1)), "dev", &tap])?;
        if let Some(m) = mtu {
            ip(&["link", "set", &tap, "mtu", &m.to_string()])?;
        }
        ip(&["link", "set", &tap, "up"])?;
        let vhost = vhost_available();
        let slirp_port = free_port()?;
        w.vm = Some(VmNics {
            tap: tap.clone(),
            vhost,
            tap_guest: at(2),
            slirp_port,
            tap_mtu: mtu,
        });
        w.paths.push(PathEnd {
            path: if vhost {
                NetPath::TapVirtioVhost
            } else {
                NetPath::TapVirtio
            },
            connect: SocketAddr::V4(SocketAddrV4::new(at(2), PORT)),
            instance: format!("{}:{PORT} on the guest's virtio-net NIC", at(2)),
            mtu: link_mtu(&tap).unwrap_or(DEFAULT_MTU),
            suffix: String::new(),
            host_link: Some(tap),
        });
        w.paths.push(PathEnd {
            path: NetPath::Slirp,
            connect: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, slirp_port)),
            instance: format!("{SLIRP_GUEST}:{PORT} on slirp's virtual network"),
            host_link: None,
            mtu: SLIRP_MTU,
            suffix: String::new(),
        });
        Ok(w)
    }
}

impl Drop for Wiring {
    fn drop(&mut self) {
        for undo in self.undo.drain(..).rev() {
            undo.run();
        }
    }
}

impl Undo {
    /// Undoes one thing, quietly: plain commands, so an interruption does not stop them.
    fn run(&self) {
        let mut cmd = match self {
            Undo::Link(name) => {
                let mut c = Command::new("ip");
                c.args(["link", "del", name]);
                c
            }
            Undo::Netns(name) => {
                let mut c = Command::new("ip");
                c.args(["netns", "del", name]);
                c
            }
            Undo::NatRule(rule) => {
                let mut del = rule.clone();
                del.insert(2, "-D".into());
                let mut c = Command::new("iptables");
                c.args(del);
                c
            }
        };
        let _ = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Serialises address choice between vmbench runs: held from reading the host's addresses
/// until the chosen ones are on interfaces.
fn allocation_lock() -> Result<nix::fcntl::Flock<std::fs::File>, NetError> {
    let path = crate::owner::state_dir().join("net.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| NetError::Exhausted(format!("cannot open {}: {e}", path.display())))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| NetError::Exhausted(format!("cannot lock {}: {e}", path.display())))
}

/// One thing a run left on the host's network: what it is, its owner, and how to undo it.
#[derive(Debug)]
pub struct Leftover {
    /// In words: "interface vmb0012ab01v".
    pub what: String,
    /// The pid in its name.
    pub owner: i32,
    undo: Undo,
}

/// Every interface, namespace and NAT rule on the host that vmbench named.
pub fn leftovers() -> Vec<Leftover> {
    let quiet = |cmd: &mut Command| {
        cmd.stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let mut found = Vec::new();
    for line in quiet(Command::new("ip").args(["-o", "link", "show"])).lines() {
        let name = line.split(':').nth(1).unwrap_or("").trim();
        let name = name.split('@').next().unwrap_or("");
        if let Some(owner) = owner_of_name(name).filter(|_| name.len() == 12) {
            found.push(Leftover {
                what: format!("interface {name}"),
                owner,
                undo: Undo::Link(name.to_string()),
            });
        }
    }
    for line in quiet(Command::new("ip").args(["netns", "list"])).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if let Some(owner) = owner_of_name(name).filter(|_| name.len() == 11) {
            found.push(Leftover {
                what: format!("network namespace {name}"),
                owner,
                undo: Undo::Netns(name.to_string()),
            });
        }
    }
    for line in quiet(Command::new("iptables").args(["-t", "nat", "-S", "OUTPUT"])).lines() {
        let Some(owner) = line
            .split_whitespace()
            .find_map(|w| owner_of_name(w.trim_matches('"')))
        else {
            continue;
        };
        let rule: Vec<String> = std::iter::once("-t".to_string())
            .chain(["nat".to_string(), "OUTPUT".to_string()])
            .chain(
                line.split_whitespace()
                    .skip(2)
                    .map(|w| w.trim_matches('"').to_string()),
            )
            .collect();
        found.push(Leftover {
            what: format!("NAT rule \"{line}\""),
            owner,
            undo: Undo::NatRule(rule),
        });
    }
    found
}

/// Removes what dead runs left on the host's network; says what (or what would be, when
/// `dry_run`).
pub fn remove_dead(dry_run: bool) -> Vec<String> {
    let mut report = Vec::new();
    for left in leftovers() {
        if crate::owner::pid_alive(left.owner) {
            continue;
        }
        report.push(format!("{} of dead run {}", left.what, left.owner));
        if !dry_run {
            left.undo.run();
        }
    }
    report
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_swept_mtu_rotates_by_repetition_and_only_settable_paths_carry_it() {
        let mtus = [1500, 9000];
        let rep = |r| MtuChoice::of_rep(&mtus, r);
        assert_eq!(rep(0).mtu, Some(1500));
        assert_eq!(rep(1).mtu, Some(9000));
        assert_eq!(rep(2).mtu, Some(1500));
        let suffix = |path: NetPath, r| path.mtu_suffix(rep(r).mtu, rep(r).headline);
        assert_eq!(suffix(NetPath::Veth, 0), "");
        assert_eq!(suffix(NetPath::Veth, 1), "_mtu9000");
        assert_eq!(suffix(NetPath::TapVirtio, 1), "_mtu9000");
        assert_eq!(suffix(NetPath::Slirp, 1), "", "slirp's MTU is fixed");
        assert_eq!(suffix(NetPath::Loopback, 1), "");
        assert_eq!(MtuChoice::of_rep(&[], 3), MtuChoice::default());
    }

    use super::*;

    #[test]
    fn blocks_stay_link_local_and_clear_of_reserved_addresses() {
        let count = (LAST_OCTET - FIRST_OCTET + 1) * 32;
        for n in [0, 1, 31, 32, count - 1] {
            let base = block_base(n);
            let [a, b, c, d] = base.octets();
            assert_eq!((a, b), (169, 254));
            assert!((16..=167).contains(&c) && d % 8 == 0, "{base}");
            assert_eq!(block_of(base), Some(n));
            assert_eq!(block_of(Ipv4Addr::from(u32::from(base) + 6)), Some(n));
        }
        assert_eq!(block_of("169.254.169.254".parse().unwrap()), None);
        assert_eq!(block_of(SLIRP_GUEST), None);
        assert_eq!(block_of("10.0.0.1".parse().unwrap()), None);
    }

    #[test]
    fn a_used_block_is_skipped() {
        let first = free_block(&[]).unwrap();
        let used = [Ipv4Addr::from(u32::from(block_base(first)) + 2)];
        let next = free_block(&used).unwrap();
        assert_ne!(next, first);
    }

    #[test]
    fn owners_are_read_from_names_and_comments() {
        assert_eq!(owner_of_name("vmb0012ab01v"), Some(0x12ab));
        assert_eq!(owner_of_name("vmb0012ab01"), Some(0x12ab));
        assert_eq!(owner_of_name("vmbench:0012ab01"), Some(0x12ab));
        assert_eq!(owner_of_name("vmbr0"), None);
        assert_eq!(owner_of_name("eth0"), None);
        let t = tag();
        assert_eq!(
            owner_of_name(&format!("vmb{t}v")),
            Some(std::process::id() as i32)
        );
    }

    #[test]
    fn headline_paths_carry_no_suffix() {
        for p in [NetPath::Loopback, NetPath::Veth, NetPath::TapVirtio] {
            assert_eq!(p.metric_suffix(), "");
        }
        assert_eq!(NetPath::BridgeDnat.label(), "bridge+dnat");
    }
}
