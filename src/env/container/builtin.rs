//! vmbench's own container: a fresh cgroup, then `clone3` into new pid, mount, uts, ipc and net
//! namespaces; the child enters its cgroup without the parent migrating it (created inside it
//! on cgroup v2, moving itself on v1), takes a cgroup namespace, mounts from the shared table,
//! pivots into the image and execs the workload as the container's PID 1.
//!
//! The rootless twin (`container-rootless`) adds a user namespace to the same `clone`: the
//! parent writes its id maps (the invoking user as root inside), and the child, waiting for
//! them, binds the host's device nodes instead of making them. Without root it has a cgroup
//! only where a cgroup v2 subtree is delegated to the user (its instances go under it), else it
//! runs without limits, said in every trial.

use super::cgroup::{Cgroup, Entry};
use super::namespaces::{self, Attach, MountPlan, CLONE_NAMESPACES};
use super::userns::{self, IdMaps};
use super::ContainerSettings;
use crate::collector::Target;
use crate::env::process::{self, CloneMode, Instance, Program, Started};
use crate::env::{
    Availability, EnvError, EnvKind, Environment, Footprint, Outcome, Shared, Spec, Unavailable,
};
use crate::ids::Phase;
use crate::results::{AttachPath, HostInfo};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

/// Host name inside the builtin container.
pub const HOSTNAME: &str = "vmbench-container";

/// The builtin container environment, or its rootless twin.
#[derive(Default)]
pub struct Builtin {
    settings: Option<Arc<ContainerSettings>>,
    /// The user namespace's maps, for the rootless twin.
    maps: Option<IdMaps>,
    rootless: bool,
    /// The cgroup v2 subtree delegated to the ordinary user running the rootless twin.
    delegated: Option<std::path::PathBuf>,
}

impl Builtin {
    /// A builtin container environment with its settings already prepared.
    pub fn with(settings: Arc<ContainerSettings>) -> Builtin {
        Builtin {
            settings: Some(settings),
            ..Builtin::default()
        }
    }

    /// The rootless twin, not yet prepared.
    pub fn rootless() -> Builtin {
        Builtin {
            rootless: true,
            ..Builtin::default()
        }
    }

    /// Whether its instances get a cgroup: always as root; for an ordinary user where a
    /// cgroup v2 subtree is delegated to them.
    fn limited(&self) -> bool {
        !self.rootless || nix::unistd::geteuid().is_root() || self.delegated.is_some()
    }
}

/// Why a container environment cannot run here, if it cannot.
pub fn needs_root_and_cgroups(
    kind: EnvKind,
    what: &str,
    host: &HostInfo,
) -> Result<(), Unavailable> {
    if kind.needs_root() && !host.root {
        return Err(Unavailable::new(
            format!("{what} needs root"),
            "run vmbench as root (sudo), or without root use container-rootless or container-podman (rootless)",
        ));
    }
    if host.cgroup.starts_with("no cgroup") {
        return Err(Unavailable::new(
            host.cgroup.clone(),
            "mount cgroup2 on /sys/fs/cgroup",
        ));
    }
    Ok(())
}

impl Environment for Builtin {
    fn kind(&self) -> EnvKind {
        if self.rootless {
            EnvKind::ContainerRootless
        } else {
            EnvKind::Container
        }
    }

    fn availability(&self, host: &HostInfo) -> Availability {
        if self.rootless {
            if let Some(why) = userns::blocked(std::path::Path::new("/proc"), host.root) {
                return Err(why);
            }
            let maps = userns::maps_for_me()?;
            let limits = if host.root {
                format!(
                    "cgroup limits ({})",
                    host.cgroup.split(' ').next().unwrap_or("?")
                )
            } else {
                match userns::delegated_cgroup() {
                    Ok(top) => format!("cgroup limits (v2, under {})", top.display()),
                    Err(why) => why,
                }
            };
            return Ok(format!(
                "user namespace ({}) + namespaces; {limits}",
                maps.describe()
            ));
        }
        needs_root_and_cgroups(EnvKind::Container, "the builtin container", host)?;
        Ok(format!(
            "namespaces + cgroups ({})",
            host.cgroup.split(' ').next().unwrap_or("?")
        ))
    }

    fn prepare(&mut self, shared: &mut Shared) -> Result<Option<Footprint>, EnvError> {
        let settings = shared.container()?;
        let footprint = settings.image.footprint();
        self.settings = Some(settings);
        if self.rootless {
            let maps = userns::maps_for_me().map_err(|why| EnvError::Unavailable {
                env: self.kind(),
                why,
            })?;
            self.maps = Some(maps);
            if !nix::unistd::geteuid().is_root() {
                self.delegated = userns::delegated_cgroup().ok();
            }
        }
        Ok(Some(footprint))
    }

    fn supports(&self, workload: vmbench_workload::Workload) -> Result<(), String> {
        crate::env::wired(self.kind(), workload)?;
        if !(self.rootless && workload.crosses_network()) {
            return Ok(());
        }
        match crate::net::user::missing() {
            Some(why) => Err(format!("{workload} needs the rootless network: {why}")),
            None => Ok(()),
        }
    }

    fn instance(&self) -> Result<Box<dyn Instance + '_>, EnvError> {
        let settings = self
            .settings
            .as_deref()
            .ok_or(EnvError::NotPrepared(self.kind()))?;
        Ok(Box::new(BuiltinInstance {
            settings,
            cgroup: None,
            attach: if self.limited() {
                settings.attach
            } else {
                AttachPath::NoLimits
            },
            io_path: None,
            maps: self.maps.as_ref(),
            limited: self.limited(),
            delegated: self.delegated.as_deref(),
            helpers: Vec::new(),
            layer: None,
        }))
    }
}

struct BuiltinInstance<'a> {
    settings: &'a ContainerSettings,
    cgroup: Option<Cgroup>,
    attach: AttachPath,
    io_path: Option<String>,
    /// The user namespace's maps (rootless).
    maps: Option<&'a IdMaps>,
    /// Whether it gets a cgroup.
    limited: bool,
    /// Where its cgroup goes when an ordinary user's delegated subtree holds it.
    delegated: Option<&'a std::path::Path>,
    /// The rootless network's helper processes, killed with the instance.
    helpers: Vec<crate::net::user::Helper>,
    /// The writable layer's folders, removed with the instance.
    layer: Option<LayerDir>,
}

/// An instance's writable-layer folders on the host, removed when dropped.
struct LayerDir(namespaces::Overlay, std::path::PathBuf);

impl LayerDir {
    /// Fresh folders for one instance's layer under `work_dir`.
    fn make(work_dir: &std::path::Path) -> Result<LayerDir, EnvError> {
        let dir = work_dir.join(format!("layer-{}", super::instance_name()));
        let overlay =
            namespaces::Overlay::make(&dir).map_err(crate::error::io_at("create", &dir))?;
        Ok(LayerDir(overlay, dir))
    }
}

impl Drop for LayerDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

impl BuiltinInstance<'_> {
    /// The instance's cgroup, with the run's limits.
    fn cgroup_of(&self, spec: &Spec) -> Result<Cgroup, EnvError> {
        let settings = self.settings;
        let limits = super::instance_limits(spec, settings.pids_max);
        let name = super::instance_name();
        Ok(match self.delegated {
            Some(top) => Cgroup::create_delegated(top, &name, &limits)?,
            None => Cgroup::create(&settings.layout, &settings.own_cgroup, &name, &limits)?,
        })
    }

    /// Where the workload writes: a fresh writable layer over the image for `file-layer`,
    /// otherwise the bind-mounted data folder (said in the trial's I/O path).
    fn writes(&mut self, spec: &Spec) -> Result<Option<LayerDir>, EnvError> {
        let layer = spec
            .invocation
            .workload
            .writes_layer()
            .then(|| LayerDir::make(&self.settings.work_dir))
            .transpose()?;
        self.io_path = Some(match &layer {
            Some(l) => format!(
                "overlayfs writable layer (upper on host {})",
                crate::env::filesystem_of(&l.1)
            ),
            None => format!(
                "bind mount of a host {} directory",
                crate::env::filesystem_of(spec.data_dir)
            ),
        });
        Ok(layer)
    }

    /// How the child gets into its cgroup, and the cgroup descriptor for `clone3` when it is
    /// created inside; the parent's migration (waiting on `go`) only where neither works. In
    /// a user namespace the parent always goes first: it writes the id maps.
    fn way_in(&mut self, entry: Option<&Entry>, go: RawFd) -> (Attach, Option<RawFd>) {
        if self.maps.is_some() {
            if entry.is_some() {
                self.attach = AttachPath::ParentProcs;
            }
            let limited = entry.is_some();
            return (Attach::MappedByParent { go, limited }, None);
        }
        let entry = entry.expect("a container without a user namespace has a cgroup");
        let (attach, clone_into) = match self.settings.attach {
            AttachPath::Clone3IntoCgroup => (
                Attach::Cloned,
                entry.clone_into.as_ref().map(|fd| fd.as_raw_fd()),
            ),
            AttachPath::SelfTasks if !entry.tasks.is_empty() => (
                Attach::SelfTasks(entry.tasks.iter().map(|fd| fd.as_raw_fd()).collect()),
                None,
            ),
            AttachPath::SelfTasks
            | AttachPath::ParentProcs
            | AttachPath::Runtime
            | AttachPath::NoLimits => (Attach::ByParent(go), None),
        };
        if matches!(attach, Attach::ByParent(_)) {
            self.attach = AttachPath::ParentProcs;
        }
        (attach, clone_into)
    }
}

/// What the parent does between `clone` and the child's go-ahead: the id maps of a user
/// namespace, then the move into the cgroup, each when there is one.
type ParentHook<'h> = Box<dyn FnOnce(nix::unistd::Pid) -> Result<(), String> + 'h>;

/// What the parent starts for a rootless instance's network: the forwards, where the helpers'
/// files go, and where the running helpers are kept.
struct UserNetHook<'h> {
    net: crate::net::user::UserNet,
    dir: &'h std::path::Path,
    helpers: &'h mut Vec<crate::net::user::Helper>,
}

fn parent_hook<'h>(
    maps: Option<&'h IdMaps>,
    cgroup: Option<&'h Cgroup>,
    net: Option<UserNetHook<'h>>,
    go_write: std::os::fd::OwnedFd,
) -> ParentHook<'h> {
    Box::new(move |pid: nix::unistd::Pid| {
        // In a user namespace each stage has its own go-ahead, so the child's marks time each
        // stage alone; without one, a single go-ahead after the move. A failed stage closes
        // the pipe, and the child gives up.
        let go = || {
            let _ = nix::unistd::write(&go_write, &[1]);
        };
        if let Some(m) = maps {
            m.write(pid.as_raw())?;
            go();
        }
        if let Some(c) = cgroup {
            c.attach(pid.as_raw()).map_err(|e| crate::error_chain(&e))?;
            go();
        }
        if let Some(hook) = net {
            let started = crate::net::user::start(pid.as_raw(), hook.net, hook.dir)
                .map_err(|e| crate::error_chain(&e))?;
            hook.helpers.extend(started);
            go();
        }
        Ok(())
    })
}

impl Instance for BuiltinInstance<'_> {
    fn image_files(&self) -> Vec<std::path::PathBuf> {
        vec![self.settings.image.rootfs.clone()]
    }

    fn start(&mut self, spec: &Spec) -> Result<Started, EnvError> {
        let settings = self.settings;
        let cgroup = self.limited.then(|| self.cgroup_of(spec)).transpose()?;
        let layer = self.writes(spec)?;
        let entry = cgroup.as_ref().map(Cgroup::entry).transpose()?;
        let (go_read, go_write) = process::pipe()?;
        let (attach, clone_into) = self.way_in(entry.as_ref(), go_read.as_raw_fd());
        let by_parent = matches!(attach, Attach::ByParent(_) | Attach::MappedByParent { .. });
        let mut invocation = spec.invocation.clone();
        invocation.data_dir = match layer {
            Some(_) => vmbench_workload::catalogue::LAYER_DIR.into(),
            None => "/data".into(),
        };
        let mut steps = namespaces::setup_steps(&MountPlan {
            rootfs: &settings.image.rootfs,
            data_dir: spec.data_dir,
            hostname: HOSTNAME,
            // A user namespace may not mount cgroup v1, nor show limits it does not have; it
            // may mount its own cgroup namespace's v2 tree.
            cgroup_mounts: if self.maps.is_some() && self.delegated.is_none() {
                &[]
            } else {
                &settings.cgroup_mounts
            },
            attach,
            overlay: layer.as_ref().map(|l| &l.0),
        });
        let (netns, mut flags) = join_wired(spec, &mut steps)?;
        let mut helpers = Vec::new();
        let mut user_net = None;
        if self.maps.is_some() {
            flags |= nix::sched::CloneFlags::CLONE_NEWUSER;
            user_net =
                user_net_steps(spec, &mut steps, go_read.as_raw_fd()).map(|net| UserNetHook {
                    net,
                    dir: &settings.work_dir,
                    helpers: &mut helpers,
                });
        }
        let (output, output_write) = process::pipe()?;
        let env = [("PATH".into(), "/".into()), ("HOME".into(), "/".into())];
        let spawned = process::spawn(
            Program {
                exe: settings.image.workload_path(),
                args: &invocation.to_args(),
                env: Some(&env),
                steps,
                clone: CloneMode::Namespaces {
                    flags,
                    cgroup: clone_into,
                },
                after_clone: by_parent
                    .then(|| parent_hook(self.maps, cgroup.as_ref(), user_net, go_write)),
                input: None,
            },
            output_write,
        )?;
        drop(go_read);
        drop(netns);
        let cloned = spawned.cloned;
        let pid = spawned.pid.as_raw();
        let target = match &cgroup {
            Some(cgroup) => Target {
                cgroup_memory: cgroup.memory_file(),
                cgroup_memory_peak: cgroup.memory_peak_file(),
                cgroup_cpu: cgroup.cpu_file(),
                ..Target::process(pid)
            },
            None => Target::process(pid),
        };
        // Killing the container's PID 1 takes every process of its pid namespace with it.
        let mut started = Started::from_spawned(spawned, output.into(), target, false, Phase::Exec);
        started
            .phases
            .insert(Phase::Clone, cloned.as_nanos() as u64);
        self.cgroup = cgroup;
        self.helpers = helpers;
        self.layer = layer;
        Ok(started)
    }

    fn finish(&mut self, outcome: &mut Outcome) -> Result<(), EnvError> {
        // The network helpers and the writable layer go with their instance.
        self.helpers.clear();
        self.layer = None;
        outcome.io_path = self.io_path.take();
        outcome.cgroup_attach = Some(self.attach);
        let Some(cgroup) = self.cgroup.take() else {
            return Ok(());
        };
        let usage = cgroup.usage();
        outcome.exit.oom = usage.oom_kills > 0;
        outcome.cgroup = Some(usage);
        let removal = Instant::now();
        cgroup.remove()?;
        outcome.phases.insert(
            Phase::TeardownCgroupRemove,
            removal.elapsed().as_nanos() as u64,
        );
        Ok(())
    }
}

/// For a rootless instance wired for the network, its forwards; the child configures the
/// helpers' interfaces once the parent has started them (right after its id maps).
fn user_net_steps(
    spec: &Spec,
    steps: &mut Vec<crate::env::child::Step>,
    go: RawFd,
) -> Option<crate::net::user::UserNet> {
    use crate::env::child::{Mark, Step};
    use crate::net::user;
    let net = spec.net.and_then(|w| w.user)?;
    // After the maps and the cgroup, the helpers' own go-ahead, then their taps configured.
    let after = steps
        .iter()
        .rposition(|s| {
            matches!(
                s,
                Step::Mark(Mark::IdsMapped) | Step::Mark(Mark::CgroupAttached)
            )
        })
        .map_or(steps.len(), |i| i + 1);
    steps.splice(
        after..after,
        [
            Step::WaitForParent(go),
            Step::Mark(Mark::UserNetReady),
            Step::ConfigureInterface {
                name: user::SLIRP4NETNS_TAP,
                addr: user::SLIRP4NETNS_GUEST,
                prefix: 24,
            },
            Step::ConfigureInterface {
                name: user::PASTA_TAP,
                addr: user::PASTA_GUEST,
                prefix: 24,
            },
        ],
    );
    Some(net)
}

/// For a wired instance, the namespace vmbench made, for the child to join instead of a new
/// empty one: its descriptor (kept open until the clone) and the clone flags without NEWNET.
fn join_wired(
    spec: &Spec,
    steps: &mut Vec<crate::env::child::Step>,
) -> Result<(Option<std::fs::File>, nix::sched::CloneFlags), EnvError> {
    let Some(name) = spec.net.and_then(|w| w.netns.as_deref()) else {
        return Ok((None, CLONE_NAMESPACES));
    };
    let path = std::path::Path::new("/run/netns").join(name);
    let netns = std::fs::File::open(&path)
        .map_err(crate::error::io_at("open the network namespace", &path))?;
    // After the parent-death step, before anything else.
    steps.insert(1, crate::env::child::Step::JoinNetns(netns.as_raw_fd()));
    let mut flags = CLONE_NAMESPACES;
    flags.remove(nix::sched::CloneFlags::CLONE_NEWNET);
    Ok((Some(netns), flags))
}
