//! OCI runtimes as comparators: `runc` and `crun` run the same image through a generated
//! bundle (`config.json`), with the same limits and the same mount table as the builtin
//! container.
//!
//! crun 1.8 refuses hybrid cgroup hosts ("cgroups in hybrid mode not supported"); inside a
//! private mount namespace of the crun process only, an empty file is bind-mounted over the
//! unified tree's `cgroup.controllers` so crun sees a plain v1 host. The host is untouched.

use super::builtin::{needs_root_and_cgroups, HOSTNAME};
use super::cgroup::Version;
use super::mounts::MOUNTS;
use super::ContainerSettings;
use crate::collector::Target;
use crate::env::child::Step;
use crate::env::process::{self, CloneMode, Instance, Program, Started};
use crate::env::{
    Availability, EnvError, EnvKind, Environment, Footprint, Outcome, Shared, Spec, Unavailable,
};
use crate::results::{AttachPath, HostInfo};
use crate::tool::{version_of, which};
use nix::mount::MsFlags;
use serde_json::json;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

/// An OCI runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// runc, the reference runtime (Go).
    Runc,
    /// crun (C).
    Crun,
    /// gVisor's runsc (Go): the container's kernel is the Sentry, in user space.
    Runsc,
}

impl Runtime {
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
    fn global_args(self, platform: Option<&str>) -> Vec<String> {
        match (self, platform) {
            (Runtime::Runsc, Some(platform)) => {
                vec!["--network=none".into(), format!("--platform={platform}")]
            }
            (Runtime::Runsc, None) => vec!["--network=none".into()],
            _ => Vec::new(),
        }
    }

    fn kind(self) -> EnvKind {
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
    platform: Option<String>,
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

/// Where runsc writes a panic of its Sentry, in the instance's state directory.
const PANIC_LOG: &str = "panic.log";

/// How many host processes a runsc sandbox on ptrace may have per process the other
/// containers may have.
pub const PTRACE_PIDS_FACTOR: u64 = 8;

/// The reason of the first Go panic or fatal error in a runsc panic log.
fn sentry_panic_in(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix("panic: ")
            .or_else(|| l.strip_prefix("fatal error: "))
            .map(|why| why.chars().take(300).collect())
    })
}

/// The platforms an installed runsc offers, from its `flags` listing ("specifies which
/// platform to use: ptrace (default), kvm.").
pub fn gvisor_platforms(runsc: &Path) -> Vec<String> {
    // Asked once per runsc and process: availability, preparation and the host facts all
    // need it at start-up.
    static SEEN: std::sync::Mutex<Vec<(PathBuf, Vec<String>)>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, offered)) = seen.iter().find(|(p, _)| p == runsc) {
        return offered.clone();
    }
    let offered = ask_platforms(runsc);
    seen.push((runsc.to_path_buf(), offered.clone()));
    offered
}

fn ask_platforms(runsc: &Path) -> Vec<String> {
    let out = Command::new(runsc)
        .arg("flags")
        .stdin(Stdio::null())
        .output()
        .map(|o| [o.stdout, o.stderr].concat())
        .unwrap_or_default();
    parse_platforms(&String::from_utf8_lossy(&out))
}

fn parse_platforms(flags: &str) -> Vec<String> {
    let Some((_, list)) = flags.split_once("which platform to use:") else {
        return Vec::new();
    };
    let list = list.split(['.', '\n']).next().unwrap_or("");
    list.split(',')
        .map(|p| p.replace("(default)", "").trim().to_string())
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect()
}

/// The platform runsc intercepts system calls with: `VMBENCH_RUNSC_PLATFORM` when offered,
/// else `systrap` (runsc from 2023 on), else `kvm` where the host runs KVM guests, else
/// `ptrace`, which every runsc and host has.
pub fn gvisor_platform(offered: &[String], kvm_usable: bool) -> Result<String, String> {
    let has = |p: &str| offered.iter().any(|o| o == p);
    if let Some(asked) = std::env::var("VMBENCH_RUNSC_PLATFORM")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return if offered.is_empty() || has(&asked) {
            Ok(asked)
        } else {
            Err(format!(
                "VMBENCH_RUNSC_PLATFORM={asked}, which this runsc does not offer (it offers {})",
                offered.join(", ")
            ))
        };
    }
    Ok(if has("systrap") {
        "systrap"
    } else if has("kvm") && kvm_usable {
        "kvm"
    } else {
        "ptrace"
    }
    .to_string())
}

/// The platform runsc uses on this host, and the ones it offers.
fn runsc_platform(runsc: &Path, host: &HostInfo) -> (Result<String, String>, Vec<String>) {
    let offered = gvisor_platforms(runsc);
    let kvm = host.accelerator.as_deref() == Some("kvm");
    (gvisor_platform(&offered, kvm), offered)
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
        needs_root_and_cgroups(program, host)?;
        let version = host
            .runtimes
            .get(program)
            .cloned()
            .or_else(|| version_of(&path))
            .unwrap_or_default();
        if self.runtime == Runtime::Runsc {
            runsc_platform(&path, host).0.map_err(|why| {
                Unavailable::new(why, "unset VMBENCH_RUNSC_PLATFORM, or set one runsc offers")
            })?;
        }
        Ok(format!("{} ({version})", path.display()))
    }

    fn prepare(&mut self, shared: &mut Shared) -> Result<Option<Footprint>, EnvError> {
        if self.runtime == Runtime::Runsc {
            let runsc = which("runsc").ok_or_else(|| EnvError::Setup("runsc not found".into()))?;
            let platform = runsc_platform(&runsc, shared.host)
                .0
                .map_err(EnvError::Setup)?;
            self.platform = Some(platform);
        }
        let settings = shared.container()?;
        super::cgroup::prepare_root_parent(&settings.layout)
            .map_err(|e| EnvError::Setup(crate::error_chain(&e)))?;
        let footprint = settings.image.footprint();
        self.settings = Some(settings);
        Ok(Some(footprint))
    }

    fn instance(&self) -> Result<Box<dyn Instance + '_>, EnvError> {
        let settings = self
            .settings
            .as_deref()
            .ok_or(EnvError::Setup(format!("{} was not prepared", self.kind())))?;
        let runtime = which(self.runtime.program()).ok_or_else(|| EnvError::Unavailable {
            env: self.kind(),
            why: not_installed(self.runtime.program()),
        })?;
        Ok(Box::new(OciInstance {
            runtime,
            global: self.runtime.global_args(self.platform.as_deref()),
            sandboxed: self.runtime == Runtime::Runsc,
            ptrace: self.runtime == Runtime::Runsc && self.platform.as_deref() == Some("ptrace"),
            hide_unified: self.runtime == Runtime::Crun
                && settings.layout.version == Version::Hybrid,
            settings,
            id: super::instance_name(),
            dirs: None,
            io_path: None,
            kernel_log: None,
        }))
    }
}

/// The OCI runtime spec for one instance.
pub fn config(
    spec: &Spec,
    settings: &ContainerSettings,
    args: &[String],
    cgroups_path: &str,
) -> serde_json::Value {
    let mut resources = json!({
        "memory": { "limit": spec.memory_mib << 20, "swap": spec.memory_mib << 20 },
        "pids": { "limit": settings.pids_max },
    });
    if let Some(cpus) = spec.cpus {
        resources["cpu"] = json!({ "cpus": super::cgroup::cpu_list(cpus), "mems": "0" });
    }
    if let Some(cpus) = spec.cpu_quota {
        resources["cpu"]["quota"] = json!((cpus * 100_000.0).round() as i64);
        resources["cpu"]["period"] = json!(100_000);
    }
    let process_args: Vec<String> = std::iter::once(settings.image.workload_path().to_string())
        .chain(args.iter().cloned())
        .collect();
    // A wired instance joins the namespace vmbench made; otherwise the runtime makes an empty one.
    let network = match spec.net.and_then(|w| w.netns.as_deref()) {
        Some(name) => json!({ "type": "network", "path": format!("/run/netns/{name}") }),
        None => json!({ "type": "network" }),
    };
    let mut mounts: Vec<serde_json::Value> = MOUNTS.iter().map(|m| m.oci(spec.data_dir)).collect();
    mounts.push(json!({ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }));
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": process_args,
            "env": ["PATH=/", "HOME=/"],
            "cwd": "/",
            "noNewPrivileges": true,
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }]
        },
        "root": { "path": settings.image.rootfs, "readonly": true },
        "hostname": HOSTNAME,
        "mounts": mounts,
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": resources,
            "namespaces": [
                { "type": "pid" }, network, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }
            ],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// The bundle and runtime state directories of one instance, removed when dropped.
struct Dirs {
    bundle: tempfile::TempDir,
    state: tempfile::TempDir,
}

struct OciInstance<'a> {
    runtime: PathBuf,
    global: Vec<String>,
    sandboxed: bool,
    /// runsc on the ptrace platform: a host stub process per address space.
    ptrace: bool,
    hide_unified: bool,
    settings: &'a ContainerSettings,
    id: String,
    dirs: Option<Dirs>,
    io_path: Option<String>,
    kernel_log: Option<crate::env::kmsg::Reader>,
}

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("paths have no NUL bytes")
}

impl OciInstance<'_> {
    fn cgroups_path(&self) -> String {
        format!("/{}/{}", super::cgroup::PARENT, self.id)
    }

    /// The runtime with `--root` of this instance's state, for kill and delete.
    fn runtime_command(&self, args: &[&str]) -> Option<Command> {
        let dirs = self.dirs.as_ref()?;
        let mut cmd = Command::new(&self.runtime);
        cmd.args(&self.global)
            .arg("--root")
            .arg(dirs.state.path())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Some(cmd)
    }

    /// A file of the cgroup the runtime creates for the instance: `v1` in the hierarchy of
    /// `controller` on v1 and hybrid hosts, `v2` in the unified tree otherwise.
    fn cgroup_file(&self, controller: &str, v1: &str, v2: &str) -> PathBuf {
        let rel = self.cgroups_path();
        let rel = rel.trim_start_matches('/');
        let layout = &self.settings.layout;
        match (layout.v1.get(controller), layout.v1.contains_key("memory")) {
            (Some(mount), true) => mount.join(rel).join(v1),
            _ => layout
                .unified
                .clone()
                .unwrap_or_default()
                .join(rel)
                .join(v2),
        }
    }

    /// Child steps that hide the unified tree's controllers from crun on a hybrid host.
    fn hide_unified_steps(&self, bundle: &Path) -> Result<Vec<Step>, EnvError> {
        let empty = bundle.join("empty-controllers");
        std::fs::write(&empty, "")
            .map_err(|e| EnvError::Setup(format!("write {}: {e}", empty.display())))?;
        let unified = self
            .settings
            .layout
            .unified
            .clone()
            .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup/unified"));
        Ok(vec![
            Step::Unshare(nix::sched::CloneFlags::CLONE_NEWNS),
            Step::MakePrivate,
            Step::Mount {
                source: Some(c(&empty)),
                target: c(&unified.join("cgroup.controllers")),
                fstype: None,
                flags: MsFlags::MS_BIND,
                data: None,
            },
        ])
    }

    /// The first line of a panic gVisor's Sentry wrote to its panic log, if it panicked.
    fn sentry_panic(&self) -> Option<String> {
        let log = self.dirs.as_ref()?.state.path().join(PANIC_LOG);
        let text = std::fs::read_to_string(log).ok()?;
        sentry_panic_in(&text).map(|why| format!("gVisor's Sentry panicked: {why}"))
    }

    /// Removes the runtime's cgroup from every hierarchy if it left it behind (the shared
    /// parent stays: another instance or run may be using it).
    fn remove_leftover_cgroups(&self) {
        let layout = &self.settings.layout;
        let rel = self.cgroups_path();
        for mount in layout.v1_mounts.iter().chain(layout.unified.iter()) {
            let _ = std::fs::remove_dir(mount.join(rel.trim_start_matches('/')));
        }
    }
}

impl Instance for OciInstance<'_> {
    fn image_files(&self) -> Vec<PathBuf> {
        vec![self.settings.image.rootfs.clone()]
    }

    fn start(&mut self, spec: &Spec) -> Result<Started, EnvError> {
        let setup = |what: &str, e: std::io::Error| EnvError::Setup(format!("{what}: {e}"));
        let work = &self.settings.work_dir;
        let dirs = Dirs {
            bundle: tempfile::Builder::new()
                .prefix("oci-bundle-")
                .tempdir_in(work)
                .map_err(|e| setup("create the bundle directory", e))?,
            state: tempfile::Builder::new()
                .prefix("oci-state-")
                .tempdir_in(work)
                .map_err(|e| setup("create the runtime state directory", e))?,
        };
        self.io_path = Some(format!(
            "bind mount of a host {} directory",
            crate::env::filesystem_of(spec.data_dir)
        ));
        let mut invocation = spec.invocation.clone();
        invocation.data_dir = "/data".into();
        let mut config = config(
            spec,
            self.settings,
            &invocation.to_args(),
            &self.cgroups_path(),
        );
        if self.ptrace {
            // The host pids limit counts the sandbox's stubs, one per address space the
            // workload ever made, reclaimed late: 2 000 sequential spawns peaked at 1 707.
            config["linux"]["resources"]["pids"]["limit"] =
                json!(self.settings.pids_max * PTRACE_PIDS_FACTOR);
        }
        std::fs::write(
            dirs.bundle.path().join("config.json"),
            serde_json::to_vec_pretty(&config).expect("json"),
        )
        .map_err(|e| setup("write config.json", e))?;
        let mut steps = process::host_child_steps(None);
        if self.hide_unified {
            steps.extend(self.hide_unified_steps(dirs.bundle.path())?);
        }
        let mut args = self.global.clone();
        if self.sandboxed {
            args.push(format!(
                "--panic-log={}",
                dirs.state.path().join(PANIC_LOG).display()
            ));
        }
        args.extend([
            "--root".into(),
            dirs.state.path().display().to_string(),
            "run".into(),
            "--bundle".into(),
            dirs.bundle.path().display().to_string(),
            self.id.clone(),
        ]);
        let exe = self.runtime.display().to_string();
        self.dirs = Some(dirs);
        // The runtime removes its cgroup when the container ends, OOM count included: the
        // kernel's own log of the OOM kill, naming the cgroup, is read instead.
        self.kernel_log = crate::env::kmsg::Reader::at_end();
        let (output, output_write) = process::pipe()?;
        let spawned = process::spawn(
            Program {
                exe: &exe,
                args: &args,
                env: &process::host_env(),
                steps,
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
            // runsc's cgroup holds its gofer and sandbox, not the workload (it runs inside the
            // sandbox): its whole process tree is the instance, counted from the runtime down.
            workload_in: (!self.sandboxed)
                .then(|| self.cgroup_file("memory", "cgroup.procs", "cgroup.procs")),
            ..Target::process(spawned.pid.as_raw())
        };
        Ok(Started::from_spawned(
            spawned,
            output.into(),
            target,
            true,
            crate::ids::Phase::RuntimeExec,
        ))
    }

    fn kill(&mut self, started: &Started) {
        if let Some(mut cmd) = self.runtime_command(&["kill", "--all", &self.id, "KILL"]) {
            let _ = cmd.status();
        }
        process::kill_started(started);
    }

    fn finish(&mut self, outcome: &mut Outcome) -> Result<(), EnvError> {
        // A runtime reports a container killed by signal N as exit status 128 + N.
        if let Some(code) = outcome.exit.code.filter(|c| (129..=192).contains(c)) {
            outcome.exit.signal = Some(code - 128);
            outcome.exit.code = None;
        }
        let oom_kills = self
            .kernel_log
            .take()
            .map_or(0, |mut log| log.oom_kills_in(&self.cgroups_path()));
        outcome.exit.oom = oom_kills > 0;
        outcome.cgroup = Some(crate::results::CgroupUsage {
            cpu_ns: outcome.samples.iter().rev().find_map(|s| s.cgroup_cpu_ns),
            memory_bytes: None,
            memory_peak_bytes: outcome
                .samples
                .iter()
                .filter_map(|s| s.cgroup_memory_bytes)
                .max(),
            oom_kills,
            nr_throttled: None,
            throttled_ns: None,
        });
        if let Some(panic) = self.sentry_panic() {
            outcome.observed.errors.insert(0, panic);
        }
        let removal = Instant::now();
        // The runtime removes the container on exit; make sure, and drop any cgroup left.
        if let Some(mut cmd) = self.runtime_command(&["delete", "--force", &self.id]) {
            let _ = cmd.status();
        }
        self.remove_leftover_cgroups();
        self.dirs = None;
        outcome.phases.insert(
            crate::ids::Phase::TeardownRuntimeDelete,
            removal.elapsed().as_nanos() as u64,
        );
        outcome.io_path = self.io_path.take();
        outcome.cgroup_attach = Some(AttachPath::Runtime);
        Ok(())
    }
}

impl Drop for OciInstance<'_> {
    fn drop(&mut self) {
        if self.dirs.is_some() {
            if let Some(mut cmd) = self.runtime_command(&["delete", "--force", &self.id]) {
                let _ = cmd.status();
            }
            self.remove_leftover_cgroups();
        }
    }
}

/// Records the runtimes found in the host facts.
pub fn record_runtimes(host: &mut HostInfo) {
    for name in ["runc", "crun", "runsc"] {
        let Some(path) = which(name) else { continue };
        let Some(mut version) = version_of(&path) else {
            continue;
        };
        if name == "runsc" {
            let (platform, offered) = runsc_platform(&path, host);
            version = format!(
                "{version}; platform {} (offered: {})",
                platform.unwrap_or_else(|why| format!("none: {why}")),
                offered.join(", ")
            );
        }
        host.runtimes.insert(name.to_string(), version);
    }
}

#[cfg(test)]
mod platform_tests {
    use super::*;

    #[test]
    fn a_sentry_panic_is_read_from_its_log() {
        let log = "goroutine 1\npanic: error initializing first thread: resource temporarily unavailable\npanic({0xe7f040})\n";
        assert_eq!(
            sentry_panic_in(log).as_deref(),
            Some("error initializing first thread: resource temporarily unavailable")
        );
        assert_eq!(
            sentry_panic_in("fatal error: out of memory\n").as_deref(),
            Some("out of memory")
        );
        assert_eq!(sentry_panic_in("I1128 all well\n"), None);
    }

    #[test]
    fn platforms_are_read_from_runsc_flags() {
        let flags = "  -platform string\n    \tspecifies which platform to use: ptrace (default), kvm. (default \"ptrace\")\n";
        assert_eq!(parse_platforms(flags), vec!["ptrace", "kvm"]);
        let newer = "specifies which platform to use: systrap (default), ptrace, kvm.";
        assert_eq!(parse_platforms(newer), vec!["systrap", "ptrace", "kvm"]);
        assert!(parse_platforms("no such flag").is_empty());
    }

    #[test]
    fn the_fastest_platform_the_host_allows_is_chosen() {
        let offered = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        if std::env::var_os("VMBENCH_RUNSC_PLATFORM").is_some() {
            eprintln!("skipped: VMBENCH_RUNSC_PLATFORM is set");
            return;
        }
        let old = offered(&["ptrace", "kvm"]);
        assert_eq!(gvisor_platform(&old, false).unwrap(), "ptrace");
        assert_eq!(gvisor_platform(&old, true).unwrap(), "kvm");
        let new = offered(&["systrap", "ptrace", "kvm"]);
        assert_eq!(gvisor_platform(&new, false).unwrap(), "systrap");
    }
}
