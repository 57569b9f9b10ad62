//! Small kernel helpers shared by the workload, the guest agent and the harness's container
//! child: resource usage and bringing network interfaces up.

use crate::protocol::Rusage;

/// Resource usage of this process and its reaped children.
pub fn rusage() -> Rusage {
    let get = |who| {
        // SAFETY: getrusage fills the zeroed struct we pass.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut ru) };
        ru
    };
    let (s, c) = (get(libc::RUSAGE_SELF), get(libc::RUSAGE_CHILDREN));
    let ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1000;
    Rusage {
        user_ns: ns(s.ru_utime) + ns(c.ru_utime),
        sys_ns: ns(s.ru_stime) + ns(c.ru_stime),
        max_rss_bytes: s.ru_maxrss as u64 * 1024,
        minor_faults: (s.ru_minflt + c.ru_minflt) as u64,
        major_faults: (s.ru_majflt + c.ru_majflt) as u64,
        voluntary_switches: (s.ru_nvcsw + c.ru_nvcsw) as u64,
        involuntary_switches: (s.ru_nivcsw + c.ru_nivcsw) as u64,
    }
}

/// Sets `lo` up in the current network namespace (a new one starts with it down).
pub fn loopback_up() -> std::io::Result<()> {
    interface_ioctls("lo", None, None, true)
}

/// Gives interface `name` an IPv4 address with its prefix and sets it up.
pub fn configure_interface(
    name: &str,
    addr: std::net::Ipv4Addr,
    prefix: u8,
    mtu: Option<u32>,
) -> std::io::Result<()> {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    interface_ioctls(
        name,
        Some((addr, std::net::Ipv4Addr::from(mask))),
        mtu,
        true,
    )
}

/// Sets interface `name` down.
pub fn interface_down(name: &str) -> std::io::Result<()> {
    interface_ioctls(name, None, None, false)
}

/// An `AF_INET` socket address as the interface ioctls take it.
fn sockaddr(addr: std::net::Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the kernel reads it as AF_INET.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// Sets the address and netmask of `name` and its MTU (when given), then sets it up or down.
fn interface_ioctls(
    name: &str,
    address: Option<(std::net::Ipv4Addr, std::net::Ipv4Addr)>,
    mtu: Option<u32>,
    up: bool,
) -> std::io::Result<()> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("interface name {name} is too long"),
        ));
    }
    // SAFETY: a datagram socket used only for the interface ioctls below, closed after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain data; the name fits; the ioctls read/write only this struct.
    let result = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
            *dst = *src as libc::c_char;
        }
        let mut failed = false;
        if let Some((addr, mask)) = address {
            req.ifr_ifru.ifru_addr = sockaddr(addr);
            failed = libc::ioctl(fd, libc::SIOCSIFADDR, &req) < 0;
            if !failed {
                req.ifr_ifru.ifru_netmask = sockaddr(mask);
                failed = libc::ioctl(fd, libc::SIOCSIFNETMASK, &req) < 0;
            }
        }
        if let (false, Some(mtu)) = (failed, mtu) {
            req.ifr_ifru.ifru_mtu = mtu as libc::c_int;
            failed = libc::ioctl(fd, libc::SIOCSIFMTU, &req) < 0;
        }
        if failed || libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            let flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if up {
                req.ifr_ifru.ifru_flags |= flags;
            } else {
                req.ifr_ifru.ifru_flags &= !(libc::IFF_UP as libc::c_short);
            }
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: closing the socket opened above.
    unsafe { libc::close(fd) };
    result
}

/// Exits the process (status 125) once standard input ends or fails, from a thread that
/// otherwise sleeps in `read`: the host holds the other end, and its death closes it.
pub fn exit_when_stdin_ends() {
    std::thread::spawn(|| {
        let mut byte = [0u8; 64];
        loop {
            // SAFETY: reading into our own buffer from the standard input descriptor.
            let n = unsafe { libc::read(0, byte.as_mut_ptr().cast(), byte.len()) };
            if n > 0 {
                continue;
            }
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // SAFETY: _exit ends the process at once, as a watchdog must.
            unsafe { libc::_exit(125) };
        }
    });
}
