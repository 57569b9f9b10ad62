//! The ways a packet goes between the host and an instance: recorded in every network trial,
//! named in the report, and wired by `net`.

/// One way a packet goes between the host and an instance.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum NetPath {
    /// The host's own loopback: the native baseline.
    Loopback,
    /// A veth pair, routed, no NAT: one end in the container's network namespace.
    Veth,
    /// A veth pair on a Linux bridge reached through a DNAT port-forward (Docker's shape).
    BridgeDnat,
    /// A tap device and a virtio-net NIC, QEMU moving the packets.
    TapVirtio,
    /// A tap device and a virtio-net NIC, the kernel's vhost-net moving the packets.
    TapVirtioVhost,
    /// QEMU's user-mode network stack (slirp) with a `hostfwd` on 127.0.0.1.
    Slirp,
    /// slirp4netns: the same user-mode stack as a process beside a rootless container, its
    /// tap in the container's namespace, a port forward on 127.0.0.1.
    Slirp4netns,
    /// pasta (passt's namespace mode): a port on 127.0.0.1 spliced to the container's own
    /// loopback, no TCP stack of its own in between.
    Pasta,
}

impl NetPath {
    /// Its label in results and reports.
    pub fn label(self) -> &'static str {
        match self {
            NetPath::Loopback => "loopback",
            NetPath::Veth => "veth",
            NetPath::BridgeDnat => "bridge+dnat",
            NetPath::TapVirtio => "tap+virtio-net",
            NetPath::TapVirtioVhost => "tap+virtio-net+vhost",
            NetPath::Slirp => "slirp",
            NetPath::Slirp4netns => "slirp4netns",
            NetPath::Pasta => "pasta",
        }
    }

    /// The suffix its metrics carry (`round_trip_dnat`); the first path of an environment has
    /// none, so its figures are the workload's headline.
    pub fn metric_suffix(self) -> &'static str {
        match self {
            NetPath::BridgeDnat => "_dnat",
            NetPath::Slirp => "_slirp",
            NetPath::Pasta => "_pasta",
            NetPath::Loopback
            | NetPath::Veth
            | NetPath::TapVirtio
            | NetPath::TapVirtioVhost
            | NetPath::Slirp4netns => "",
        }
    }
}

/// The link MTUs `--mtu` accepts.
pub const MTU_CHOICES: [u32; 3] = [1500, 9000, 65520];

impl NetPath {
    /// Whether `--mtu` sets this path's links (veth, bridge, tap); loopback, slirp and the
    /// rootless helpers keep their own.
    pub fn mtu_settable(self) -> bool {
        match self {
            NetPath::Veth | NetPath::BridgeDnat | NetPath::TapVirtio | NetPath::TapVirtioVhost => {
                true
            }
            NetPath::Loopback | NetPath::Slirp | NetPath::Slirp4netns | NetPath::Pasta => false,
        }
    }

    /// The suffix of its metrics in a trial at `mtu` of a run that swept `--mtu` (`_mtu9000`):
    /// none at the sweep's first MTU, the headline, nor on a path the sweep does not set.
    pub fn mtu_suffix(self, mtu: Option<u32>, headline: Option<u32>) -> String {
        match mtu {
            Some(m) if self.mtu_settable() && Some(m) != headline => format!("_mtu{m}"),
            _ => String::new(),
        }
    }
}

impl std::fmt::Display for NetPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.label())
    }
}
