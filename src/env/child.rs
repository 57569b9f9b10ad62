//! The child side of every launch: what the new process does between `clone` and `execve`.
//!
//! The whole setup is computed by the parent as a list of [`Step`]s (plain data, unit tested
//! for order), so the child, a copy of a multi-threaded process, only makes system calls: it
//! allocates nothing and takes no lock until it execs. It reports progress and failures to the
//! parent as fixed-size [`Record`]s on a close-on-exec pipe, whose end of file tells the parent
//! that the exec happened.

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

/// A moment of the child's setup that the parent records as a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The child is in its cgroup.
    CgroupAttached = 1,
    /// Namespaces, mounts and pivot_root are done; exec comes next.
    SetupDone = 2,
    /// The parent wrote the user namespace's id maps.
    IdsMapped = 3,
    /// The parent's user-space network helpers made their taps and forwards.
    UserNetReady = 4,
}

impl Mark {
    /// Phase recorded in the trial.
    pub fn phase(self) -> crate::ids::Phase {
        match self {
            Mark::CgroupAttached => crate::ids::Phase::CgroupAttach,
            Mark::SetupDone => crate::ids::Phase::MountsPivotRoot,
            Mark::IdsMapped => crate::ids::Phase::IdMap,
            Mark::UserNetReady => crate::ids::Phase::UserNetReady,
        }
    }
}

/// One action of the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Die with SIGKILL when the parent thread dies; exit at once if it already has (its
    /// pid, as the child sees it, differs from `parent`; `None` skips that check, as for a
    /// new pid namespace's init, whose parent is outside its namespace).
    DieWithParent(Option<i32>),
    /// Lead a new process group, so a timeout can kill everything the instance forks.
    NewProcessGroup,
    /// Work in this folder (a tool that drops files where it runs leaves them there).
    Chdir(CString),
    /// Run only on these CPUs.
    Pin(Vec<usize>),
    /// Write bytes to an inherited descriptor (e.g. `0` to a cgroup v1 `tasks` file).
    WriteFd(RawFd, &'static [u8]),
    /// Wait for one byte from the parent (its go-ahead) on this descriptor.
    WaitForParent(RawFd),
    /// Tell the parent a moment of the setup was reached.
    Mark(Mark),
    /// Enter new namespaces.
    Unshare(CloneFlags),
    /// Set the UTS host name.
    SetHostname(CString),
    /// Make every mount private, so nothing propagates back to the host.
    MakePrivate,
    /// mount(2).
    Mount {
        /// Source (device, fs name or bind source).
        source: Option<CString>,
        /// Mount point.
        target: CString,
        /// Filesystem type.
        fstype: Option<CString>,
        /// Flags.
        flags: MsFlags,
        /// fs-specific options.
        data: Option<CString>,
    },
    /// mkdir(2) with mode 0755 (an existing directory is fine).
    Mkdir(CString),
    /// The host's device node bind-mounted on a new empty file (a user namespace may not
    /// make device nodes).
    BindDevice {
        /// The host's node.
        host: CString,
        /// Where it appears.
        path: CString,
    },
    /// A character device node, mode 0666.
    CharDevice {
        /// Path of the node.
        path: CString,
        /// Device major number.
        major: u64,
        /// Device minor number.
        minor: u64,
    },
    /// symlink(2): `link` points to `target`.
    Symlink {
        /// What the link points to.
        target: CString,
        /// The link itself.
        link: CString,
    },
    /// chdir into the new root, `pivot_root(".", ".")`, detach the old root, chdir("/").
    PivotInto(CString),
    /// Remount the (bind-mounted) root read-only.
    RemountRootReadOnly,
    /// Bring the loopback interface up.
    LoopbackUp,
    /// Give an interface (made by a helper in this namespace) an IPv4 address and set it up.
    ConfigureInterface {
        /// Its name.
        name: &'static str,
        /// Its address.
        addr: std::net::Ipv4Addr,
        /// Its prefix length.
        prefix: u8,
    },
    /// Join the network namespace open on this descriptor (one vmbench wired).
    JoinNetns(RawFd),
}

impl Step {
    /// Short name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Step::DieWithParent(_) => "set the parent-death signal",
            Step::NewProcessGroup => "setpgid",
            Step::Chdir(_) => "chdir",
            Step::Pin(_) => "sched_setaffinity",
            Step::WriteFd(..) => "write to the cgroup",
            Step::WaitForParent(_) => "wait for the parent",
            Step::Mark(_) => "report progress",
            Step::Unshare(_) => "unshare",
            Step::SetHostname(_) => "sethostname",
            Step::MakePrivate => "make mounts private",
            Step::Mount { .. } => "mount",
            Step::Mkdir(_) => "mkdir",
            Step::CharDevice { .. } => "mknod",
            Step::BindDevice { .. } => "bind the host's device",
            Step::Symlink { .. } => "symlink",
            Step::PivotInto(_) => "pivot_root",
            Step::RemountRootReadOnly => "remount root read-only",
            Step::LoopbackUp => "loopback up",
            Step::ConfigureInterface { .. } => "configure the helper's interface",
            Step::JoinNetns(_) => "join the wired network namespace",
        }
    }

    /// The path a step acts on, for error messages.
    pub fn path(&self) -> Option<&CStr> {
        match self {
            Step::Mount { target, .. } => Some(target),
            Step::Mkdir(p) | Step::PivotInto(p) | Step::Chdir(p) => Some(p),
            Step::CharDevice { path, .. } | Step::BindDevice { path, .. } => Some(path),
            Step::Symlink { link, .. } => Some(link),
            _ => None,
        }
    }

    /// What failed, for a message: the step's name and its path.
    pub fn describe(&self) -> String {
        match self.path() {
            Some(p) => format!("{} {}", self.name(), p.to_string_lossy()),
            None => self.name().to_string(),
        }
    }
}

/// A record the child sends on the phase pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A moment reached, at this `CLOCK_MONOTONIC` time (the clock behind `Instant`).
    Reached(Mark, u64),
    /// Step `index` failed with `errno` (index = number of steps: the exec itself).
    Failed {
        /// Which step.
        index: usize,
        /// Its errno.
        errno: i32,
    },
}

/// Bytes of one encoded record: tag, value, value as little-endian u64s.
pub const RECORD_BYTES: usize = 24;

impl Record {
    /// Encodes into a fixed-size buffer (no allocation: the child calls this).
    pub fn encode(self) -> [u8; RECORD_BYTES] {
        let (tag, a, b) = match self {
            Record::Reached(mark, ns) => (mark as u64, ns, 0),
            Record::Failed { index, errno } => (100, index as u64, errno as u64),
        };
        let mut buf = [0u8; RECORD_BYTES];
        buf[..8].copy_from_slice(&tag.to_le_bytes());
        buf[8..16].copy_from_slice(&a.to_le_bytes());
        buf[16..].copy_from_slice(&b.to_le_bytes());
        buf
    }

    /// Decodes every whole record in `bytes`, skipping unknown tags.
    pub fn decode_all(bytes: &[u8]) -> Vec<Record> {
        bytes
            .chunks_exact(RECORD_BYTES)
            .filter_map(|r| {
                let word = |i: usize| u64::from_le_bytes(r[i * 8..i * 8 + 8].try_into().unwrap());
                match word(0) {
                    1 => Some(Record::Reached(Mark::CgroupAttached, word(1))),
                    2 => Some(Record::Reached(Mark::SetupDone, word(1))),
                    3 => Some(Record::Reached(Mark::IdsMapped, word(1))),
                    4 => Some(Record::Reached(Mark::UserNetReady, word(1))),
                    100 => Some(Record::Failed {
                        index: word(1) as usize,
                        errno: word(2) as i32,
                    }),
                    _ => None,
                }
            })
            .collect()
    }

    fn send(self, fd: RawFd) {
        let buf = self.encode();
        // SAFETY: writing our stack buffer to a pipe we own.
        unsafe { libc::write(fd, buf.as_ptr().cast(), RECORD_BYTES) };
    }
}

/// CLOCK_MONOTONIC in nanoseconds (the clock behind `Instant`).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the struct.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn sys<T: Into<i64>>(r: T) -> Result<(), nix::errno::Errno> {
    nix::errno::Errno::result(r.into()).map(drop)
}

/// Carries out one step with raw system calls (no allocation).
pub fn execute(step: &Step, phase_write: RawFd) -> Result<(), nix::errno::Errno> {
    use nix::errno::Errno;
    match step {
        Step::DieWithParent(parent) => {
            // SAFETY: prctl with integer arguments.
            sys(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) })?;
            // SAFETY: getppid has no arguments.
            if parent.is_some_and(|p| unsafe { libc::getppid() } != p) {
                // SAFETY: the parent died before the signal was armed: leave at once.
                unsafe { libc::_exit(125) };
            }
            Ok(())
        }
        // SAFETY: setpgid on ourselves.
        Step::NewProcessGroup => sys(unsafe { libc::setpgid(0, 0) }),
        Step::Pin(cpus) => {
            // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it; the call reads it.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &cpu in cpus {
                    libc::CPU_SET(cpu, &mut set);
                }
                sys(libc::sched_setaffinity(
                    0,
                    std::mem::size_of::<libc::cpu_set_t>(),
                    &set,
                ))
            }
        }
        Step::WriteFd(fd, bytes) => {
            // SAFETY: writing a static buffer to an inherited descriptor.
            let n = unsafe { libc::write(*fd, bytes.as_ptr().cast(), bytes.len()) };
            sys(n as i64)
        }
        Step::WaitForParent(fd) => {
            let mut byte = [0u8; 1];
            // SAFETY: reading one byte into our buffer.
            match unsafe { libc::read(*fd, byte.as_mut_ptr().cast(), 1) } {
                1 => Ok(()),
                _ => Err(Errno::ECANCELED),
            }
        }
        Step::Mark(mark) => {
            Record::Reached(*mark, monotonic_ns()).send(phase_write);
            Ok(())
        }
        Step::Unshare(flags) => nix::sched::unshare(*flags),
        // SAFETY: setns on a descriptor the parent opened and the child inherited.
        Step::JoinNetns(fd) => sys(unsafe { libc::setns(*fd, libc::CLONE_NEWNET) }),
        // SAFETY: valid pointer and length of a NUL-terminated string we own.
        Step::SetHostname(name) => {
            sys(unsafe { libc::sethostname(name.as_ptr(), name.as_bytes().len()) })
        }
        Step::LoopbackUp => vmbench_workload::sys::loopback_up()
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
        Step::ConfigureInterface { name, addr, prefix } => {
            vmbench_workload::sys::configure_interface(name, *addr, *prefix, None)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
        }
        _ => filesystem(step),
    }
}

/// The steps that build the container's file tree: mounts, nodes, links, pivot_root.
fn filesystem(step: &Step) -> Result<(), nix::errno::Errno> {
    use nix::errno::Errno;
    use nix::mount::{mount, umount2, MntFlags};
    match step {
        Step::MakePrivate => mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&CStr>,
        ),
        Step::Mount {
            source,
            target,
            fstype,
            flags,
            data,
        } => mount(
            source.as_deref(),
            target.as_c_str(),
            fstype.as_deref(),
            *flags,
            data.as_deref(),
        ),
        // SAFETY: NUL-terminated path.
        Step::Mkdir(path) => match sys(unsafe { libc::mkdir(path.as_ptr(), 0o755) }) {
            Err(Errno::EEXIST) => Ok(()),
            r => r,
        },
        Step::CharDevice { path, major, minor } => {
            // SAFETY: NUL-terminated path; the node goes in the container's private tmpfs.
            sys(unsafe {
                libc::mknod(
                    path.as_ptr(),
                    libc::S_IFCHR | 0o666,
                    libc::makedev(*major as u32, *minor as u32),
                )
            })?;
            // The umask may have masked the mode.
            // SAFETY: as above.
            sys(unsafe { libc::chmod(path.as_ptr(), 0o666) })
        }
        Step::BindDevice { host, path } => bind_device(host, path),
        // SAFETY: NUL-terminated paths.
        Step::Symlink { target, link } => {
            sys(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) })
        }
        Step::PivotInto(root) => {
            nix::unistd::chdir(root.as_c_str())?;
            nix::unistd::pivot_root(c".", c".")?;
            umount2(c".", MntFlags::MNT_DETACH)?;
            nix::unistd::chdir(c"/")
        }
        Step::RemountRootReadOnly => remount_root_read_only(),
        Step::Chdir(dir) => nix::unistd::chdir(dir.as_c_str()),
        _ => Err(Errno::EINVAL),
    }
}

/// Remounts the root read-only, keeping the flags its mount came with (nosuid, nodev, noexec,
/// the atime mode): a user namespace may not clear them, as runc knows.
fn remount_root_read_only() -> Result<(), nix::errno::Errno> {
    use nix::sys::statvfs::FsFlags;
    let kept = nix::sys::statvfs::statvfs(c"/")?.flags();
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if kept.contains(fs) {
            flags |= ms;
        }
    }
    nix::mount::mount(None::<&CStr>, c"/", None::<&CStr>, flags, None::<&CStr>)
}

/// Binds the host's device node `host` on a new empty file at `path`.
fn bind_device(host: &CStr, path: &CStr) -> Result<(), nix::errno::Errno> {
    // SAFETY: NUL-terminated path; the file goes in the container's private tmpfs.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o666) };
    sys(fd)?;
    // SAFETY: closing the descriptor just opened.
    unsafe { libc::close(fd) };
    nix::mount::mount(
        Some(host),
        path,
        None::<&CStr>,
        MsFlags::MS_BIND,
        None::<&CStr>,
    )
}

fn cs(s: &str) -> CString {
    CString::new(s).expect("no NUL bytes")
}

/// Everything the child needs, prepared by the parent.
pub struct ChildPlan {
    /// Setup steps, in order.
    pub steps: Vec<Step>,
    /// Write end of the phase pipe (close-on-exec: its end of file tells the parent exec ran).
    pub phase_write: RawFd,
    /// Write end of the output pipe, becomes stdout and stderr.
    pub output_write: RawFd,
    /// The program to exec (an absolute path, as the child sees it).
    pub exe: CString,
    /// argv, kept alive for the pointer array.
    pub argv: Vec<CString>,
    /// envp, kept alive for the pointer array.
    pub envp: Vec<CString>,
    /// NULL-terminated pointers into `argv`.
    pub argv_ptrs: Vec<*const libc::c_char>,
    /// NULL-terminated pointers into `envp`.
    pub envp_ptrs: Vec<*const libc::c_char>,
    /// The signal mask to restore just before the exec (the parent blocks every signal
    /// around the clone).
    pub signal_mask: Option<libc::sigset_t>,
    /// Descriptor that becomes stdin (else `/dev/null`).
    pub input: Option<RawFd>,
}

impl ChildPlan {
    /// Builds the plan and its pointer arrays; `argv[0]` is the program itself.
    pub fn new(
        steps: Vec<Step>,
        (phase_write, output_write): (RawFd, RawFd),
        exe: &str,
        args: &[String],
        env: &[(String, String)],
    ) -> ChildPlan {
        let argv: Vec<CString> = std::iter::once(exe.to_string())
            .chain(args.iter().cloned())
            .map(|a| cs(&a))
            .collect();
        let envp: Vec<CString> = env.iter().map(|(k, v)| cs(&format!("{k}={v}"))).collect();
        let nul_terminated = |v: &[CString]| {
            v.iter()
                .map(|a| a.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        ChildPlan {
            argv_ptrs: nul_terminated(&argv),
            envp_ptrs: nul_terminated(&envp),
            steps,
            phase_write,
            output_write,
            exe: cs(exe),
            argv,
            envp,
            signal_mask: None,
            input: None,
        }
    }

    /// Why the child failed, from its `Failed` record.
    pub fn failure(&self, index: usize, errno: i32) -> String {
        let errno = nix::errno::Errno::from_raw(errno);
        match self.steps.get(index) {
            Some(step) => format!("{}: {errno}", step.describe()),
            None => format!("exec {}: {errno}", self.exe.to_string_lossy()),
        }
    }
}

/// The child's body: run the steps, point stdout and stderr at the output pipe, exec.
/// Never returns.
pub fn child_main(plan: &ChildPlan) -> ! {
    // The harness's handlers must not run here: the default action until the exec.
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: resetting a signal to its default disposition.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    for (i, step) in plan.steps.iter().enumerate() {
        if let Err(errno) = execute(step, plan.phase_write) {
            Record::Failed {
                index: i,
                errno: errno as i32,
            }
            .send(plan.phase_write);
            // SAFETY: leaving the child at once.
            unsafe { libc::_exit(127) };
        }
    }
    // SAFETY: fd juggling on descriptors we own, then execve with NULL-terminated arrays whose
    // strings live in `plan` until the exec replaces the process.
    unsafe {
        libc::dup2(plan.output_write, 1);
        libc::dup2(plan.output_write, 2);
        match plan.input {
            Some(fd) => {
                libc::dup2(fd, 0);
            }
            None => {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                if null >= 0 {
                    libc::dup2(null, 0);
                }
            }
        }
        if let Some(mask) = &plan.signal_mask {
            libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
        }
        libc::execve(
            plan.exe.as_ptr(),
            plan.argv_ptrs.as_ptr(),
            plan.envp_ptrs.as_ptr(),
        );
        Record::Failed {
            index: plan.steps.len(),
            errno: *libc::__errno_location(),
        }
        .send(plan.phase_write);
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_unknown_ones_are_skipped() {
        let records = [
            Record::Reached(Mark::CgroupAttached, 7),
            Record::Reached(Mark::SetupDone, u64::MAX),
            Record::Reached(Mark::IdsMapped, 11),
            Record::Reached(Mark::UserNetReady, 12),
            Record::Failed {
                index: 3,
                errno: libc::EPERM,
            },
        ];
        let mut bytes: Vec<u8> = records.iter().flat_map(|r| r.encode()).collect();
        bytes.extend([9u8; RECORD_BYTES]);
        bytes.extend([1u8; 5]);
        assert_eq!(Record::decode_all(&bytes), records.to_vec());
    }

    #[test]
    fn pointer_arrays_are_null_terminated_and_failures_named() {
        let plan = ChildPlan::new(
            vec![Step::Mkdir(cs("/x"))],
            (0, 1),
            "/vmbench-workload",
            &["--workload".into(), "noop".into()],
            &[("PATH".into(), "/".into())],
        );
        assert_eq!(plan.argv_ptrs.len(), 4);
        assert!(plan.argv_ptrs[3].is_null() && plan.envp_ptrs[1].is_null());
        assert_eq!(plan.argv[0].to_bytes(), b"/vmbench-workload");
        assert!(plan
            .failure(0, libc::EACCES)
            .starts_with("mkdir /x: EACCES"));
        assert!(plan
            .failure(1, libc::ENOENT)
            .starts_with("exec /vmbench-workload"));
    }
}
