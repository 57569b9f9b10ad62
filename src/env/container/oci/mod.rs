//! OCI runtimes as comparators: `runc` and `crun` run the same image through a generated
//! bundle (`config.json`, typed in [`spec`]), with the same limits and the same mount table as
//! the builtin container; gVisor's `runsc` runs the same bundle in its sandbox ([`gvisor`]).
//!
//! crun 1.8 refuses hybrid cgroup hosts ("cgroups in hybrid mode not supported"); inside a
//! private mount namespace of the crun process only, an empty file is bind-mounted over the
//! unified tree's `cgroup.controllers` so crun sees a plain v1 host. The host is untouched.

pub mod gvisor;
mod instance;
pub mod spec;

use super::builtin::needs_root_and_cgroups;
use super::cgroup::Version;
use super::ContainerSettings;
use crate::env::process::Instance;
use crate::env::{Availability, EnvError, EnvKind, Environment, Footprint, Shared, Unavailable};
use crate::results::{GvisorPlatform, HostInfo, RuntimeFacts};
use crate::tool::{version_of, which};
use instance::OciInstance;
use std::sync::Arc;
use strum::VariantArray;

/// An OCI runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray)]
pub enum Runtime {
    /// runc, the reference runtime (Go).
    Runc,
    /// crun (C).
    Crun,
    /// gVisor's runsc (Go): the container's kernel is the Sentry, in user space.
    Runsc,
}

impl Runtime {
    /// Every runtime vmbench drives.
    pub const ALL: &'static [Runtime] = <Runtime as VariantArray>::VARIANTS;

    /// The runtime's program name.
    pub fn program(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
            Runtime::Runsc => "runsc",
        }
    }

    /// Options before the subcommand: runsc's network (none, as every container here) and
    /// platform (how the Sentry intercepts system calls).
    fn global_args(self, platform: Option<GvisorPlatform>) -> Vec<String> {
        match (self, platform) {
            (Runtime::Runsc, Some(platform)) => {
                vec!["--network=none".into(), format!("--platform={platform}")]
            }
            (Runtime::Runsc, None) => vec!["--network=none".into()],
            (Runtime::Runc | Runtime::Crun, _) => Vec::new(),
        }
    }

    /// The environment it runs.
    pub fn kind(self) -> EnvKind {
        match self {
            Runtime::Runc => EnvKind::ContainerRunc,
            Runtime::Crun => EnvKind::ContainerCrun,
            Runtime::Runsc => EnvKind::ContainerGvisor,
        }
    }
}

/// The same image run by an OCI runtime.
pub struct Oci {
    runtime: Runtime,
    settings: Option<Arc<ContainerSettings>>,
    /// runsc's platform, once prepared.
    platform: Option<GvisorPlatform>,
}

impl Oci {
    /// The environment of `runtime`, not yet prepared.
    pub fn new(runtime: Runtime) -> Oci {
        Oci {
            runtime,
            settings: None,
            platform: None,
        }
    }

    /// The environment of `runtime` with its settings already prepared.
    pub fn with(runtime: Runtime, settings: Arc<ContainerSettings>) -> Oci {
        Oci {
            runtime,
            settings: Some(settings),
            platform: None,
        }
    }
}

fn not_installed(program: &str) -> Unavailable {
    Unavailable::new(
        format!("{program} not found"),
        format!("apt-get install {program}"),
    )
}

impl Environment for Oci {
    fn kind(&self) -> EnvKind {
        self.runtime.kind()
    }

    fn availability(&self, host: &HostInfo) -> Availability {
        let program = self.runtime.program();
        let path = which(program).ok_or_else(|| not_installed(program))?;
        needs_root_and_cgroups(self.kind(), program, host)?;
        let version = host
            .runtimes
            .get(program)
            .map(RuntimeFacts::to_string)
            .or_else(|| version_of(&path))
            .unwrap_or_default();
        if self.runtime == Runtime::Runsc {
            gvisor::platforms(&path, host.accelerator.as_deref())
                .chosen
                .map_err(|why| {
                    Unavailable::new(why, "unset VMBENCH_RUNSC_PLATFORM, or set one runsc offers")
                })?;
        }
        Ok(format!("{} ({version})", path.display()))
    }

    fn prepare(&mut self, shared: &mut Shared) -> Result<Option<Footprint>, EnvError> {
        if self.runtime == Runtime::Runsc {
            let unavailable = |why| EnvError::Unavailable {
                env: self.kind(),
                why,
            };
            let runsc = which("runsc").ok_or_else(|| unavailable(not_installed("runsc")))?;
            let platform = gvisor::platforms(&runsc, shared.host.accelerator.as_deref())
                .chosen
                .map_err(|why| {
                    unavailable(Unavailable::new(
                        why,
                        "unset VMBENCH_RUNSC_PLATFORM, or set one runsc offers",
                    ))
                })?;
            self.platform = Some(platform);
        }
        let settings = shared.container()?;
        super::cgroup::prepare_root_parent(&settings.layout)?;
        let footprint = settings.image.footprint();
        self.settings = Some(settings);
        Ok(Some(footprint))
    }

    fn instance(&self) -> Result<Box<dyn Instance + '_>, EnvError> {
        let settings = self
            .settings
            .as_deref()
            .ok_or(EnvError::NotPrepared(self.kind()))?;
        let runtime = which(self.runtime.program()).ok_or_else(|| EnvError::Unavailable {
            env: self.kind(),
            why: not_installed(self.runtime.program()),
        })?;
        Ok(Box::new(OciInstance::new(
            runtime,
            self.runtime.global_args(self.platform),
            self.runtime == Runtime::Runsc,
            self.platform == Some(GvisorPlatform::Ptrace),
            self.runtime == Runtime::Crun && settings.layout.version == Version::Hybrid,
            settings,
        )))
    }
}

/// Records the runtimes found in the host facts.
pub fn record_runtimes(host: &mut HostInfo) {
    for runtime in Runtime::ALL {
        let name = runtime.program();
        let Some(path) = which(name) else { continue };
        let Some(version) = version_of(&path) else {
            continue;
        };
        let gvisor = (*runtime == Runtime::Runsc)
            .then(|| gvisor::platforms(&path, host.accelerator.as_deref()));
        host.runtimes
            .insert(name.to_string(), RuntimeFacts { version, gvisor });
    }
}
