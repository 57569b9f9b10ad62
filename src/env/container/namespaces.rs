//! Namespaces, mounts and pivot_root for the builtin container.
//!
//! The child's whole setup is computed before `clone` as a list of [`Step`]s (plain data, unit
//! tested for order), so the child, a copy of a multi-threaded process, only makes system
//! calls: it allocates nothing between `clone` and `execve`.

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Namespaces created by `clone`; the cgroup namespace comes later, after the cgroup attach.
pub const CLONE_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWPID
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWNET);

/// One setup action of the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
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
}

impl Step {
    /// Short name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Unshare(_) => "unshare",
            Step::SetHostname(_) => "sethostname",
            Step::MakePrivate => "make mounts private",
            Step::Mount { .. } => "mount",
            Step::Mkdir(_) => "mkdir",
            Step::CharDevice { .. } => "mknod",
            Step::Symlink { .. } => "symlink",
            Step::PivotInto(_) => "pivot_root",
            Step::RemountRootReadOnly => "remount root read-only",
            Step::LoopbackUp => "loopback up",
        }
    }

    /// The path a step acts on, for error messages.
    pub fn path(&self) -> Option<&CStr> {
        match self {
            Step::Mount { target, .. } => Some(target),
            Step::Mkdir(p) | Step::PivotInto(p) => Some(p),
            Step::CharDevice { path, .. } => Some(path),
            Step::Symlink { link, .. } => Some(link),
            _ => None,
        }
    }
}

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("paths have no NUL bytes")
}

fn cs(s: &str) -> CString {
    CString::new(s).expect("no NUL bytes")
}

/// What the container's mount namespace gets.
#[derive(Debug, Clone)]
pub struct MountPlan<'a> {
    /// The image's root directory.
    pub rootfs: &'a Path,
    /// Host directory bind-mounted at `/data`.
    pub data_dir: &'a Path,
    /// Host name inside.
    pub hostname: &'a str,
    /// cgroup hierarchies to show inside: (directory under /sys/fs/cgroup, fstype, options).
    pub cgroup_mounts: Vec<(String, &'static str, String)>,
}

/// The child's setup: steps run while the parent attaches the cgroup, then steps that must
/// follow the attach (the cgroup namespace roots at the cgroup the child is in when created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// Run at once after `clone`, in parallel with the parent's cgroup attach.
    pub before_attach: Vec<Step>,
    /// Run after the go-ahead: cgroup namespace and the cgroup views.
    pub after_attach: Vec<Step>,
}

/// The child's setup, in order.
pub fn setup_steps(plan: &MountPlan) -> Setup {
    let root = plan.rootfs;
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let mut steps = vec![
        Step::SetHostname(cs(plan.hostname)),
        Step::MakePrivate,
        Step::Mount {
            source: Some(c(root)),
            target: c(root),
            fstype: None,
            flags: MsFlags::MS_BIND | MsFlags::MS_REC,
            data: None,
        },
        Step::Mount {
            source: Some(cs("proc")),
            target: c(&root.join("proc")),
            fstype: Some(cs("proc")),
            flags: nosuid_nodev | MsFlags::MS_NOEXEC,
            data: None,
        },
        Step::Mount {
            source: Some(cs("tmpfs")),
            target: c(&root.join("dev")),
            fstype: Some(cs("tmpfs")),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: Some(cs("mode=755,size=64k")),
        },
    ];
    for (name, minor, major) in [
        ("null", 3, 1),
        ("zero", 5, 1),
        ("full", 7, 1),
        ("random", 8, 1),
        ("urandom", 9, 1),
        ("tty", 0, 5),
    ] {
        steps.push(Step::CharDevice {
            path: c(&root.join("dev").join(name)),
            major,
            minor,
        });
    }
    for (target, link) in [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ] {
        steps.push(Step::Symlink {
            target: cs(target),
            link: c(&root.join("dev").join(link)),
        });
    }
    steps.push(Step::Mount {
        source: Some(cs("tmpfs")),
        target: c(&root.join("tmp")),
        fstype: Some(cs("tmpfs")),
        flags: nosuid_nodev,
        data: Some(cs("mode=1777")),
    });
    steps.push(Step::Mount {
        source: Some(c(plan.data_dir)),
        target: c(&root.join("data")),
        fstype: None,
        flags: MsFlags::MS_BIND,
        data: None,
    });
    let unified_only = plan.cgroup_mounts.len() == 1 && plan.cgroup_mounts[0].0.is_empty();
    if !plan.cgroup_mounts.is_empty() && !unified_only {
        // A writable tmpfs to hold one mount point per v1 hierarchy, made before the root
        // turns read-only.
        steps.push(Step::Mount {
            source: Some(cs("tmpfs")),
            target: c(&root.join("sys/fs/cgroup")),
            fstype: Some(cs("tmpfs")),
            flags: nosuid_nodev | MsFlags::MS_NOEXEC,
            data: Some(cs("mode=755,size=16k")),
        });
    }
    steps.push(Step::PivotInto(c(root)));
    steps.push(Step::RemountRootReadOnly);
    steps.push(Step::LoopbackUp);

    let mut after = vec![Step::Unshare(CloneFlags::CLONE_NEWCGROUP)];
    let cgroup_root = Path::new("/sys/fs/cgroup");
    for (dir, fstype, options) in &plan.cgroup_mounts {
        let target = if dir.is_empty() {
            cgroup_root.to_path_buf()
        } else {
            cgroup_root.join(dir)
        };
        if !dir.is_empty() {
            after.push(Step::Mkdir(c(&target)));
        }
        after.push(Step::Mount {
            source: Some(cs(fstype)),
            target: c(&target),
            fstype: Some(cs(fstype)),
            flags: nosuid_nodev | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
            data: (!options.is_empty()).then(|| cs(options)),
        });
    }
    Setup {
        before_attach: steps,
        after_attach: after,
    }
}

/// Carries out one step with raw system calls (no allocation).
pub fn execute(step: &Step) -> Result<(), nix::errno::Errno> {
    use nix::errno::Errno;
    use nix::mount::{mount, umount2, MntFlags};
    match step {
        Step::Unshare(flags) => nix::sched::unshare(*flags),
        Step::SetHostname(name) => {
            // SAFETY: valid pointer and length of a NUL-terminated string we own.
            Errno::result(unsafe { libc::sethostname(name.as_ptr(), name.as_bytes().len()) })
                .map(drop)
        }
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
        Step::Mkdir(path) => {
            // SAFETY: NUL-terminated path.
            match Errno::result(unsafe { libc::mkdir(path.as_ptr(), 0o755) }) {
                Err(Errno::EEXIST) => Ok(()),
                r => r.map(drop),
            }
        }
        Step::CharDevice { path, major, minor } => {
            // SAFETY: NUL-terminated path; mknod creates a device node in our private tmpfs.
            Errno::result(unsafe {
                libc::mknod(
                    path.as_ptr(),
                    libc::S_IFCHR | 0o666,
                    libc::makedev(*major as u32, *minor as u32),
                )
            })?;
            // The umask may have masked the mode.
            // SAFETY: as above.
            Errno::result(unsafe { libc::chmod(path.as_ptr(), 0o666) }).map(drop)
        }
        Step::Symlink { target, link } => {
            // SAFETY: NUL-terminated paths.
            Errno::result(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) }).map(drop)
        }
        Step::PivotInto(root) => {
            nix::unistd::chdir(root.as_c_str())?;
            nix::unistd::pivot_root(c".", c".")?;
            umount2(c".", MntFlags::MNT_DETACH)?;
            nix::unistd::chdir(c"/")
        }
        Step::RemountRootReadOnly => mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
            None::<&CStr>,
        ),
        Step::LoopbackUp => vmbench_workload::sys::loopback_up()
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
    }
}

/// A record the child sends on the phase pipe: tag, value, value (little-endian u64s).
pub const RECORD_BYTES: usize = 24;
/// Record tag: setup finished, value = CLOCK_MONOTONIC ns.
pub const TAG_SETUP_DONE: u64 = 1;
/// Record tag: a step failed, values = step index, errno.
pub const TAG_FAILED: u64 = 2;

/// Writes one record (async-signal-safe).
pub fn write_record(fd: RawFd, tag: u64, a: u64, b: u64) {
    let mut buf = [0u8; RECORD_BYTES];
    buf[..8].copy_from_slice(&tag.to_le_bytes());
    buf[8..16].copy_from_slice(&a.to_le_bytes());
    buf[16..].copy_from_slice(&b.to_le_bytes());
    // SAFETY: writing our stack buffer to a pipe we own.
    unsafe { libc::write(fd, buf.as_ptr().cast(), RECORD_BYTES) };
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

/// Everything the child needs, prepared by the parent.
pub struct ChildPlan {
    /// Setup steps: before the go-ahead, then after it.
    pub steps: Vec<Step>,
    /// Index in `steps` of the first step that waits for the go-ahead.
    pub attach_at: usize,
    /// Read end of the go-ahead pipe (the parent writes once the cgroup attach is done).
    pub sync_read: RawFd,
    /// Write end of the phase pipe (close-on-exec: its end of file tells the parent exec ran).
    pub phase_write: RawFd,
    /// Write end of the output pipe, becomes stdout and stderr.
    pub output_write: RawFd,
    /// The program to exec.
    pub exe: CString,
    /// argv, kept alive for the pointer array.
    pub argv: Vec<CString>,
    /// envp, kept alive for the pointer array.
    pub envp: Vec<CString>,
    /// NULL-terminated pointers into `argv`.
    pub argv_ptrs: Vec<*const libc::c_char>,
    /// NULL-terminated pointers into `envp`.
    pub envp_ptrs: Vec<*const libc::c_char>,
}

impl ChildPlan {
    /// Builds the plan and its pointer arrays.
    pub fn new(
        setup: Setup,
        fds: (RawFd, RawFd, RawFd),
        exe: &str,
        args: &[String],
        env: &[(&str, &str)],
    ) -> ChildPlan {
        let attach_at = setup.before_attach.len();
        let steps: Vec<Step> = setup
            .before_attach
            .into_iter()
            .chain(setup.after_attach)
            .collect();
        let argv: Vec<CString> = std::iter::once(exe.to_string())
            .chain(args.iter().cloned())
            .map(|a| cs(&a))
            .collect();
        let envp: Vec<CString> = env.iter().map(|(k, v)| cs(&format!("{k}={v}"))).collect();
        let argv_ptrs = argv
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let envp_ptrs = envp
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        ChildPlan {
            steps,
            attach_at,
            sync_read: fds.0,
            phase_write: fds.1,
            output_write: fds.2,
            exe: cs(exe),
            argv,
            envp,
            argv_ptrs,
            envp_ptrs,
        }
    }
}

/// The child's body after `clone`: set up, wait for the go-ahead (cgroup attached), finish
/// the setup, exec. Never returns.
pub fn child_main(plan: &ChildPlan) -> isize {
    for (i, step) in plan.steps.iter().enumerate() {
        if i == plan.attach_at {
            let mut byte = [0u8; 1];
            // SAFETY: reading one byte from the go-ahead pipe into our buffer.
            if unsafe { libc::read(plan.sync_read, byte.as_mut_ptr().cast(), 1) } != 1 {
                // The parent failed to attach the cgroup and closed the pipe.
                // SAFETY: leaving the child at once.
                unsafe { libc::_exit(126) };
            }
        }
        if let Err(errno) = execute(step) {
            write_record(plan.phase_write, TAG_FAILED, i as u64, errno as u64);
            // SAFETY: leaving the child at once.
            unsafe { libc::_exit(127) };
        }
    }
    write_record(plan.phase_write, TAG_SETUP_DONE, monotonic_ns(), 0);
    // SAFETY: fd juggling on descriptors we own, then execve with NULL-terminated arrays whose
    // strings live in `plan` until the exec replaces the process.
    unsafe {
        libc::dup2(plan.output_write, 1);
        libc::dup2(plan.output_write, 2);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null >= 0 {
            libc::dup2(null, 0);
        }
        libc::execve(
            plan.exe.as_ptr(),
            plan.argv_ptrs.as_ptr(),
            plan.envp_ptrs.as_ptr(),
        );
        let errno = *libc::__errno_location();
        write_record(
            plan.phase_write,
            TAG_FAILED,
            plan.steps.len() as u64,
            errno as u64,
        );
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(steps: &[Step], pred: impl Fn(&Step) -> bool) -> usize {
        steps.iter().position(pred).expect("step present")
    }

    fn mounts_at(steps: &[Step], suffix: &str) -> usize {
        position(
            steps,
            |s| matches!(s, Step::Mount { target, .. } if target.to_bytes().ends_with(suffix.as_bytes())),
        )
    }

    #[test]
    fn setup_order_isolates_before_it_mounts_and_pivots_last() {
        let plan = MountPlan {
            rootfs: Path::new("/cache/image/rootfs"),
            data_dir: Path::new("/var/tmp/vmbench-data-x"),
            hostname: "vmbench",
            cgroup_mounts: vec![
                ("memory".into(), "cgroup", "memory".into()),
                ("pids".into(), "cgroup", "pids".into()),
            ],
        };
        let setup = setup_steps(&plan);
        assert_eq!(
            setup.after_attach[0],
            Step::Unshare(CloneFlags::CLONE_NEWCGROUP),
            "cgroup ns right after the attach"
        );
        let cgroup = setup.after_attach.iter().position(|s| matches!(s, Step::Mount { target, .. } if target.to_bytes() == b"/sys/fs/cgroup/memory")).unwrap();
        assert!(
            matches!(&setup.after_attach[cgroup], Step::Mount { flags, .. } if flags.contains(MsFlags::MS_RDONLY))
        );
        let steps = setup.before_attach;
        let private = position(&steps, |s| *s == Step::MakePrivate);
        let pivot = position(&steps, |s| matches!(s, Step::PivotInto(_)));
        for suffix in [
            "rootfs",
            "rootfs/proc",
            "rootfs/dev",
            "rootfs/tmp",
            "rootfs/data",
            "rootfs/sys/fs/cgroup",
        ] {
            let at = mounts_at(&steps, suffix);
            assert!(
                private < at && at < pivot,
                "{suffix} mounted at {at}, private {private}, pivot {pivot}"
            );
        }
        assert!(
            mounts_at(&steps, "rootfs/dev")
                < position(&steps, |s| matches!(s, Step::CharDevice { .. }))
        );
        let ro = position(&steps, |s| *s == Step::RemountRootReadOnly);
        assert!(pivot < ro && ro < position(&steps, |s| *s == Step::LoopbackUp));
        let data = &steps[mounts_at(&steps, "rootfs/data")];
        assert!(
            matches!(data, Step::Mount { source: Some(s), flags, .. } if s.to_bytes() == b"/var/tmp/vmbench-data-x" && flags.contains(MsFlags::MS_BIND))
        );
    }

    #[test]
    fn unified_cgroup_mounts_straight_on_sys_fs_cgroup() {
        let plan = MountPlan {
            rootfs: Path::new("/r"),
            data_dir: Path::new("/d"),
            hostname: "h",
            cgroup_mounts: vec![(String::new(), "cgroup2", String::new())],
        };
        let setup = setup_steps(&plan);
        let at = mounts_at(&setup.after_attach, "/sys/fs/cgroup");
        assert!(
            matches!(&setup.after_attach[at], Step::Mount { fstype: Some(t), .. } if t.to_bytes() == b"cgroup2")
        );
        assert!(!setup
            .after_attach
            .iter()
            .any(|s| matches!(s, Step::Mkdir(_))));
        assert!(!setup.before_attach.iter().any(
            |s| matches!(s, Step::Mount { target, .. } if target.to_bytes().ends_with(b"cgroup"))
        ));
    }

    #[test]
    fn child_plan_pointer_arrays_are_null_terminated() {
        let setup = Setup {
            before_attach: vec![],
            after_attach: vec![],
        };
        let plan = ChildPlan::new(
            setup,
            (0, 1, 2),
            "/vmbench-workload",
            &["--workload".into(), "noop".into()],
            &[("PATH", "/")],
        );
        assert_eq!(plan.argv_ptrs.len(), 4);
        assert!(plan.argv_ptrs[3].is_null() && plan.envp_ptrs[1].is_null());
        assert_eq!(plan.argv[0].to_bytes(), b"/vmbench-workload");
    }
}
