//! Shared helpers for integration tests: capability checks that skip visibly, or fail when
//! `VMBENCH_REQUIRE_ALL=1` (set by CI) says every capability must be present.

#![allow(dead_code)]

use std::path::PathBuf;

/// Whether CI demands every capability.
pub fn require_all() -> bool {
    std::env::var("VMBENCH_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Returns true when the capability is there; otherwise prints a SKIP line (or panics in CI).
pub fn capability(test: &str, present: bool, missing: &str) -> bool {
    if present {
        return true;
    }
    if require_all() {
        panic!("{test}: required capability missing: {missing} (VMBENCH_REQUIRE_ALL=1)");
    }
    eprintln!("SKIP {test}: {missing}");
    println!("SKIP {test}: {missing}");
    false
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A scratch directory removed at the end of the test.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("vmbench-test-")
        .tempdir()
        .unwrap()
}

/// The vmbench binary under test.
pub fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("vmbench")
}

/// The vmbench binary under test, to run to its end and check (`assert_cmd`), with the tests'
/// shared cache.
pub fn vmbench() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(binary());
    cmd.env("VMBENCH_CACHE", cache_dir());
    cmd
}

/// The vmbench binary under test as a process to start, signal and wait for, with the tests'
/// shared cache, its standard output discarded and its standard error kept.
pub fn process() -> std::process::Command {
    let mut cmd = std::process::Command::new(binary());
    cmd.env("VMBENCH_CACHE", cache_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// Runs `vmbench COMMAND ARGS --out OUT` to its end: its pid and its output (stderr kept).
pub fn run_to_end(
    command: &str,
    args: &[&str],
    out: &std::path::Path,
) -> (u32, std::process::Output) {
    let child = process()
        .arg(command)
        .args(args)
        .arg("--out")
        .arg(out)
        .spawn()
        .unwrap();
    let pid = child.id();
    (pid, child.wait_with_output().unwrap())
}

/// Waits for `child`, reading its peak resident memory (`VmHWM`) every few milliseconds until
/// it ends: its exit status and the last peak seen. (`wait4`'s peak is useless here: a child
/// started by vfork inherits its parent's peak when it execs.)
pub fn wait_with_peak(child: &mut std::process::Child) -> (std::process::ExitStatus, u64) {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            if let Some(kib) = hwm {
                peak = peak.max(kib * 1024);
            }
        }
        if let Some(exit) = child.try_wait().unwrap() {
            return (exit, peak);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Whether the tests run as root; otherwise a SKIP (or, in CI, a failure) saying what needs it.
pub fn root(test: &str, what: &str) -> bool {
    capability(test, is_root(), &format!("{what} needs root"))
}

/// A cache shared by the tests of one build.
pub fn cache_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmbench-cache");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A folder for the temporary files of environments the tests prepare (OCI bundles, VM
/// disks), under cargo's per-target scratch space.
pub fn work_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmbench-work");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The embedded workload binary, extracted.
pub fn workload_binary() -> vmbench::results::BinaryInfo {
    vmbench::workload_bin::resolve(None, &cache_dir()).unwrap()
}

/// The environment of `kind`, prepared as a run would prepare it (every workload planned, so a
/// VM gets its data disk).
pub fn prepared(kind: vmbench::env::EnvKind) -> Box<dyn vmbench::env::Environment> {
    let binary = workload_binary();
    let config = vmbench::config::RunConfig {
        envs: vec![kind],
        workloads: vmbench_workload::Workload::ALL.to_vec(),
        ..Default::default()
    };
    let mut host = vmbench::session::host_facts();
    let mut shared =
        vmbench::env::Shared::new(&config, &binary, cache_dir(), work_dir(), &mut host);
    vmbench::env::prepare_one(kind, &mut shared).unwrap().0
}

/// A spec for one instance of `workload` (small size), with a deliberate fault if given.
pub fn spec<'a>(
    binary: &'a std::path::Path,
    data: &'a std::path::Path,
    workload: vmbench_workload::Workload,
    fault: Option<vmbench_workload::invocation::Fault>,
    memory_mib: u64,
    timeout: std::time::Duration,
) -> vmbench::env::Spec<'a> {
    vmbench::env::Spec {
        binary,
        invocation: vmbench_workload::Invocation {
            workload,
            size: vmbench_workload::Size::Small,
            runs: 1,
            data_dir: data.to_path_buf(),
            fault,
            identity: true,
            bind: vmbench_workload::default_bind(),
            watch_stdin: true,
        },
        cpus: None,
        memory_mib,
        cpu_quota: None,
        timeout,
        data_dir: data,
        sample_interval: Some(std::time::Duration::from_millis(10)),
        page_cache: Default::default(),
        net: None,
    }
}

/// Launches one instance through `env` and turns what the host saw into its trial record.
pub fn trial(
    env: &dyn vmbench::env::Environment,
    spec: &vmbench::env::Spec,
    sha256: &str,
) -> vmbench::results::Trial {
    let step = vmbench::plan::Step {
        workload: spec.invocation.workload,
        env: env.kind(),
        rep: 0,
        runs: 1,
        warmup: 0,
    };
    vmbench::runner::to_trial(&step, env.launch(spec), sha256, spec.timeout)
}

/// Whether a Docker daemon answers here.
pub fn docker_answers() -> bool {
    std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whose leftovers to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The run with this pid (a test's own process, or a vmbench it started).
    Run(u32),
    /// Any vmbench run (one whose pid the test does not know).
    Any,
}

impl Owner {
    /// The prefix of the names a run gives its cgroups and engine containers.
    fn prefix(self) -> String {
        match self {
            Owner::Run(pid) => format!("vmbench-{pid}-"),
            Owner::Any => "vmbench-".into(),
        }
    }
}

/// Directories under `dir`, `depth` levels down, whose name starts with `prefix`.
fn dirs_named(dir: &std::path::Path, depth: usize, prefix: &str, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if e.file_name().to_string_lossy().starts_with(prefix) {
            found.push(e.path().display().to_string());
        }
        if depth > 0 {
            dirs_named(&e.path(), depth - 1, prefix, found);
        }
    }
}

/// vmbench's processes that outlived their run: children of the run, QEMU orphans, workload
/// instances, gVisor's runsc processes (runsc, runsc-gofer, runsc-sandbox), each with its
/// command line.
pub fn processes_left(owner: Owner) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let after = stat.rsplit(')').next().unwrap_or("");
        let ppid = after.split_whitespace().nth(1).unwrap_or("");
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let line = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let program = line.split(' ').next().unwrap_or("");
        let runsc = program
            .rsplit('/')
            .next()
            .unwrap_or("")
            .starts_with("runsc");
        let child = matches!(owner, Owner::Run(pid) if ppid == pid.to_string());
        if child
            || (comm.starts_with("qemu-system") && ppid == "1")
            || comm.starts_with("vmbench-workloa")
            || runsc
        {
            found.push(format!(
                "process {} ({comm}: {})",
                e.file_name().to_string_lossy(),
                line.trim()
            ));
        }
    }
    found
}

/// Containers named like a run's in each engine that answers, and gVisor's sandboxes.
fn containers_left(owner: Owner) -> Vec<String> {
    let prefix = owner.prefix();
    let mut found = Vec::new();
    let listings: [(&str, &[&str]); 3] = [
        ("docker", &["ps", "--all", "--format", "{{.Names}}"]),
        ("podman", &["ps", "--all", "--format", "{{.Names}}"]),
        ("runsc", &["list", "-quiet"]),
    ];
    for (program, args) in listings {
        if vmbench::tool::which(program).is_none() {
            continue;
        }
        let Ok(out) = std::process::Command::new(program).args(args).output() else {
            continue;
        };
        found.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with(&prefix))
                .map(|l| format!("{program} container {l}")),
        );
    }
    found
}

/// Everything a run could have left: cgroups, work folders, network interfaces, namespaces
/// and NAT rules, processes, engine containers and gVisor sandboxes.
pub fn leftovers_of(owner: Owner) -> Vec<String> {
    let mut found = Vec::new();
    let layout = vmbench::env::container::cgroup::Layout::probe().unwrap();
    for mount in layout.v1_mounts.iter().chain(layout.unified.iter()) {
        dirs_named(mount, 5, &owner.prefix(), &mut found);
    }
    let work = match owner {
        Owner::Run(pid) => format!("vmbench-run-{pid}-"),
        Owner::Any => "vmbench-run-".into(),
    };
    for dir in ["/var/tmp", "/tmp"] {
        dirs_named(std::path::Path::new(dir), 0, &work, &mut found);
    }
    for left in vmbench::net::leftovers() {
        if owner == Owner::Any || owner == Owner::Run(left.owner as u32) {
            found.push(left.what);
        }
    }
    found.extend(processes_left(owner));
    found.extend(containers_left(owner));
    found
}

/// Everything a run with this pid could have left.
pub fn leftovers(pid: u32) -> Vec<String> {
    leftovers_of(Owner::Run(pid))
}

/// Leftovers once dying processes had up to five seconds to finish dying.
pub fn settled_leftovers(pid: u32) -> Vec<String> {
    settled_leftovers_of(Owner::Run(pid))
}

/// Leftovers of `owner` once dying processes had up to five seconds to finish dying.
pub fn settled_leftovers_of(owner: Owner) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let found = leftovers_of(owner);
        if found.is_empty() || start.elapsed() > std::time::Duration::from_secs(5) {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Renders results files with `vmbench compare` into `html` and returns the page.
pub fn rendered(files: &[&std::path::Path], html: &std::path::Path) -> String {
    let o = vmbench()
        .arg("compare")
        .args(files)
        .arg("--out")
        .arg(html)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(html).unwrap()
}
