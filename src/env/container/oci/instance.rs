//! One OCI instance: a bundle and a runtime state folder of its own, `<runtime> run` timed
//! from its exec, the runtime's cgroup sampled, its kernel log read for an OOM kill, and
//! `delete` with the cgroup removed at the end.

use super::gvisor::{sentry_panic_in, PANIC_LOG, PTRACE_PIDS_FACTOR};
use crate::collector::Target;
use crate::env::child::Step;
use crate::env::container::cgroup::File;
use crate::env::container::ContainerSettings;
use crate::env::process::{self, Instance, Program, Started};
use crate::env::{EnvError, Outcome, Spec};
use crate::error::io_at;
use crate::ids::Phase;
use crate::results::AttachPath;
use nix::mount::MsFlags;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The bundle and runtime state directories of one instance, removed when dropped.
struct Dirs {
    bundle: tempfile::TempDir,
    state: tempfile::TempDir,
}

pub(super) struct OciInstance<'a> {
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

impl<'a> OciInstance<'a> {
    /// An instance of `runtime` (with its `global` options) running the prepared image.
    pub(super) fn new(
        runtime: PathBuf,
        global: Vec<String>,
        sandboxed: bool,
        ptrace: bool,
        hide_unified: bool,
        settings: &'a ContainerSettings,
    ) -> OciInstance<'a> {
        OciInstance {
            runtime,
            global,
            sandboxed,
            ptrace,
            hide_unified,
            settings,
            id: crate::env::container::instance_name(),
            dirs: None,
            io_path: None,
            kernel_log: None,
        }
    }
}

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("paths have no NUL bytes")
}

impl OciInstance<'_> {
    /// The instance's bundle (its `config.json`) and runtime state folders.
    fn bundle(&mut self, spec: &Spec) -> Result<Dirs, EnvError> {
        let work = &self.settings.work_dir;
        let dirs = Dirs {
            bundle: tempfile::Builder::new()
                .prefix("oci-bundle-")
                .tempdir_in(work)
                .map_err(io_at("create the bundle directory in", work))?,
            state: tempfile::Builder::new()
                .prefix("oci-state-")
                .tempdir_in(work)
                .map_err(io_at("create the runtime state directory in", work))?,
        };
        self.io_path = Some(format!(
            "bind mount of a host {} directory",
            crate::env::filesystem_of(spec.data_dir)
        ));
        let mut invocation = spec.invocation.clone();
        invocation.data_dir = "/data".into();
        // On ptrace the host pids limit counts the sandbox's stubs, one per address space the
        // workload ever made, reclaimed late: 2 000 sequential spawns peaked at 1 707.
        let factor = if self.ptrace { PTRACE_PIDS_FACTOR } else { 1 };
        let args = invocation.to_args();
        let program = super::spec::Program {
            rootfs: &self.settings.image.rootfs,
            workload: self.settings.image.workload_path(),
            args: &args,
        };
        let config = super::spec::config(
            spec,
            program,
            &self.cgroups_path(),
            self.settings.pids_max * factor,
        )
        .map_err(|e| EnvError::Refused(format!("the OCI runtime spec: {e}")))?;
        let path = dirs.bundle.path().join("config.json");
        let text = serde_json::to_vec_pretty(&config).expect("a spec serialises");
        std::fs::write(&path, text).map_err(io_at("write", &path))?;
        Ok(dirs)
    }

    /// The runtime's arguments: its global options, then `run` of the bundle.
    fn run_args(&self, dirs: &Dirs) -> Vec<String> {
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
        args
    }

    fn cgroups_path(&self) -> String {
        format!("/{}/{}", crate::env::container::cgroup::PARENT, self.id)
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

    /// A file of the cgroup the runtime creates for the instance.
    fn cgroup_file(&self, file: File) -> PathBuf {
        self.settings.layout.file(&self.cgroups_path(), file)
    }

    /// Child steps that hide the unified tree's controllers from crun on a hybrid host.
    fn hide_unified_steps(&self, bundle: &Path) -> Result<Vec<Step>, EnvError> {
        let empty = bundle.join("empty-controllers");
        std::fs::write(&empty, "").map_err(io_at("write", &empty))?;
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
        let dirs = self.bundle(spec)?;
        let mut steps = process::host_child_steps(None);
        if self.hide_unified {
            steps.extend(self.hide_unified_steps(dirs.bundle.path())?);
        }
        let args = self.run_args(&dirs);
        let exe = self.runtime.display().to_string();
        self.dirs = Some(dirs);
        // The runtime removes its cgroup when the container ends, OOM count included: the
        // kernel's own log of the OOM kill, naming the cgroup, is read instead.
        self.kernel_log = crate::env::kmsg::Reader::at_end();
        let (output, output_write) = process::pipe()?;
        let spawned = process::spawn(
            Program {
                steps,
                ..Program::host(&exe, &args, None)
            },
            output_write,
        )?;
        let target = Target {
            cgroup_memory: Some(self.cgroup_file(File::MemoryNow)),
            cgroup_memory_peak: Some(self.cgroup_file(File::MemoryPeak)),
            cgroup_cpu: Some(self.cgroup_file(File::Cpu)),
            // runsc's cgroup holds its gofer and sandbox, not the workload (it runs inside the
            // sandbox): its whole process tree is the instance, counted from the runtime down.
            workload_in: (!self.sandboxed).then(|| self.cgroup_file(File::Procs)),
            ..Target::process(spawned.pid.as_raw())
        };
        Ok(Started::from_spawned(
            spawned,
            output.into(),
            target,
            true,
            Phase::RuntimeExec,
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
            memory_peak_bytes: crate::collector::summarise(&outcome.samples)
                .and_then(|s| s.peak_cgroup_memory_bytes),
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
            Phase::TeardownRuntimeDelete,
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
