//! vmbench's startup figures beside independent references, measured side by side in one run:
//!
//! - native `noop` against `hyperfine -N` of the same binary on the same CPU;
//! - the builtin container against crun (through vmbench) and against `hyperfine -N` of
//!   `unshare --pid --mount --net --uts --ipc --fork` of the same binary, back to back;
//! - the builtin container and crun interleaved as in the suite (other instances and a quiet
//!   spell between starts, when a cgroup v1 migration waits for an RCU grace period), with the
//!   builtin container's cgroup entry by the child itself against the parent migrating it;
//! - `container-docker` and `container-podman` against `hyperfine -N` of the `docker run --rm
//!   --network none IMAGE …` (and `podman run …`) a user would type, same image, same run;
//! - `container-gvisor` against `hyperfine -N` of `runsc --network=none run` of the same bundle
//!   (launch to exit on both sides), and to ready;
//! - `vm-tcg-snapshot`/`vm-kvm-snapshot` (restored from a snapshot) beside the same guest's
//!   cold boot, interleaved;
//! - `vm-tcg`/`vm-kvm` against `hyperfine -N` of the hand-tuned QEMU command from the host
//!   notes (same kernel, same initramfs; boot to power-off).
//!
//! `cargo bench --bench reference_commands` (needs hyperfine; skipped with the reason if
//! absent; VMBENCH_BENCH_REPS sets the repetitions). The network path has its own bench,
//! `network_reference`.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use vmbench::env::container::builtin::Builtin;
use vmbench::env::container::oci::{Oci, Runtime};
use vmbench::env::vm::Vm;
use vmbench::env::{self, Accel, EnvKind, Environment};
use vmbench::results::AttachPath;
use vmbench_workload::{Size, Workload};

/// Median in ms of a hyperfine run of `command` (no shell), pinned to `cpu`.
fn hyperfine(command: &str, runs: usize, warmup: usize, cpu: Option<usize>) -> Option<f64> {
    let out = tempfile::NamedTempFile::new().ok()?;
    let mut cmd = match cpu {
        Some(c) => {
            let mut t = Command::new("taskset");
            t.args(["-c", &c.to_string(), "hyperfine"]);
            t
        }
        None => Command::new("hyperfine"),
    };
    let status = cmd
        .args([
            "-N",
            "--style",
            "none",
            "--runs",
            &runs.to_string(),
            "--warmup",
            &warmup.to_string(),
            "--export-json",
        ])
        .arg(out.path())
        .arg(command)
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path()).ok()?).ok()?;
    json["results"][0]["median"].as_f64().map(|s| s * 1e3)
}

fn startups(
    env: &dyn Environment,
    reps: usize,
    cpus: Option<&[usize]>,
    binary: &Path,
    data: &Path,
) -> Vec<f64> {
    (0..reps)
        .filter_map(|_| startup(env, cpus, binary, data))
        .collect()
}

fn startup(
    env: &dyn Environment,
    cpus: Option<&[usize]>,
    binary: &Path,
    data: &Path,
) -> Option<f64> {
    let spec = common::spec(binary, data, Workload::Noop, Size::Default, cpus, None);
    env.launch(&spec)
        .ok()?
        .observed
        .ready
        .map(|(at, _)| at.as_secs_f64() * 1e3)
}

/// Startups of each environment when they alternate with a quiet spell before each round,
/// as in the suite (where other workloads run between two container starts).
fn interleaved(
    envs: &[&dyn Environment],
    reps: usize,
    cpus: Option<&[usize]>,
    binary: &Path,
    data: &Path,
) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new(); envs.len()];
    for _ in 0..reps {
        std::thread::sleep(Duration::from_millis(300));
        for (i, env) in envs.iter().enumerate() {
            out[i].extend(startup(*env, cpus, binary, data));
        }
    }
    out
}

fn line(what: &str, ours: Option<f64>, reference: Option<f64>, target: &str) {
    let fmt = |v: Option<f64>| {
        v.map(|v| format!("{v:10.3} ms"))
            .unwrap_or_else(|| "       n/a   ".into())
    };
    let ratio = match (ours, reference) {
        (Some(a), Some(b)) => format!("{:.3}x", a / b),
        _ => "n/a".into(),
    };
    println!(
        "{what:<44} {}  {}  ratio {ratio:<8} target: {target}",
        fmt(ours),
        fmt(reference)
    );
}

fn main() {
    let reps: usize = std::env::var("VMBENCH_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let (binary, data) = common::binary_and_scratch();
    let cache = vmbench::cache::cache_dir();
    if vmbench::tool::which("hyperfine").is_none() {
        println!("skip reference_commands: hyperfine not installed (apt-get install hyperfine)");
        return;
    }
    let cpu = common::workload_cpu();
    let cpus = cpu.map(|c| vec![c]);
    let cpus = cpus.as_deref();
    let mut host = vmbench::session::host_facts();
    if let Some(c) = cpu {
        vmbench::pinning::move_harness_off(&[c]);
    }
    let bin = binary.path.display().to_string();
    let med = |xs: &[f64]| vmbench::stats::median(xs);
    println!("startup medians, {reps} runs each, workload on CPU {cpu:?}:  vmbench | reference");

    let native = med(&startups(
        &env::native::Native,
        reps,
        cpus,
        &binary.path,
        data.path(),
    ));
    let hf_native = hyperfine(&format!("{bin} --workload noop"), reps.max(50), 10, cpu);
    line(
        "native noop vs hyperfine -N (same binary)",
        native,
        hf_native,
        "within 20%",
    );

    match env::container::prepare(Default::default(), &binary, &cache, data.path()) {
        Ok(settings) if env::availability(EnvKind::Container, &host).is_ok() => {
            containers(settings, &host, reps, cpus, &binary.path, data.path(), cpu);
        }
        _ => println!("skip container: not root or no cgroups"),
    }

    engines(&binary, reps, cpus, data.path(), cpu);

    let config = vmbench::config::RunConfig {
        workloads: vec![Workload::Noop],
        data_dir: data.path().to_path_buf(),
        ..Default::default()
    };
    match env::vm::prepare(&binary, &config, &cache, data.path(), &mut host) {
        Ok(vm) => vm_reference(Arc::new(vm), reps, cpus, &binary.path, data.path(), cpu),
        Err(e) => println!("skip vm: {}", vmbench::error_chain(&e)),
    }
}

fn containers(
    settings: env::container::ContainerSettings,
    host: &vmbench::results::HostInfo,
    reps: usize,
    cpus: Option<&[usize]>,
    binary: &Path,
    data: &Path,
    cpu: Option<usize>,
) {
    let bin = binary.display().to_string();
    let med = |xs: &[f64]| vmbench::stats::median(xs);
    let builtin = Builtin::with(Arc::new(settings.clone()));
    let container = med(&startups(&builtin, reps, cpus, binary, data));
    let unshare = hyperfine(
        &format!("unshare --pid --mount --net --uts --ipc --fork {bin} --workload noop"),
        reps.max(50),
        10,
        cpu,
    );
    line(
        "container noop vs hyperfine unshare",
        container,
        unshare,
        "within 1.5x, <= 3 ms",
    );
    if env::availability(EnvKind::ContainerCrun, host).is_err() {
        return;
    }
    let crun = Oci::with(Runtime::Crun, Arc::new(settings.clone()));
    line(
        "container noop vs container-crun noop",
        container,
        med(&startups(&crun, reps, cpus, binary, data)),
        "not slower",
    );
    gvisor(&settings, host, reps, cpus, binary, data, cpu);
    let native = env::native::Native;
    let by_parent = Builtin::with(Arc::new(env::container::ContainerSettings {
        attach: AttachPath::ParentProcs,
        ..settings.clone()
    }));
    let runs = interleaved(
        &[&native, &builtin, &by_parent, &crun],
        reps.min(20),
        cpus,
        binary,
        data,
    );
    println!(
        "interleaved with a 0.3 s quiet spell per round ({} rounds; builtin enters its cgroup by {:?}):",
        reps.min(20),
        settings.attach
    );
    line(
        "  container noop vs container-crun noop",
        med(&runs[1]),
        med(&runs[3]),
        "<= 4 ms and below crun",
    );
    line(
        "  container noop vs the parent migrating it",
        med(&runs[1]),
        med(&runs[2]),
        "faster",
    );
}

/// gVisor as vmbench starts it against `runsc --network=none run` of the same bundle, typed
/// as a user would and timed to its exit by hyperfine.
fn gvisor(
    settings: &env::container::ContainerSettings,
    host: &vmbench::results::HostInfo,
    reps: usize,
    cpus: Option<&[usize]>,
    binary: &Path,
    data: &Path,
    cpu: Option<usize>,
) {
    use vmbench::env::container::oci;
    let Some(runsc) = vmbench::tool::which("runsc") else {
        println!("skip container-gvisor: runsc not installed (apt-get install runsc)");
        return;
    };
    let mut env = Oci::new(Runtime::Runsc);
    let config = vmbench::config::RunConfig {
        workloads: vec![Workload::Noop],
        data_dir: data.to_path_buf(),
        ..Default::default()
    };
    let mut host = host.clone();
    let cache = vmbench::cache::cache_dir();
    let binary_info = vmbench::workload_bin::resolve(Some(binary), &cache).expect("binary");
    let mut shared = env::Shared::new(&config, &binary_info, cache, data.to_path_buf(), &mut host);
    if let Err(e) = env.prepare(&mut shared) {
        println!("skip container-gvisor: {}", vmbench::error_chain(&e));
        return;
    }
    let platform = oci::gvisor::platforms(&runsc, None)
        .chosen
        .unwrap_or(vmbench::results::GvisorPlatform::Ptrace);
    let reps = reps.min(20);
    let (mut ready, mut exit) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let spec = common::spec(binary, data, Workload::Noop, Size::Default, cpus, None);
        if let Ok(outcome) = env.launch(&spec) {
            ready.extend(outcome.observed.ready.map(|(at, _)| at.as_secs_f64() * 1e3));
            exit.extend(outcome.lifetime.map(|l| l.as_secs_f64() * 1e3));
        }
    }
    // The same bundle vmbench writes, run by hand.
    let bundle = tempfile::Builder::new()
        .prefix("gvisor-bundle-")
        .tempdir_in(data)
        .unwrap();
    let state = tempfile::Builder::new()
        .prefix("gvisor-state-")
        .tempdir_in(data)
        .unwrap();
    let spec = common::spec(binary, data, Workload::Noop, Size::Default, cpus, None);
    let mut invocation = spec.invocation.clone();
    invocation.data_dir = "/data".into();
    let id = format!("vmbench-{}-reference", std::process::id());
    let args = invocation.to_args();
    let program = oci::spec::Program {
        rootfs: &settings.image.rootfs,
        workload: settings.image.workload_path(),
        args: &args,
    };
    let bundle_config = oci::spec::config(
        &spec,
        program,
        &format!("/{}/{id}", vmbench::env::container::cgroup::PARENT),
        settings.pids_max * oci::gvisor::PTRACE_PIDS_FACTOR,
    )
    .expect("a spec");
    std::fs::write(
        bundle.path().join("config.json"),
        serde_json::to_vec(&bundle_config).unwrap(),
    )
    .unwrap();
    let typed = format!(
        "{} --network=none --platform={platform} --root {} run --bundle {} {id}",
        runsc.display(),
        state.path().display(),
        bundle.path().display()
    );
    let med = |xs: &[f64]| vmbench::stats::median(xs);
    let reference = hyperfine(&typed, reps, 2, cpu);
    line(
        "container-gvisor noop to exit vs runsc run",
        med(&exit),
        reference,
        "within 10%",
    );
    line(
        "container-gvisor noop to ready vs runsc run",
        med(&ready),
        reference,
        "within 10% (ready is before exit)",
    );
    let _ = Command::new(&runsc)
        .args([
            "--root",
            &state.path().display().to_string(),
            "delete",
            "--force",
            &id,
        ])
        .output();
    drop(env);
    vmbench::state::clean(false);
}

/// Docker and Podman as vmbench starts them, against the command a user types (`run --rm
/// --network none IMAGE`, timed to its exit by hyperfine) and against vmbench's own command
/// line run by hyperfine (launch to exit on both sides; the container removed between runs).
fn engines(
    binary: &vmbench::results::BinaryInfo,
    reps: usize,
    cpus: Option<&[usize]>,
    data: &Path,
    cpu: Option<usize>,
) {
    use vmbench::env::container::engine::{self as engine, Engine, EngineKind};
    let mut host = vmbench::session::host_facts();
    let config = vmbench::config::RunConfig {
        workloads: vec![Workload::Noop],
        data_dir: data.to_path_buf(),
        ..Default::default()
    };
    let mut shared = env::Shared::new(
        &config,
        binary,
        vmbench::cache::cache_dir(),
        data.to_path_buf(),
        &mut host,
    );
    let tag = format!("vmbench/minimal:{}", &binary.sha256[..16]);
    let workload = "/vmbench-workload --workload noop";
    let reps = reps.min(20);
    for kind in [EngineKind::Docker, EngineKind::Podman] {
        let mut env = Engine::new(kind);
        if let Err(why) = env.availability(shared.host) {
            println!("skip {}: {why}", env.kind());
            continue;
        }
        if let Err(e) = env.prepare(&mut shared) {
            println!("skip {}: {}", env.kind(), vmbench::error_chain(&e));
            continue;
        }
        let client = kind.program();
        let global = match kind {
            EngineKind::Docker => String::new(),
            EngineKind::Podman => engine::podman_global().join(" "),
        };
        let ulimits = match kind {
            EngineKind::Docker => String::new(),
            EngineKind::Podman => engine::podman_ulimits(1024).join(" "),
        };
        let typed = format!("{client} {global} run --rm --network none {ulimits} {tag} {workload}");
        let spec = common::spec(
            &binary.path,
            data,
            Workload::Noop,
            Size::Default,
            cpus,
            None,
        );
        let name = format!("vmbench-{}-reference", std::process::id());
        let same = env.command_line(&spec, &name).expect("prepared").join(" ");
        let remove = match kind {
            EngineKind::Docker => format!("docker rm --force {name}"),
            EngineKind::Podman => format!("podman {global} rm --force --ignore {name}"),
        };
        let (mut ready, mut exit) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            if let Ok(outcome) = env.launch(&spec) {
                ready.extend(outcome.observed.ready.map(|(at, _)| at.as_secs_f64() * 1e3));
                exit.extend(outcome.lifetime.map(|l| l.as_secs_f64() * 1e3));
            }
        }
        let med = |xs: &[f64]| vmbench::stats::median(xs);
        line(
            &format!("{} noop to ready vs typed run --rm (to exit)", env.kind()),
            med(&ready),
            hyperfine(&typed, reps, 2, cpu),
            "within 10%",
        );
        line(
            &format!("{} noop to exit vs the same command line", env.kind()),
            med(&exit),
            hyperfine_prepared(&same, &remove, reps, cpu),
            "within 10%",
        );
        let _ = Command::new(client)
            .args(global.split_whitespace())
            .args(["rm", "--force", &name])
            .output();
        if let Ok(layout) = vmbench::env::container::cgroup::Layout::probe() {
            for mount in layout.v1_mounts.iter().chain(layout.unified.iter()) {
                let dir = mount
                    .join(vmbench::env::container::cgroup::PARENT)
                    .join(&name);
                if dir.is_dir() {
                    vmbench::env::container::cgroup::remove_tree(
                        &dir,
                        std::time::Instant::now() + Duration::from_secs(2),
                    );
                }
            }
        }
    }
}

/// Like [`hyperfine`], running `prepare` (untimed) before every run.
fn hyperfine_prepared(
    command: &str,
    prepare: &str,
    runs: usize,
    cpu: Option<usize>,
) -> Option<f64> {
    let out = tempfile::NamedTempFile::new().ok()?;
    let mut cmd = Command::new("taskset");
    cmd.args([
        "-c",
        &cpu.map_or("0".into(), |c| c.to_string()),
        "hyperfine",
    ]);
    if cpu.is_none() {
        cmd = Command::new("hyperfine");
    }
    let status = cmd
        .args([
            "-N",
            "--style",
            "none",
            "--runs",
            &runs.to_string(),
            "--prepare",
            prepare,
            "--export-json",
        ])
        .arg(out.path())
        .arg(command)
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path()).ok()?).ok()?;
    json["results"][0]["median"].as_f64().map(|s| s * 1e3)
}

fn vm_reference(
    vm: Arc<env::vm::VmSettings>,
    reps: usize,
    cpus: Option<&[usize]>,
    binary: &Path,
    data: &Path,
    cpu: Option<usize>,
) {
    let accel = if vm.kvm.is_ok() {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    let env = Vm::with(accel, vm.clone());
    let ours = vmbench::stats::median(&startups(&env, (reps / 3).max(5), cpus, binary, data));
    let plan = vmbench_workload::agent::Plan {
        args: vec!["--workload".into(), "noop".into()],
        ..Default::default()
    };
    let accel_args = match accel {
        Accel::Kvm => "-accel kvm -cpu host",
        Accel::Tcg => "-accel tcg",
    };
    let cmdline = env::vm::qemu::kernel_cmdline(vm.tsc_khz, &plan.to_cmdline());
    // hyperfine -N splits on spaces, so the command line goes through a small script.
    let script = data.join("hand-tuned-qemu.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {} -M microvm,x-option-roms=off {accel_args} -m 512M -smp 1 -nodefaults -no-user-config -nographic -serial stdio -no-reboot -kernel {} -initrd {} -append '{cmdline}' >/dev/null\n",
            vm.qemu.display(),
            vm.kernel.image.display(),
            vm.initramfs.display()
        ),
    )
    .expect("write script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let reference = hyperfine(&script.display().to_string(), (reps / 3).max(5), 1, cpu);
    line(
        &format!(
            "{} noop (to ready) vs hand-tuned qemu (to exit)",
            env.kind()
        ),
        ours,
        reference,
        "within 10%",
    );
    // The same guest restored from a snapshot, beside its cold boot, in the same run.
    let binary_info =
        vmbench::workload_bin::resolve(Some(binary), &vmbench::cache::cache_dir()).expect("binary");
    let restoring = common::prepared(
        &[env.kind().snapshot_of()],
        &[Workload::Noop],
        &binary_info,
        data,
    );
    if let Some(restored) = restoring.first() {
        let n = (reps / 3).max(5);
        let runs = interleaved(&[&env, restored.as_ref()], n, cpus, binary, data);
        line(
            &format!("{} noop vs {} cold boot", restored.kind(), env.kind()),
            vmbench::stats::median(&runs[1]),
            vmbench::stats::median(&runs[0]),
            "<= 250 ms and <= 0.2x",
        );
    }
}
