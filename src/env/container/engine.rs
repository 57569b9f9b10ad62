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

use super::builtin::{needs_root_and_cgroups, HOSTNAME};
use super::cgroup::{Layout, Version, PARENT};
use super::ContainerSettings;
use crate::collector::Target;
use crate::env::process::{self, CloneMode, Instance, Program, Started};
use crate::env::{
    Availability, EnvError, EnvKind, Environment, Footprint, Outcome, Shared, Spec, Unavailable,
};
use crate::results::{AttachPath, EngineImage, EngineInfo, HostInfo};
use crate::tool::which;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long a query to an engine may take before it counts as not answering.
const QUERY_LIMIT: Duration = Duration::from_secs(20);

/// A container engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        needs_root_and_cgroups(program, host)?;
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
                Ok(format!("{} (runtime {runtime})", client.display()))
            }
        }
    }

    fn prepare(&mut self, shared: &mut Shared) -> Result<Option<Footprint>, EnvError> {
        let settings = shared.container()?;
        let program = self.engine.program();
        let client =
            which(program).ok_or_else(|| EnvError::Setup(format!("{program} not found")))?;
        let global = match self.engine {
            EngineKind::Docker => Vec::new(),
            EngineKind::Podman => podman_global(),
        };
        let info = engine_info(self.engine, &client, &global)?;
        let systemd = info.cgroup_driver == "systemd";
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
        });
        Ok(Some(footprint))
    }

    fn instance(&self) -> Result<Box<dyn Instance + '_>, EnvError> {
        let prepared = self
            .prepared
            .as_ref()
            .ok_or(EnvError::Setup(format!("{} was not prepared", self.kind())))?;
        Ok(Box::new(EngineInstance {
            engine: self.engine,
            prepared,
            name: super::instance_name(),
            launched: None,
            created: false,
            engine_cpu: BTreeMap::new(),
        }))
    }
}

impl Engine {
    /// The client command line of one instance named `name` (`vmbench-<pid>-<n>`, so that a
    /// run's clean-up finds what it leaves), as vmbench runs it: for reference timings.
    pub fn command_line(&self, spec: &Spec, name: &str) -> Option<Vec<String>> {
        let prepared = self.prepared.as_ref()?;
        let instance = EngineInstance {
            engine: self.engine,
            prepared,
            name: name.to_string(),
            launched: None,
            created: false,
            engine_cpu: BTreeMap::new(),
        };
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

fn setup(e: impl std::fmt::Display) -> EnvError {
    EnvError::Setup(e.to_string())
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
) -> Result<EngineInfo, EnvError> {
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
            let info: Value = serde_json::from_str(
                &query(client, global, &["info", "--format", "{{json .}}"]).map_err(setup)?,
            )
            .map_err(|e| setup(format!("docker info gave no JSON: {e}")))?;
            Ok(EngineInfo {
                client: client_label,
                version: text(&info, "/ServerVersion"),
                storage_driver: text(&info, "/Driver"),
                cgroup_driver: text(&info, "/CgroupDriver"),
                runtime: text(&info, "/DefaultRuntime"),
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
            let info: Value = serde_json::from_str(
                &query(client, global, &["info", "--format", "json"]).map_err(setup)?,
            )
            .map_err(|e| setup(format!("podman info gave no JSON: {e}")))?;
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
            Ok(EngineInfo {
                client: client_label,
                version: text(&info, "/version/Version"),
                storage_driver: text(&info, "/store/graphDriverName"),
                cgroup_driver: text(&info, "/host/cgroupManager"),
                runtime,
                security,
            })
        }
    }
}

/// The tag of the image for this binary: `vmbench/<image>:<binary hash prefix>`.
fn tag_of(settings: &ContainerSettings) -> String {
    let dir = settings
        .image
        .rootfs
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("vmbench/{}:{dir}", settings.image.kind)
}

/// Imports the image into the engine unless it holds it already (same id as recorded), and
/// removes the engine's older vmbench images of the same kind that nothing uses.
fn import(
    engine: EngineKind,
    client: &Path,
    global: &[String],
    settings: &ContainerSettings,
) -> Result<EngineImage, EnvError> {
    let tag = tag_of(settings);
    let folder = settings.image.rootfs.parent().expect("inside the cache");
    let record_path = folder.join(format!("{}.json", engine.program()));
    let recorded: Option<EngineImage> = std::fs::read(&record_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let present = image_facts(client, global, &tag);
    if let (Some(recorded), Some((id, _))) = (&recorded, &present) {
        if recorded.id == *id {
            return Ok(recorded.clone());
        }
    }
    let started = Instant::now();
    stream_import(engine, client, global, &settings.image.rootfs, &tag)?;
    let import_ms = started.elapsed().as_secs_f64() * 1e3;
    let (id, size_bytes) = image_facts(client, global, &tag).ok_or_else(|| {
        setup(format!(
            "{tag} is not in {} after its import",
            engine.program()
        ))
    })?;
    let image = EngineImage {
        tag,
        id,
        size_bytes,
        import_ms,
    };
    let _ = crate::atomic::write(&record_path, |w| {
        serde_json::to_writer_pretty(w, &image).map_err(std::io::Error::other)
    });
    remove_older(client, global, &image.tag);
    Ok(image)
}

/// Streams the image's root directory as a tar archive into `<client> import`.
fn stream_import(
    engine: EngineKind,
    client: &Path,
    global: &[String],
    rootfs: &Path,
    tag: &str,
) -> Result<(), EnvError> {
    let what = format!("import the image into {}", engine.program());
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(rootfs)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| setup(format!("{what}: cannot run tar: {e}")))?;
    let stream = tar.stdout.take().expect("piped");
    let result = crate::tool::run_fed(
        Command::new(client)
            .args(global)
            .args(["import", "-", tag])
            .stdin(stream),
        &what,
        Some(Duration::from_secs(600)),
    );
    let tar_status = tar.wait();
    result.map_err(setup)?;
    match tar_status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(setup(format!("{what}: tar of {} failed", rootfs.display()))),
    }
}

/// The id and size of an image the engine holds.
fn image_facts(client: &Path, global: &[String], tag: &str) -> Option<(String, u64)> {
    let out = query(
        client,
        global,
        &["image", "inspect", "--format", "{{.Id}} {{.Size}}", tag],
    )
    .ok()?;
    let mut fields = out.split_whitespace();
    Some((fields.next()?.to_string(), fields.next()?.parse().ok()?))
}

/// The engine's folders holding an image's files (overlay layers), for page-cache eviction.
fn layer_dirs(client: &Path, global: &[String], tag: &str) -> Vec<PathBuf> {
    let Ok(out) = query(
        client,
        global,
        &[
            "image",
            "inspect",
            "--format",
            "{{json .GraphDriver.Data}}",
            tag,
        ],
    ) else {
        return Vec::new();
    };
    let data: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    ["/UpperDir", "/LowerDir"]
        .iter()
        .filter_map(|k| data.pointer(k)?.as_str())
        .flat_map(|v| v.split(':'))
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .collect()
}

/// Removes the engine's other tags of the same vmbench image kind (built for older
/// binaries); one still used by a container stays.
fn remove_older(client: &Path, global: &[String], tag: &str) {
    let repository = tag.split(':').next().unwrap_or(tag);
    let Ok(out) = query(
        client,
        global,
        &["images", "--format", "{{.Repository}}:{{.Tag}}", repository],
    ) else {
        return;
    };
    for old in out
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != tag)
    {
        let old = old.trim_start_matches("localhost/");
        if old != tag {
            let _ = query(client, global, &["rmi", old]);
        }
    }
}

/// One instance: the client's `run`, then `inspect` and `rm`.
struct EngineInstance<'a> {
    engine: EngineKind,
    prepared: &'a Prepared,
    name: String,
    /// The wall-clock time of the launch, to place the engine's own timestamps.
    launched: Option<SystemTime>,
    created: bool,
    /// CPU time of the engine's own processes at the launch.
    engine_cpu: BTreeMap<i32, u64>,
}

/// Processes that work for an engine: its daemons and the per-container helpers.
const ENGINE_PROCESSES: [&str; 4] = ["dockerd", "containerd", "containerd-shim", "conmon"];

/// CPU time (ns) of every process working for an engine, by pid, with that of the children
/// it has reaped (the runtime processes a shim runs).
fn engine_cpu() -> BTreeMap<i32, u64> {
    let tick_ns = 1_000_000_000 / procfs::ticks_per_second();
    let Ok(all) = procfs::process::all_processes() else {
        return BTreeMap::new();
    };
    all.flatten()
        .filter_map(|p| {
            let stat = p.stat().ok()?;
            ENGINE_PROCESSES
                .iter()
                .any(|name| stat.comm.starts_with(name))
                .then(|| {
                    let children = (stat.cutime + stat.cstime).max(0) as u64;
                    (stat.pid, (stat.utime + stat.stime + children) * tick_ns)
                })
        })
        .collect()
}

impl EngineInstance<'_> {
    /// The cgroup parent given to the engine, and the folder (relative to a hierarchy's root)
    /// under which the container's cgroup appears.
    fn cgroup_parent(&self) -> (String, String) {
        if self.prepared.systemd {
            // A systemd slice: dashes nest (`vmbench-1-2.slice` lives in `vmbench.slice/
            // vmbench-1.slice/`).
            let slice = format!("{}.slice", self.name);
            let parts: Vec<&str> = self.name.split('-').collect();
            let path = (1..=parts.len())
                .map(|n| format!("{}.slice", parts[..n].join("-")))
                .collect::<Vec<_>>()
                .join("/");
            (slice, path)
        } else {
            let path = format!("{PARENT}/{}", self.name);
            (format!("/{path}"), path)
        }
    }

    /// A file of the container's cgroup parent: `v1` in the hierarchy of `controller` on v1
    /// and hybrid hosts, `v2` in the unified tree otherwise.
    fn cgroup_file(&self, controller: &str, v1: &str, v2: &str) -> PathBuf {
        let (_, rel) = self.cgroup_parent();
        let layout = &self.prepared.settings.layout;
        match (layout.v1.get(controller), layout.v1.contains_key("memory")) {
            (Some(mount), true) => mount.join(&rel).join(v1),
            _ => layout
                .unified
                .clone()
                .unwrap_or_default()
                .join(&rel)
                .join(v2),
        }
    }

    /// The client's arguments for `run`.
    fn run_args(&self, spec: &Spec) -> Vec<String> {
        let settings = &self.prepared.settings;
        let memory = format!("{}m", spec.memory_mib);
        let mut args: Vec<String> = self.prepared.global.clone();
        args.extend(
            [
                "run",
                "--name",
                &self.name,
                "--pull",
                "never",
                "--network",
                "none",
                "--hostname",
                HOSTNAME,
                "--memory",
                &memory,
                "--memory-swap",
                &memory,
                "--pids-limit",
                &settings.pids_max.to_string(),
                "--cgroup-parent",
                &self.cgroup_parent().0,
                "--read-only",
                "--tmpfs",
                "/tmp",
                "--volume",
                &format!("{}:/data", spec.data_dir.display()),
            ]
            .map(String::from),
        );
        if let Some(cpus) = spec.cpus {
            args.extend(["--cpuset-cpus".into(), super::cgroup::cpu_list(cpus)]);
        }
        if let Some(quota) = spec.cpu_quota {
            args.extend(["--cpus".into(), quota.to_string()]);
        }
        if self.engine == EngineKind::Podman {
            args.extend(podman_ulimits(settings.pids_max));
        }
        let mut invocation = spec.invocation.clone();
        invocation.data_dir = "/data".into();
        args.push(self.prepared.tag.clone());
        args.push(settings.image.workload_path().to_string());
        args.extend(invocation.to_args());
        args
    }

    /// The client with a subcommand about this instance, output discarded.
    fn client_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.prepared.client);
        cmd.args(&self.prepared.global)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Removes the container and the cgroup parent the engine made for it.
    fn remove(&mut self) {
        if self.created {
            let _ = self.client_command(&["rm", "--force", &self.name]).status();
            self.created = false;
        }
        let (_, rel) = self.cgroup_parent();
        let layout = &self.prepared.settings.layout;
        let deadline = Instant::now() + Duration::from_secs(2);
        for mount in layout.v1_mounts.iter().chain(layout.unified.iter()) {
            let dir = mount.join(&rel);
            if dir.is_dir() {
                super::cgroup::remove_tree(&dir, deadline);
            }
        }
    }

    /// Startup phases from the engine's own record: when it had created the container, and
    /// when the runtime had started its process, in nanoseconds since launch.
    fn engine_phases(&self, outcome: &mut Outcome) {
        let Some(launched) = self.launched else {
            return;
        };
        let Ok(out) = query(
            &self.prepared.client,
            &self.prepared.global,
            &["inspect", "--format", "{{json .}}", &self.name],
        ) else {
            return;
        };
        let parsed: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        let container = parsed.get(0).unwrap_or(&parsed);
        let since_launch = |path: &str| -> Option<u64> {
            let at =
                chrono::DateTime::parse_from_rfc3339(container.pointer(path)?.as_str()?).ok()?;
            let at = SystemTime::from(at);
            at.duration_since(launched)
                .ok()
                .map(|d| d.as_nanos() as u64)
        };
        if let Some(ns) = since_launch("/Created") {
            outcome.phases.insert(crate::ids::Phase::EngineCreated, ns);
        }
        if let Some(ns) = since_launch("/State/StartedAt") {
            outcome.phases.insert(crate::ids::Phase::RuntimeStarted, ns);
        }
        if container.pointer("/State/OOMKilled") == Some(&Value::Bool(true)) {
            outcome.exit.oom = true;
        }
    }
}

/// Podman's `--ulimit`s. Its defaults (unlimited files and processes) exceed the hard limits
/// where vmbench lacks CAP_SYS_RESOURCE, and the runtime then fails to start the container:
/// open files get this process's own hard limit (soft 1024, as in the other containers),
/// processes the container's pids limit (root in the container is not held to it anyway).
pub fn podman_ulimits(pids_max: u64) -> Vec<String> {
    use nix::sys::resource::{getrlimit, Resource};
    let hard_of = |r| getrlimit(r).map_or(u64::MAX, |(_, hard)| hard);
    let (files, procs) = (
        hard_of(Resource::RLIMIT_NOFILE),
        hard_of(Resource::RLIMIT_NPROC),
    );
    let nproc = pids_max.min(procs);
    vec![
        "--ulimit".to_string(),
        format!("nofile={}:{files}", files.min(1024)),
        "--ulimit".to_string(),
        format!("nproc={nproc}:{nproc}"),
    ]
}

impl Instance for EngineInstance<'_> {
    fn start(&mut self, spec: &Spec) -> Result<Started, EnvError> {
        let args = self.run_args(spec);
        let exe = self.prepared.client.display().to_string();
        let (output, output_write) = process::pipe()?;
        self.engine_cpu = engine_cpu();
        self.launched = Some(SystemTime::now());
        self.created = true;
        let spawned = process::spawn(
            Program {
                exe: &exe,
                args: &args,
                env: &process::host_env(),
                steps: process::host_child_steps(None),
                clone: CloneMode::Vfork,
                after_clone: None,
                input: None,
            },
            output_write,
        )?;
        let target = Target {
            cgroup_memory: Some(self.cgroup_file(
                "memory",
                "memory.usage_in_bytes",
                "memory.current",
            )),
            cgroup_cpu: Some(self.cgroup_file("cpuacct", "cpuacct.usage", "cpu.stat")),
            workload_in: Some(self.cgroup_file("memory", "cgroup.procs", "cgroup.procs")),
            ..Target::process(spawned.pid.as_raw())
        };
        Ok(Started::from_spawned(
            spawned,
            output.into(),
            target,
            true,
            crate::ids::Phase::ClientExec,
        ))
    }

    fn kill(&mut self, started: &Started) {
        let _ = self.client_command(&["kill", &self.name]).status();
        process::kill_started(started);
    }

    fn image_files(&self) -> Vec<PathBuf> {
        self.prepared.layers.clone()
    }

    /// The container's CPU (its cgroup parent) and what the engine's daemons and helpers used
    /// meanwhile: the instance's own work, not other programs' noise.
    fn cpu_outside_ns(&self) -> Option<u64> {
        let path = self.cgroup_file("cpuacct", "cpuacct.usage", "cpu.stat");
        let container = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| crate::collector::cgroup_cpu_of(&t))
            .unwrap_or(0);
        let engine: u64 = engine_cpu()
            .into_iter()
            .map(|(pid, ns)| ns.saturating_sub(self.engine_cpu.get(&pid).copied().unwrap_or(0)))
            .sum();
        Some(container + engine)
    }

    fn finish(&mut self, outcome: &mut Outcome) -> Result<(), EnvError> {
        // The client reports a container killed by signal N as exit status 128 + N.
        if let Some(code) = outcome.exit.code.filter(|c| (129..=192).contains(c)) {
            outcome.exit.signal = Some(code - 128);
            outcome.exit.code = None;
        }
        self.engine_phases(outcome);
        // The parent's CPU counter keeps the container's usage after its own cgroup is gone.
        let cpu_file = self.cgroup_file("cpuacct", "cpuacct.usage", "cpu.stat");
        outcome.cgroup = Some(crate::results::CgroupUsage {
            cpu_ns: std::fs::read_to_string(cpu_file)
                .ok()
                .and_then(|t| crate::collector::cgroup_cpu_of(&t)),
            memory_bytes: None,
            memory_peak_bytes: outcome
                .samples
                .iter()
                .filter_map(|s| s.cgroup_memory_bytes)
                .max(),
            oom_kills: u64::from(outcome.exit.oom),
            nr_throttled: None,
            throttled_ns: None,
        });
        let removal = Instant::now();
        self.remove();
        outcome.phases.insert(
            crate::ids::Phase::TeardownEngineRm,
            removal.elapsed().as_nanos() as u64,
        );
        outcome.io_path = Some(format!(
            "{} volume: bind mount of a host {} directory",
            self.engine.program(),
            crate::env::filesystem_of(&self.prepared.settings.work_dir)
        ));
        outcome.cgroup_attach = Some(AttachPath::Runtime);
        Ok(())
    }
}

impl Drop for EngineInstance<'_> {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Removes the containers of dead runs from every engine that answers; returns what went.
pub fn remove_dead(dry_run: bool) -> Vec<String> {
    let mut removed = Vec::new();
    for engine in [EngineKind::Docker, EngineKind::Podman] {
        let Some(client) = which(engine.program()) else {
            continue;
        };
        let global = match engine {
            EngineKind::Docker => Vec::new(),
            EngineKind::Podman => podman_global(),
        };
        let Ok(names) = query(
            &client,
            &global,
            &[
                "ps",
                "--all",
                "--filter",
                "name=vmbench-",
                "--format",
                "{{.Names}}",
            ],
        ) else {
            continue;
        };
        for name in names.lines().map(str::trim) {
            let Some(owner) = crate::owner::owner_of(name) else {
                continue;
            };
            if crate::owner::pid_alive(owner) {
                continue;
            }
            removed.push(format!(
                "{} container {name} of a dead run",
                engine.program()
            ));
            if !dry_run {
                let _ = query(&client, &global, &["rm", "--force", name]);
            }
        }
    }
    removed
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
