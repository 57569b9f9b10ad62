//! The OCI runtime spec (`config.json`) of one instance, typed with `oci-spec`: the same
//! image, limits and mount table as the builtin container, the same namespaces, and the
//! network namespace vmbench wired when the workload crosses the network.

use crate::env::container::builtin::HOSTNAME;
use crate::env::container::mounts::{Source, MOUNTS};
use crate::env::Spec;
use oci_spec::runtime::{
    Linux, LinuxBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespace,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount,
    MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, SpecBuilder,
    UserBuilder,
};
use std::path::{Path, PathBuf};

/// Why a spec could not be made (a value the spec's types refuse).
pub type SpecError = oci_spec::OciSpecError;

/// One mount of the shared table as the runtime spec writes it.
fn mount(
    entry: &crate::env::container::mounts::MountEntry,
    data_dir: &Path,
) -> Result<Mount, SpecError> {
    let (typ, source) = match entry.source {
        Source::Fs(fs) => (fs.to_string(), PathBuf::from(fs)),
        Source::DataDir => ("bind".to_string(), data_dir.to_path_buf()),
    };
    MountBuilder::default()
        .destination(entry.destination)
        .typ(typ)
        .source(source)
        .options(entry.oci_options())
        .build()
}

fn namespace(typ: LinuxNamespaceType, path: Option<PathBuf>) -> Result<LinuxNamespace, SpecError> {
    let builder = LinuxNamespaceBuilder::default().typ(typ);
    match path {
        Some(path) => builder.path(path).build(),
        None => builder.build(),
    }
}

/// The resources: memory (swap capped at the limit), pids, and the CPUs and quota asked for.
fn resources(spec: &Spec, pids_limit: u64) -> Result<oci_spec::runtime::LinuxResources, SpecError> {
    let bytes = (spec.memory_mib << 20) as i64;
    let memory = LinuxMemoryBuilder::default()
        .limit(bytes)
        .swap(bytes)
        .build()?;
    let pids = LinuxPidsBuilder::default()
        .limit(pids_limit as i64)
        .build()?;
    let mut cpu = LinuxCpuBuilder::default();
    if let Some(cpus) = spec.cpus {
        cpu = cpu
            .cpus(crate::env::container::cgroup::cpu_list(cpus))
            .mems("0");
    }
    if let Some(quota) = spec.cpu_quota {
        cpu = cpu
            .quota((quota * 100_000.0).round() as i64)
            .period(100_000u64);
    }
    let mut builder = LinuxResourcesBuilder::default().memory(memory).pids(pids);
    if spec.cpus.is_some() || spec.cpu_quota.is_some() {
        builder = builder.cpu(cpu.build()?);
    }
    builder.build()
}

/// What an instance runs: the image's root and the workload in it, with its arguments.
#[derive(Debug, Clone, Copy)]
pub struct Program<'a> {
    /// The image's root directory.
    pub rootfs: &'a Path,
    /// The workload's path inside the image.
    pub workload: &'a str,
    /// Its arguments.
    pub args: &'a [String],
}

/// The process: the workload as root of its namespaces, no new privileges, 1024 files.
fn process(program: Program) -> Result<oci_spec::runtime::Process, SpecError> {
    let args: Vec<String> = std::iter::once(program.workload.to_string())
        .chain(program.args.iter().cloned())
        .collect();
    let rlimit = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(1024u64)
        .soft(1024u64)
        .build()?;
    let mut process = ProcessBuilder::default()
        .terminal(false)
        .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
        .args(args)
        .env(vec!["PATH=/".to_string(), "HOME=/".to_string()])
        .cwd("/")
        .no_new_privileges(true)
        .rlimits(vec![rlimit])
        .build()?;
    // The builder starts from the runtime-spec defaults; these containers get no capability
    // set, no OOM score and no I/O priority beyond what the runtime itself gives, as before.
    process.set_capabilities(None);
    process.set_oom_score_adj(None);
    process.set_apparmor_profile(None);
    process.set_selinux_label(None);
    process.set_scheduler(None);
    process.set_io_priority(None);
    process.set_exec_cpu_affinity(None);
    Ok(process)
}

/// The shared mount table, then the cgroup tree read-only.
fn mounts(data_dir: &Path) -> Result<Vec<Mount>, SpecError> {
    let mut mounts: Vec<Mount> = MOUNTS
        .iter()
        .map(|m| mount(m, data_dir))
        .collect::<Result<_, _>>()?;
    let options = ["nosuid", "noexec", "nodev", "relatime", "ro"].map(String::from);
    mounts.push(
        MountBuilder::default()
            .destination("/sys/fs/cgroup")
            .typ("cgroup")
            .source("cgroup")
            .options(options.to_vec())
            .build()?,
    );
    Ok(mounts)
}

/// The Linux part: the cgroup and its limits, the namespaces, the masked paths.
fn linux(spec: &Spec, cgroups_path: &str, pids_limit: u64) -> Result<Linux, SpecError> {
    // A wired instance joins the namespace vmbench made; otherwise the runtime makes an empty one.
    let netns = spec
        .net
        .and_then(|w| w.netns.as_deref())
        .map(|name| PathBuf::from(format!("/run/netns/{name}")));
    let namespaces = vec![
        namespace(LinuxNamespaceType::Pid, None)?,
        namespace(LinuxNamespaceType::Network, netns)?,
        namespace(LinuxNamespaceType::Ipc, None)?,
        namespace(LinuxNamespaceType::Uts, None)?,
        namespace(LinuxNamespaceType::Mount, None)?,
        namespace(LinuxNamespaceType::Cgroup, None)?,
    ];
    let masked = ["/proc/kcore", "/proc/keys", "/proc/timer_list"].map(String::from);
    LinuxBuilder::default()
        .cgroups_path(PathBuf::from(cgroups_path))
        .resources(resources(spec, pids_limit)?)
        .namespaces(namespaces)
        .masked_paths(masked.to_vec())
        .readonly_paths(vec!["/proc/sys".into(), "/proc/sysrq-trigger".into()])
        .build()
}

/// The runtime spec of one instance running `program`, in the cgroup `cgroups_path`.
pub fn config(
    spec: &Spec,
    program: Program,
    cgroups_path: &str,
    pids_limit: u64,
) -> Result<oci_spec::runtime::Spec, SpecError> {
    let root = RootBuilder::default()
        .path(program.rootfs)
        .readonly(true)
        .build()?;
    let mut config = SpecBuilder::default()
        .version("1.0.2")
        .process(process(program)?)
        .root(root)
        .hostname(HOSTNAME)
        .mounts(mounts(spec.data_dir)?)
        .linux(linux(spec, cgroups_path, pids_limit)?)
        .build()?;
    config.set_annotations(None);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_spec_holds_the_limits_mounts_and_namespaces_of_every_container() {
        let invocation = vmbench_workload::Invocation {
            workload: vmbench_workload::Workload::CpuInt,
            size: vmbench_workload::Size::Small,
            runs: 1,
            data_dir: "/data".into(),
            fault: None,
            identity: true,
            bind: vmbench_workload::default_bind(),
            watch_stdin: false,
        };
        let spec = Spec {
            binary: Path::new("/bin/w"),
            invocation,
            cpus: Some(&[1]),
            memory_mib: 256,
            cpu_quota: Some(0.5),
            timeout: std::time::Duration::from_secs(9),
            data_dir: Path::new("/var/tmp/d"),
            sample_interval: None,
            page_cache: Default::default(),
            net: None,
        };
        let args = vec!["--workload".to_string(), "cpu-int".to_string()];
        let program = Program {
            rootfs: Path::new("/cache/img/rootfs"),
            workload: "/vmbench-workload",
            args: &args,
        };
        let config = config(&spec, program, "/vmbench/vmbench-1-2", 1024).unwrap();
        let mounts: Vec<serde_json::Value> = MOUNTS
            .iter()
            .map(|m| {
                let (typ, source) = match m.source {
                    Source::Fs(fs) => (fs.to_string(), fs.to_string()),
                    Source::DataDir => ("bind".into(), "/var/tmp/d".into()),
                };
                json!({ "destination": m.destination, "type": typ, "source": source, "options": m.oci_options() })
            })
            .chain([json!({ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] })])
            .collect();
        // The configuration the runtimes ran before the spec was typed, key for key.
        let expected = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": { "uid": 0, "gid": 0 },
                "args": ["/vmbench-workload", "--workload", "cpu-int"],
                "env": ["PATH=/", "HOME=/"],
                "cwd": "/",
                "noNewPrivileges": true,
                "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }]
            },
            "root": { "path": "/cache/img/rootfs", "readonly": true },
            "hostname": HOSTNAME,
            "mounts": mounts,
            "linux": {
                "cgroupsPath": "/vmbench/vmbench-1-2",
                "resources": {
                    "memory": { "limit": 256u64 << 20, "swap": 256u64 << 20 },
                    "pids": { "limit": 1024 },
                    "cpu": { "cpus": "1", "mems": "0", "quota": 50_000, "period": 100_000 }
                },
                "namespaces": [
                    { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                    { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }
                ],
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
                "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        assert_eq!(serde_json::to_value(&config).unwrap(), expected);
    }
}
