//! The engines people type: Podman and Docker Engine run the same image, imported into their
//! own storage (`import` of the image's tar stream; no registry is involved, nothing is ever
//! pulled), started the way users start containers: the engine's command-line client, timed
//! from its exec to the workload's `ready`. The client is the truer measure of what a user
//! waits for than the API calls behind it; its JSON output (`--format json`) gives the
//! engine's facts, and `inspect` after the run splits the start into the engine's part
//! (container created) and the runtime's (process started).
//!
//! Limits are those of the other containers: pinned CPUs, memory = the VM's RAM with swap
//! capped, pids, `--network none`, read-only root, a tmpfs `/tmp`, the data folder bound at
//! `/data`. The container lives under a cgroup parent named like vmbench's own cgroups
//! (`vmbench/vmbench-<pid>-<n>`), so the collector reads its usage there and a dead run's
//! containers are recognisable by name.

mod clean;
mod import;
mod instance;

use super::builtin::needs_root_and_cgroups;
use super::cgroup::{Layout, Version};
use super::ContainerSettings;
use crate::env::process::Instance;
use crate::env::{
    Availability, EnvError, EnvKind, Environment, Footprint, Shared, Spec, Unavailable,
};
use crate::results::{EngineInfo, HostInfo};
use crate::tool::which;
pub use clean::remove_dead;
use import::{import, layer_dirs};
pub use instance::podman_ulimits;
use instance::EngineInstance;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// How long a query to an engine may take before it counts as not answering.
const QUERY_LIMIT: Duration = Duration::from_secs(20);

/// A container engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum EngineKind {
    /// Docker Engine: a client talking to the `dockerd` daemon (containerd, shim, runc).
    Docker,
    /// Podman: no daemon; the client runs conmon and an OCI runtime itself.
    Podman,
}

impl EngineKind {
    /// The client's program name, also the engine's name in records.
    pub fn program(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }

    fn kind(self) -> EnvKind {
        match self {
            EngineKind::Docker => EnvKind::ContainerDocker,
            EngineKind::Podman => EnvKind::ContainerPodman,
        }
    }

    fn package(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker.io",
            EngineKind::Podman => "podman",
        }
    }
}

/// Why an engine could not be asked, or could not take the image.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The client failed or did not answer.
    #[error(transparent)]
    Tool(#[from] crate::tool::ToolError),
    /// `info` did not print JSON.
    #[error("{engine} info gave no JSON")]
    Info {
        /// The engine.
        engine: &'static str,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// The image's tar stream could not be made.
    #[error("{what}: cannot run tar")]
    TarStart {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// tar failed while streaming the image.
    #[error("{what}: tar of {} failed", rootfs.display())]
    Tar {
        /// What was being done.
        what: String,
        /// The image's root.
        rootfs: PathBuf,
    },
    /// The import ran but the engine does not hold the image.
    #[error("{tag} is not in {engine} after its import")]
    NotImported {
        /// The image's tag.
        tag: String,
        /// The engine.
        engine: &'static str,
    },
}

/// The command that starts Docker's daemon where no service manager does.
pub const START_DOCKERD: &str = "scripts/start-dockerd (dockerd --bridge=none --iptables=false, logging to /var/log/vmbench-dockerd.log)";

/// The same image run by an engine.
pub struct Engine {
    engine: EngineKind,
    prepared: Option<Prepared>,
}

/// What every instance of an engine shares.
struct Prepared {
    settings: Arc<ContainerSettings>,
    /// The client, and the options given before its subcommand (Podman's runtime choice).
    client: PathBuf,
    global: Vec<String>,
    /// The imported image's tag, and the engine's folders holding its files.
    tag: String,
    layers: Vec<PathBuf>,
    /// Whether the engine's cgroups are systemd units.
    systemd: bool,
    /// Whether its containers run without cgroups (rootless, the tree not delegated).
    unlimited: bool,
    /// Its storage driver (`overlay2`, `overlay`, `vfs`...), which holds each container's layer.
    storage_driver: String,
}

impl Engine {
    /// The environment of `engine`, not yet prepared.
    pub fn new(engine: EngineKind) -> Engine {
        Engine {
            engine,
            prepared: None,
        }
    }
}

impl Environment for Engine {
    fn kind(&self) -> EnvKind {
        self.engine.kind()
    }

    fn availability(&self, host: &HostInfo) -> Availability {
        let program = self.engine.program();
        let client = which(program).ok_or_else(|| {
            Unavailable::new(
                format!("{program} not found"),
                format!("apt-get install {}", self.engine.package()),
            )
        })?;
        needs_root_and_cgroups(self.kind(), program, host)?;
        match self.engine {
            EngineKind::Docker => {
                let version = query(
                    &client,
                    &[],
                    &["version", "--format", "{{.Server.Version}}"],
                )
                .map_err(|e| {
                    Unavailable::new(
                        format!("the Docker daemon does not answer ({e})"),
                        format!("start it: {START_DOCKERD}"),
                    )
                })?;
                Ok(format!("{} (daemon {})", client.display(), version.trim()))
            }
            EngineKind::Podman => {
                let runtime =
                    podman_runtime().map_err(|(detail, fix)| Unavailable::new(detail, fix))?;
                let mode = if host.root {
                    ""
                } else {
                    "rootless: a user namespace and this user's own storage; "
                };
                Ok(format!("{} ({mode}runtime {runtime})", client.display()))
            }
        }
    }

    fn prepare(&mut self, shared: &mut Shared) -> Result<Option<Footprint>, EnvError> {
        let settings = shared.container()?;
        let program = self.engine.program();
        let client = which(program).ok_or_else(|| EnvError::Unavailable {
            env: self.kind(),
            why: Unavailable::new(
                format!("{program} not found"),
                format!("apt-get install {}", self.engine.package()),
            ),
        })?;
        let global = match self.engine {
            EngineKind::Docker => Vec::new(),
            EngineKind::Podman => podman_global(),
        };
        let info = engine_info(self.engine, &client, &global)?;
        let systemd = info.cgroup_driver == "systemd";
        let unlimited = info.no_limits.is_some();
        let storage_driver = info.storage_driver.clone();
        shared.host.engines.insert(program.to_string(), info);
        let image = import(self.engine, &client, &global, &settings)?;
        let layers = layer_dirs(&client, &global, &image.tag);
        if let Some(record) = shared.image.as_mut() {
            record.engines.insert(program.to_string(), image.clone());
        }
        let footprint = Footprint {
            bytes: image.size_bytes,
            what: format!(
                "{} image {} in {program}'s storage",
                settings.image.kind, image.tag
            ),
        };
        self.prepared = Some(Prepared {
            settings,
            client,
            global,
            tag: image.tag,
            layers,
            systemd,
            unlimited,
            storage_driver,
        });
        Ok(Some(footprint))
    }

    fn instance(&self) -> Result<Box<dyn Instance + '_>, EnvError> {
        let prepared = self
            .prepared
            .as_ref()
            .ok_or(EnvError::NotPrepared(self.kind()))?;
        Ok(Box::new(EngineInstance::new(
            self.engine,
            prepared,
            super::instance_name(),
        )))
    }
}

impl Engine {
    /// The client command line of one instance named `name` (`vmbench-<pid>-<n>`, so that a
    /// run's clean-up finds what it leaves), as vmbench runs it: for reference timings.
    pub fn command_line(&self, spec: &Spec, name: &str) -> Option<Vec<String>> {
        let prepared = self.prepared.as_ref()?;
        let instance = EngineInstance::new(self.engine, prepared, name.to_string());
        let mut line = vec![prepared.client.display().to_string()];
        line.extend(instance.run_args(spec));
        Some(line)
    }
}

/// Runs a query on an engine's client and returns its output.
fn query(
    client: &Path,
    global: &[String],
    args: &[&str],
) -> Result<String, crate::tool::ToolError> {
    let what = format!(
        "{} {}",
        client.display(),
        args.first().copied().unwrap_or("")
    );
    crate::tool::run_within(
        Command::new(client).args(global).args(args),
        &what,
        Some(QUERY_LIMIT),
    )
}

/// Whether this host mounts cgroups in the hybrid layout (v1 controllers beside a v2 tree).
fn hybrid_host() -> bool {
    Layout::probe().is_ok_and(|l| l.version == Version::Hybrid)
}

/// The OCI runtime Podman is to use here: crun (its default) refuses hybrid cgroup hosts, so
/// runc there; `Err` with the fix when the one needed is missing.
fn podman_runtime() -> Result<&'static str, (String, String)> {
    let hybrid = hybrid_host();
    let runtime = if hybrid { "runc" } else { "crun" };
    match which(runtime) {
        Some(_) => Ok(runtime),
        None if hybrid => Err((
            "podman's default runtime crun refuses hybrid cgroup hosts, and runc is not installed"
                .into(),
            "apt-get install runc".into(),
        )),
        None => Err((
            "crun not found (podman's runtime)".into(),
            "apt-get install crun".into(),
        )),
    }
}

/// Podman's options before its subcommand: the runtime, the cgroup manager where systemd
/// does not run, events to a file where journald does not.
pub fn podman_global() -> Vec<String> {
    let mut global = Vec::new();
    if let Ok(runtime) = podman_runtime() {
        global.extend(["--runtime".to_string(), runtime.to_string()]);
    }
    if !Path::new("/run/systemd/system").is_dir() {
        global
            .extend(["--cgroup-manager", "cgroupfs", "--events-backend", "file"].map(String::from));
    }
    global
}

/// The engine's facts: versions, drivers, runtime, default security options.
fn engine_info(
    engine: EngineKind,
    client: &Path,
    global: &[String],
) -> Result<EngineInfo, EngineError> {
    let client_version = crate::tool::version_of(client).unwrap_or_default();
    let client_label = format!("{} ({client_version})", client.display());
    let text = |v: &Value, path: &str| {
        v.pointer(path)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match engine {
        EngineKind::Docker => {
            let info: Value =
                serde_json::from_str(&query(client, global, &["info", "--format", "{{json .}}"])?)
                    .map_err(|source| EngineError::Info {
                        engine: "docker",
                        source,
                    })?;
            Ok(EngineInfo {
                client: client_label,
                version: text(&info, "/ServerVersion"),
                storage_driver: text(&info, "/Driver"),
                cgroup_driver: text(&info, "/CgroupDriver"),
                runtime: text(&info, "/DefaultRuntime"),
                rootless: false,
                no_limits: None,
                security: info
                    .pointer("/SecurityOptions")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        }
        EngineKind::Podman => {
            let info: Value =
                serde_json::from_str(&query(client, global, &["info", "--format", "json"])?)
                    .map_err(|source| EngineError::Info {
                        engine: "podman",
                        source,
                    })?;
            let runtime = global
                .iter()
                .position(|a| a == "--runtime")
                .and_then(|i| global.get(i + 1).cloned())
                .unwrap_or_else(|| text(&info, "/host/ociRuntime/name"));
            let mut security = Vec::new();
            if info.pointer("/host/security/seccompEnabled") == Some(&Value::Bool(true)) {
                security.push(format!(
                    "seccomp ({})",
                    text(&info, "/host/security/seccompProfilePath")
                ));
            }
            if info.pointer("/host/security/apparmorEnabled") == Some(&Value::Bool(true)) {
                security.push("apparmor".into());
            }
            let rootless = info.pointer("/host/security/rootless") == Some(&Value::Bool(true));
            Ok(EngineInfo {
                client: client_label,
                version: text(&info, "/version/Version"),
                storage_driver: text(&info, "/store/graphDriverName"),
                cgroup_driver: text(&info, "/host/cgroupManager"),
                runtime,
                security,
                rootless,
                // Podman's own word for it: a rootless container on cgroup v1 gets no limits.
                no_limits: (rootless && text(&info, "/host/cgroupVersion") != "v2")
                    .then(crate::env::container::userns::no_limits_reason),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_gets_this_process_limits_within_their_hard_values() {
        let args = podman_ulimits(1024);
        assert_eq!(args.len(), 4);
        assert_eq!(args[0], "--ulimit");
        let nofile = args[1].strip_prefix("nofile=").unwrap();
        let (soft, hard) = nofile.split_once(':').unwrap();
        let (soft, hard): (u64, u64) = (soft.parse().unwrap(), hard.parse().unwrap());
        let (_, own_hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert!(soft <= 1024 && soft > 0 && soft <= hard && hard == own_hard);
        assert!(args[3].starts_with("nproc=") && args[3].ends_with(":1024") || args[3].len() > 6);
    }
}
