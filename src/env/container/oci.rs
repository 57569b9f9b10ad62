//! OCI runtimes as comparators: `runc` and `crun` run the same image through a generated
//! bundle (`config.json`), with the same limits and mounts as the builtin container.
//!
//! crun 1.8 refuses hybrid cgroup hosts ("cgroups in hybrid mode not supported"); inside a
//! private mount namespace of the crun process only, an empty file is bind-mounted over the
//! unified tree's `cgroup.controllers` so crun sees a plain v1 host. The host is untouched.

use super::builtin::{instance_name, HOSTNAME};
use super::cgroup::Version;
use super::ContainerSettings;
use crate::env::{instance, EnvError, EnvKind, Outcome, Spec};
use crate::host::{version_of, which};
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The runtime program of an OCI environment.
pub fn program(kind: EnvKind) -> &'static str {
    match kind {
        EnvKind::ContainerCrun => "crun",
        _ => "runc",
    }
}

fn package_hint(kind: EnvKind) -> String {
    format!(
        "{} not found: fix: apt-get install {}",
        program(kind),
        program(kind)
    )
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
    let process_args: Vec<String> = std::iter::once(super::image::WORKLOAD_PATH.to_string())
        .chain(args.iter().cloned())
        .collect();
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
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"] },
            { "destination": "/data", "type": "bind", "source": spec.data_dir, "options": ["rbind", "rw"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": resources,
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }
            ],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// Runs one instance through runc or crun.
pub fn run(kind: EnvKind, spec: &Spec, settings: &ContainerSettings) -> Result<Outcome, EnvError> {
    let runtime = which(program(kind)).ok_or_else(|| EnvError::Unavailable {
        env: kind,
        reason: package_hint(kind),
    })?;
    let setup = |what: &str, e: std::io::Error| EnvError::Setup(format!("{what}: {e}"));
    let bundle = tempfile::Builder::new()
        .prefix("vmbench-oci-")
        .tempdir()
        .map_err(|e| setup("create the bundle directory", e))?;
    let state = tempfile::Builder::new()
        .prefix("vmbench-oci-state-")
        .tempdir()
        .map_err(|e| setup("create the runtime state directory", e))?;
    let id = instance_name();
    let cgroups_path = format!("/{}/{id}", super::cgroup::PARENT);
    let mut invocation = spec.invocation.clone();
    invocation.data_dir = "/data".into();
    let config = config(spec, settings, &invocation.to_args(), &cgroups_path);
    std::fs::write(
        bundle.path().join("config.json"),
        serde_json::to_vec_pretty(&config).expect("json"),
    )
    .map_err(|e| setup("write config.json", e))?;

    let (output, writer, writer_err) = crate::env::output_pipe()?;
    let mut cmd = Command::new(&runtime);
    cmd.arg("--root")
        .arg(state.path())
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_err)
        .process_group(0);
    let hide_unified = kind == EnvKind::ContainerCrun && settings.layout.version == Version::Hybrid;
    let empty = bundle.path().join("empty-controllers");
    if hide_unified {
        std::fs::write(&empty, "").map_err(|e| setup("write the empty controllers file", e))?;
        let unified = settings
            .layout
            .unified
            .clone()
            .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup/unified"));
        let target = unified.join("cgroup.controllers");
        let source = empty.clone();
        // SAFETY: unshare and mount are plain system calls, safe between fork and exec; they
        // change only the mount namespace of the runtime process about to be executed.
        unsafe {
            cmd.pre_exec(move || {
                use nix::mount::{mount, MsFlags};
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )?;
                mount(
                    Some(&source),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )?;
                Ok(())
            });
        }
    }
    let mut collector = crate::env::prepare_collector(spec);
    let t0 = Instant::now();
    let child = cmd.spawn().map_err(|source| EnvError::Spawn {
        program: runtime.display().to_string(),
        source,
    })?;
    drop(cmd);
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let memory_file = match settings.layout.v1.get("memory") {
        Some(mount) => mount
            .join(cgroups_path.trim_start_matches('/'))
            .join("memory.usage_in_bytes"),
        None => settings
            .layout
            .unified
            .clone()
            .unwrap_or_default()
            .join(cgroups_path.trim_start_matches('/'))
            .join("memory.current"),
    };
    crate::env::start_collector(
        &mut collector,
        crate::collector::Target {
            cgroup_memory: Some(memory_file),
            cgroup_cpu: None,
            ..crate::collector::Target::process(pgid.as_raw())
        },
        t0,
    );
    let runtime_for_kill = runtime.clone();
    let state_path = state.path().to_path_buf();
    let id_for_kill = id.clone();
    let mut kill = || {
        let _ = Command::new(&runtime_for_kill)
            .arg("--root")
            .arg(&state_path)
            .args(["kill", "--all", &id_for_kill, "KILL"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    };
    let observed = instance::watch(output, t0, spec.timeout, &mut kill);
    let mut sampled = Outcome::default();
    crate::env::finish_collector(collector, &mut sampled);
    let (status, rusage) = crate::env::reap(pgid).map_err(|source| EnvError::Sys {
        what: format!("wait for {} pid {pgid}", program(kind)),
        source,
    })?;
    let lifetime = t0.elapsed();
    let mut exit = crate::env::exit_info(status);
    exit.timed_out = observed.timed_out;
    // The runtime removes the container on exit; make sure, and drop any cgroup left behind.
    let _ = Command::new(&runtime)
        .arg("--root")
        .arg(state.path())
        .args(["delete", "--force", &id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    remove_leftover_cgroups(settings, &cgroups_path);
    let mut outcome = Outcome {
        samples: sampled.samples,
        collector_cost: sampled.collector_cost,
        observed,
        exit,
        lifetime: Some(lifetime),
        host_rusage: Some(rusage),
        io_path: Some(format!(
            "bind mount of a host {} directory",
            crate::env::filesystem_of(spec.data_dir)
        )),
        ..Outcome::default()
    };
    outcome.phases.insert(
        "teardown_runtime_delete".into(),
        t0.elapsed().saturating_sub(lifetime).as_nanos() as u64,
    );
    Ok(outcome)
}

/// Removes `cgroups_path` (and the shared parent when empty) from every hierarchy.
fn remove_leftover_cgroups(settings: &ContainerSettings, cgroups_path: &str) {
    let mut mounts: Vec<&Path> = settings
        .layout
        .v1_mounts
        .iter()
        .map(PathBuf::as_path)
        .collect();
    if let Some(u) = &settings.layout.unified {
        mounts.push(u);
    }
    for mount in mounts {
        let dir = mount.join(cgroups_path.trim_start_matches('/'));
        let _ = std::fs::remove_dir(&dir);
        if let Some(parent) = dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// Whether this runtime can run here.
pub fn availability(kind: EnvKind, host: &crate::host::HostInfo) -> Result<String, String> {
    let Some(path) = which(program(kind)) else {
        return Err(package_hint(kind));
    };
    if !host.root {
        return Err(format!(
            "{} needs root: fix: run vmbench as root (sudo)",
            program(kind)
        ));
    }
    let version = host
        .runtimes
        .get(program(kind))
        .cloned()
        .or_else(|| version_of(&path))
        .unwrap_or_default();
    Ok(format!("{} ({version})", path.display()))
}

/// Records the runtimes found in the host facts.
pub fn record_runtimes(host: &mut crate::host::HostInfo) {
    for name in ["runc", "crun"] {
        if let Some(version) = which(name).and_then(|p| version_of(&p)) {
            host.runtimes.insert(name.to_string(), version);
        }
    }
}
