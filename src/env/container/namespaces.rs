//! The builtin container's child setup: cgroup entry, namespaces, mounts and pivot_root, as a
//! list of child steps computed before `clone` (see [`crate::env::child`]) and unit tested for
//! their order.

use super::mounts::{DEVICES, DEV_LINKS, MOUNTS};
use crate::env::child::{Mark, Step};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Namespaces created by `clone`; the cgroup namespace comes later, once the child is in its
/// cgroup (a cgroup namespace is rooted where its creator stands).
pub const CLONE_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWPID
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWNET);

/// How the child gets into its cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    /// Already there: created by `clone3(CLONE_INTO_CGROUP)`.
    Cloned,
    /// Moves itself by writing `0` to these v1 `tasks` files.
    SelfTasks(Vec<RawFd>),
    /// Waits for the parent to move it (one byte on this descriptor once done).
    ByParent(RawFd),
    /// In a new user namespace: waits for the parent to write its id maps and, when it has a
    /// cgroup (`limited`), for a second go-ahead once the parent moved it there.
    MappedByParent {
        /// The go-ahead descriptor.
        go: RawFd,
        /// Whether the parent also moves it into a cgroup.
        limited: bool,
    },
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
    pub cgroup_mounts: &'a [(String, &'static str, String)],
    /// How the child enters its cgroup.
    pub attach: Attach,
    /// Host folders of a writable overlay over the image (`file-layer`); without one the
    /// root is the image's folder itself, read-only.
    pub overlay: Option<&'a Overlay>,
}

/// The host folders of an instance's writable layer: overlayfs's upper and work folders and
/// the mount point of the merged root.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Where the instance's writes go.
    pub upper: std::path::PathBuf,
    /// overlayfs's scratch folder (same filesystem as `upper`).
    pub work: std::path::PathBuf,
    /// Where the merged root is mounted.
    pub merged: std::path::PathBuf,
}

impl Overlay {
    /// The folders under `dir`, made (empty).
    pub fn make(dir: &Path) -> std::io::Result<Overlay> {
        let overlay = Overlay {
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
        };
        for d in [&overlay.upper, &overlay.work, &overlay.merged] {
            std::fs::create_dir_all(d)?;
        }
        Ok(overlay)
    }

    /// The root's mount: overlayfs over `lower`, or `lower` bound onto itself.
    fn root_mount(overlay: Option<&Overlay>, lower: &Path) -> (std::path::PathBuf, Step) {
        let Some(o) = overlay else {
            return (
                lower.to_path_buf(),
                Step::Mount {
                    source: Some(c(lower)),
                    target: c(lower),
                    fstype: None,
                    flags: MsFlags::MS_BIND | MsFlags::MS_REC,
                    data: None,
                },
            );
        };
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            o.upper.display(),
            o.work.display()
        );
        (
            o.merged.clone(),
            Step::Mount {
                source: Some(cs("overlay")),
                target: c(&o.merged),
                fstype: Some(cs("overlay")),
                flags: MsFlags::empty(),
                data: Some(cs(&options)),
            },
        )
    }
}

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("paths have no NUL bytes")
}

fn cs(s: &str) -> CString {
    CString::new(s).expect("no NUL bytes")
}

/// How the child gets into its cgroup (and, in a user namespace, waits for its id maps).
fn attach_steps(attach: &Attach, steps: &mut Vec<Step>) {
    let limited = match attach {
        Attach::Cloned => true,
        Attach::SelfTasks(fds) => {
            steps.extend(fds.iter().map(|fd| Step::WriteFd(*fd, b"0")));
            true
        }
        Attach::ByParent(fd) => {
            steps.push(Step::WaitForParent(*fd));
            true
        }
        Attach::MappedByParent { go, limited } => {
            steps.extend([Step::WaitForParent(*go), Step::Mark(Mark::IdsMapped)]);
            // The parent's move into the cgroup is a go-ahead of its own, so each phase
            // times only its own work.
            if *limited {
                steps.push(Step::WaitForParent(*go));
            }
            *limited
        }
    };
    if limited {
        steps.push(Step::Mark(Mark::CgroupAttached));
    }
}

/// The nodes of `/dev`: made, or in a user namespace (which may not make them) the host's bound.
fn device_steps(dev: &Path, in_user_namespace: bool) -> Vec<Step> {
    DEVICES
        .iter()
        .map(|&(name, major, minor)| {
            let path = c(&dev.join(name));
            if in_user_namespace {
                Step::BindDevice {
                    host: c(&Path::new("/dev").join(name)),
                    path,
                }
            } else {
                Step::CharDevice { path, major, minor }
            }
        })
        .collect()
}

/// The child's setup, in order.
pub fn setup_steps(plan: &MountPlan) -> Vec<Step> {
    let (root, root_mount) = Overlay::root_mount(plan.overlay, plan.rootfs);
    let root = root.as_path();
    // Its parent is outside its pid namespace, so getppid() says 0: no pid to check.
    let mut steps = vec![Step::DieWithParent(None)];
    attach_steps(&plan.attach, &mut steps);
    let in_user_namespace = matches!(plan.attach, Attach::MappedByParent { .. });
    steps.extend([
        Step::Unshare(CloneFlags::CLONE_NEWCGROUP),
        Step::SetHostname(cs(plan.hostname)),
        Step::MakePrivate,
        root_mount,
    ]);
    steps.extend(MOUNTS.iter().map(|m| m.step(root, plan.data_dir)));
    let dev = root.join("dev");
    steps.extend(device_steps(&dev, in_user_namespace));
    for (name, target) in DEV_LINKS {
        steps.push(Step::Symlink {
            target: cs(target),
            link: c(&dev.join(name)),
        });
    }
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
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
    if plan.overlay.is_none() {
        steps.push(Step::RemountRootReadOnly);
    }
    steps.push(Step::LoopbackUp);
    let cgroup_root = Path::new("/sys/fs/cgroup");
    for (dir, fstype, options) in plan.cgroup_mounts {
        let target = if dir.is_empty() {
            cgroup_root.to_path_buf()
        } else {
            steps.push(Step::Mkdir(c(&cgroup_root.join(dir))));
            cgroup_root.join(dir)
        };
        steps.push(Step::Mount {
            source: Some(cs(fstype)),
            target: c(&target),
            fstype: Some(cs(fstype)),
            flags: nosuid_nodev | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
            data: (!options.is_empty()).then(|| cs(options)),
        });
    }
    steps.push(Step::Mark(Mark::SetupDone));
    steps
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

    fn plan(cgroup_mounts: &[(String, &'static str, String)], attach: Attach) -> Vec<Step> {
        setup_steps(&MountPlan {
            rootfs: Path::new("/cache/image/rootfs"),
            data_dir: Path::new("/var/tmp/vmbench-data-x"),
            hostname: "vmbench",
            cgroup_mounts,
            attach,
            overlay: None,
        })
    }

    #[test]
    fn an_overlay_root_mounts_the_image_below_a_writable_layer_and_stays_writable() {
        let overlay = Overlay {
            upper: "/run/x/upper".into(),
            work: "/run/x/work".into(),
            merged: "/run/x/merged".into(),
        };
        let steps = setup_steps(&MountPlan {
            rootfs: Path::new("/cache/image/rootfs"),
            data_dir: Path::new("/var/tmp/vmbench-data-x"),
            hostname: "vmbench",
            cgroup_mounts: &[],
            attach: Attach::Cloned,
            overlay: Some(&overlay),
        });
        let root = &steps[mounts_at(&steps, "/run/x/merged")];
        assert!(
            matches!(root, Step::Mount { fstype: Some(f), data: Some(d), .. }
                if f.to_bytes() == b"overlay"
                && d.to_bytes() == b"lowerdir=/cache/image/rootfs,upperdir=/run/x/upper,workdir=/run/x/work"),
            "{root:?}"
        );
        mounts_at(&steps, "/run/x/merged/data");
        assert!(steps
            .iter()
            .any(|s| matches!(s, Step::PivotInto(p) if p.to_bytes() == b"/run/x/merged")));
        assert!(!steps.iter().any(|s| matches!(s, Step::RemountRootReadOnly)));
        assert!(plan(&[], Attach::Cloned)
            .iter()
            .any(|s| matches!(s, Step::RemountRootReadOnly)));
    }

    #[test]
    fn setup_order_attaches_first_isolates_before_it_mounts_and_pivots_last() {
        let v1 = [
            ("memory".to_string(), "cgroup", "memory".to_string()),
            ("pids".to_string(), "cgroup", "pids".to_string()),
        ];
        let steps = plan(&v1, Attach::SelfTasks(vec![7, 8]));
        assert_eq!(steps[0], Step::DieWithParent(None));
        assert_eq!(
            &steps[1..4],
            &[
                Step::WriteFd(7, b"0"),
                Step::WriteFd(8, b"0"),
                Step::Mark(Mark::CgroupAttached)
            ]
        );
        let cgroupns = position(&steps, |s| *s == Step::Unshare(CloneFlags::CLONE_NEWCGROUP));
        assert_eq!(cgroupns, 4, "cgroup namespace right after the attach");
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
                cgroupns < private && private < at && at < pivot,
                "{suffix} mounted at {at}, private {private}, pivot {pivot}"
            );
        }
        assert!(
            mounts_at(&steps, "rootfs/dev")
                < position(&steps, |s| matches!(s, Step::CharDevice { .. }))
        );
        let ro = position(&steps, |s| *s == Step::RemountRootReadOnly);
        assert!(pivot < ro && ro < position(&steps, |s| *s == Step::LoopbackUp));
        let view = mounts_at(&steps, "/sys/fs/cgroup/memory");
        assert!(pivot < view);
        assert!(
            matches!(&steps[view], Step::Mount { flags, .. } if flags.contains(MsFlags::MS_RDONLY))
        );
        let data = &steps[mounts_at(&steps, "rootfs/data")];
        assert!(
            matches!(data, Step::Mount { source: Some(s), flags, .. } if s.to_bytes() == b"/var/tmp/vmbench-data-x" && flags.contains(MsFlags::MS_BIND))
        );
        assert_eq!(steps.last(), Some(&Step::Mark(Mark::SetupDone)));
    }

    #[test]
    fn unified_cgroup_mounts_straight_on_sys_fs_cgroup() {
        let unified = [(String::new(), "cgroup2", String::new())];
        let steps = plan(&unified, Attach::Cloned);
        assert_eq!(
            steps[1],
            Step::Mark(Mark::CgroupAttached),
            "nothing to write"
        );
        let at = mounts_at(&steps, "/sys/fs/cgroup");
        assert!(
            matches!(&steps[at], Step::Mount { fstype: Some(t), .. } if t.to_bytes() == b"cgroup2")
        );
        assert!(!steps.iter().any(|s| matches!(s, Step::Mkdir(_))));
        let parent = plan(&unified, Attach::ByParent(9));
        assert_eq!(parent[1], Step::WaitForParent(9));
    }

    #[test]
    fn in_a_user_namespace_the_child_waits_for_its_maps_and_binds_the_hosts_devices() {
        let unlimited = plan(
            &[],
            Attach::MappedByParent {
                go: 5,
                limited: false,
            },
        );
        assert_eq!(
            &unlimited[1..3],
            &[Step::WaitForParent(5), Step::Mark(Mark::IdsMapped)]
        );
        assert!(
            !unlimited.contains(&Step::Mark(Mark::CgroupAttached)),
            "no cgroup, no attach mark"
        );
        assert!(!unlimited
            .iter()
            .any(|s| matches!(s, Step::CharDevice { .. })));
        let null = unlimited
            .iter()
            .find_map(|s| match s {
                Step::BindDevice { host, path } if path.to_bytes().ends_with(b"/dev/null") => {
                    Some(host.to_bytes().to_vec())
                }
                _ => None,
            })
            .expect("/dev/null bound");
        assert_eq!(null, b"/dev/null");
        let limited = plan(
            &[],
            Attach::MappedByParent {
                go: 5,
                limited: true,
            },
        );
        assert_eq!(
            &limited[1..5],
            &[
                Step::WaitForParent(5),
                Step::Mark(Mark::IdsMapped),
                Step::WaitForParent(5),
                Step::Mark(Mark::CgroupAttached)
            ]
        );
        let root = plan(&[], Attach::Cloned);
        assert!(root.iter().any(|s| matches!(s, Step::CharDevice { .. })));
        assert!(!root.contains(&Step::Mark(Mark::IdsMapped)));
    }
}
