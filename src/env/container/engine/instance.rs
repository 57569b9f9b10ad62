//! One engine instance: the client's `run` timed from its exec to the workload's `ready`,
//! the engine's own record of when it created and started the container, the container's
//! cgroup and the engine's helpers' CPU, then `rm`.

use super::{query, EngineKind, Prepared};
use crate::collector::Target;
use crate::env::container::builtin::HOSTNAME;
use crate::env::container::cgroup::{File, PARENT};
use crate::env::process::{self, Instance, Program, Started};
use crate::env::{EnvError, Outcome, Spec};
use crate::ids::Phase;
use crate::results::AttachPath;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// One instance: the client's `run`, then `inspect` and `rm`.
pub(super) struct EngineInstance<'a> {
    engine: EngineKind,
    prepared: &'a Prepared,
    name: String,
    /// The wall-clock time of the launch, to place the engine's own timestamps.
    launched: Option<SystemTime>,
    created: bool,
    /// CPU time of the engine's own processes at the launch.
    engine_cpu: BTreeMap<i32, u64>,
    /// Whether the workload wrote to the container's own layer rather than the volume.
    wrote_layer: bool,
    /// The kernel log from the launch on: an OOM kill in the container's cgroup, where the
    /// engine does not record it (Podman 4.3's conmon looks for its note in the wrong folder).
    kernel_log: Option<crate::env::kmsg::Reader>,
}

impl<'a> EngineInstance<'a> {
    /// The instance `name` (`vmbench-<pid>-<n>`) of a prepared engine, not yet started.
    pub(super) fn new(
        engine: EngineKind,
        prepared: &'a Prepared,
        name: String,
    ) -> EngineInstance<'a> {
        EngineInstance {
            engine,
            prepared,
            name,
            launched: None,
            created: false,
            engine_cpu: BTreeMap::new(),
            wrote_layer: false,
            kernel_log: None,
        }
    }
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

    /// A file of the container's cgroup parent.
    fn cgroup_file(&self, file: File) -> PathBuf {
        self.prepared
            .settings
            .layout
            .file(&self.cgroup_parent().1, file)
    }

    /// The client's arguments for `run`.
    pub(super) fn run_args(&self, spec: &Spec) -> Vec<String> {
        let settings = &self.prepared.settings;
        let memory = format!("{}m", spec.memory_mib);
        let mut args: Vec<String> = self.prepared.global.clone();
        args.extend(
            [
                "run",
                // Standard input attached: vmbench holds its other end, and the workload
                // (--watch-stdin) ends when it closes, so a killed run leaves no container.
                "--interactive",
                "--name",
                &self.name,
                "--pull",
                "never",
                "--network",
                "none",
                "--hostname",
                HOSTNAME,
                "--tmpfs",
                "/tmp",
                "--volume",
                &format!("{}:/data", spec.data_dir.display()),
            ]
            .map(String::from),
        );
        if !spec.invocation.workload.writes_layer() {
            // A read-only root like the other containers', except where the workload writes
            // to the container's own layer.
            args.push("--read-only".into());
        }
        if self.prepared.unlimited {
            // Rootless without a delegated cgroup tree: no limits and no cgroup parent (said
            // in the engine's record); Podman would ignore the limits itself.
            args.extend(podman_ulimits(settings.pids_max));
            // No cgroup to find the workload in: Podman writes its pid here.
            args.extend(["--pidfile".into(), self.pidfile().display().to_string()]);
            return self.finish_args(args, spec);
        }
        args.extend(
            [
                "--memory",
                &memory,
                "--memory-swap",
                &memory,
                "--pids-limit",
                &settings.pids_max.to_string(),
                "--cgroup-parent",
                &self.cgroup_parent().0,
            ]
            .map(String::from),
        );
        if let Some(cpus) = spec.cpus {
            args.extend([
                "--cpuset-cpus".into(),
                crate::env::container::cgroup::cpu_list(cpus),
            ]);
        }
        if let Some(quota) = spec.cpu_quota {
            args.extend(["--cpus".into(), quota.to_string()]);
        }
        if self.engine == EngineKind::Podman {
            args.extend(podman_ulimits(settings.pids_max));
        }
        self.finish_args(args, spec)
    }

    /// The image and the workload's own arguments, after the client's options.
    fn finish_args(&self, mut args: Vec<String>, spec: &Spec) -> Vec<String> {
        let mut invocation = spec.invocation.clone();
        invocation.data_dir = if spec.invocation.workload.writes_layer() {
            vmbench_workload::catalogue::LAYER_DIR.into()
        } else {
            "/data".into()
        };
        args.push(self.prepared.tag.clone());
        args.push(self.prepared.settings.image.workload_path().to_string());
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

    /// Where Podman writes the workload's pid when there is no cgroup to find it in.
    fn pidfile(&self) -> PathBuf {
        self.prepared
            .settings
            .work_dir
            .join(format!("{}.pid", self.name))
    }

    /// Removes the container and the cgroup parent the engine made for it.
    fn remove(&mut self) {
        let _ = std::fs::remove_file(self.pidfile());
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
                crate::env::container::cgroup::remove_tree(&dir, deadline);
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
            outcome.phases.insert(Phase::EngineCreated, ns);
        }
        if let Some(ns) = since_launch("/State/StartedAt") {
            outcome.phases.insert(Phase::RuntimeStarted, ns);
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
        self.wrote_layer = spec.invocation.workload.writes_layer();
        self.kernel_log = crate::env::kmsg::Reader::at_end();
        self.launched = Some(SystemTime::now());
        self.created = true;
        let mut program = Program::host(&exe, &args, None);
        // Podman's conmon drops an `oom` file where it runs when the kernel kills the
        // workload: the run's own folder, not the user's.
        program.steps.push(crate::env::child::Step::Chdir(
            std::ffi::CString::new(
                self.prepared
                    .settings
                    .work_dir
                    .as_os_str()
                    .as_encoded_bytes(),
            )
            .expect("paths have no NUL bytes"),
        ));
        let spawned = process::spawn(program, output_write)?;
        let target = if self.prepared.unlimited {
            Target {
                workload_in: Some(self.pidfile()),
                ..Target::process(spawned.pid.as_raw())
            }
        } else {
            Target {
                cgroup_memory: Some(self.cgroup_file(File::MemoryNow)),
                cgroup_memory_peak: Some(self.cgroup_file(File::MemoryPeak)),
                cgroup_cpu: Some(self.cgroup_file(File::Cpu)),
                workload_in: Some(self.cgroup_file(File::Procs)),
                ..Target::process(spawned.pid.as_raw())
            }
        };
        Ok(Started::from_spawned(
            spawned,
            output.into(),
            target,
            true,
            Phase::ClientExec,
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
        let path = self.cgroup_file(File::Cpu);
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
        if !self.prepared.unlimited {
            let parent = format!("/{}", self.cgroup_parent().1);
            let logged = self
                .kernel_log
                .take()
                .is_some_and(|mut log| log.oom_kills_under(&parent) > 0);
            outcome.exit.oom |= logged;
        }
        // The parent's CPU counter keeps the container's usage after its own cgroup is gone.
        let cpu_file = self.cgroup_file(File::Cpu);
        outcome.cgroup = Some(crate::results::CgroupUsage {
            cpu_ns: std::fs::read_to_string(cpu_file)
                .ok()
                .and_then(|t| crate::collector::cgroup_cpu_of(&t)),
            memory_bytes: None,
            memory_peak_bytes: crate::collector::summarise(&outcome.samples)
                .and_then(|s| s.peak_cgroup_memory_bytes),
            oom_kills: u64::from(outcome.exit.oom),
            nr_throttled: None,
            throttled_ns: None,
        });
        let removal = Instant::now();
        self.remove();
        outcome
            .phases
            .insert(Phase::TeardownEngineRm, removal.elapsed().as_nanos() as u64);
        outcome.io_path = Some(if self.wrote_layer {
            format!(
                "{} container's writable layer ({} storage driver)",
                self.engine.program(),
                self.prepared.storage_driver
            )
        } else {
            format!(
                "{} volume: bind mount of a host {} directory",
                self.engine.program(),
                crate::env::filesystem_of(&self.prepared.settings.work_dir)
            )
        });
        outcome.cgroup_attach = Some(AttachPath::Runtime);
        Ok(())
    }
}

impl Drop for EngineInstance<'_> {
    fn drop(&mut self) {
        self.remove();
    }
}
