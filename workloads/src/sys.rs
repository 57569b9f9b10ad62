//! Small kernel helpers shared by the workload, the guest agent and the harness's container
//! child: resource usage and bringing the loopback interface up.

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
    // SAFETY: a datagram socket used only for the two interface ioctls below, closed after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain data; the name fits; the ioctls read/write only this struct.
    let result = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
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
