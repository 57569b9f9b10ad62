//! vmbench's startup figures beside independent references, measured side by side in one run:
//!
//! - native `noop` against `hyperfine -N` of the same binary on the same CPU;
//! - the builtin container against crun (through vmbench) and against `hyperfine -N` of
//!   `unshare --pid --mount --net --uts --ipc --fork` of the same binary;
//! - `vm-tcg`/`vm-kvm` against `hyperfine -N` of the hand-tuned QEMU command from the host
//!   notes (same kernel, same initramfs; boot to power-off).
//!
//! `cargo bench --bench reference_commands` (needs hyperfine; skipped with the reason if absent;
//! VMBENCH_BENCH_REPS sets the repetitions).

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vmbench::env::{self, EnvKind, Spec};
use vmbench::runner::{launch, Mode, RunSettings};
use vmbench_workload::{Invocation, Size, Workload};

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
    kind: EnvKind,
    reps: usize,
    settings: &RunSettings,
    binary: &Path,
    data: &Path,
) -> Vec<f64> {
    let spec = Spec {
        binary,
        invocation: Invocation {
            workload: Workload::Noop,
            size: Size::Default,
            runs: 1,
            data_dir: data.to_path_buf(),
            fault: None,
            identity: true,
        },
        cpus: settings.cpus.as_deref(),
        memory_mib: settings.memory_mib,
        cpu_quota: None,
        timeout: settings.timeout,
        data_dir: data,
        sample_interval: None,
    };
    (0..reps)
        .filter_map(|_| {
            launch(kind, &spec, settings)
                .ok()?
                .observed
                .ready
                .map(|(at, _)| at.as_secs_f64() * 1e3)
        })
        .collect()
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
    if vmbench::host::which("hyperfine").is_none() {
        println!("skip reference_commands: hyperfine not installed (apt-get install hyperfine)");
        return;
    }
    let reps: usize = std::env::var("VMBENCH_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let cache = vmbench::cache::cache_dir();
    let binary = vmbench::workload_bin::resolve(None, &cache).expect("workload binary");
    let data = tempfile::Builder::new()
        .prefix("vmbench-bench-")
        .tempdir_in("/var/tmp")
        .expect("scratch");
    let mut host = vmbench::app::full_host_info();
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = (online >= 2).then_some(online - 1);
    let container = env::container::prepare(&binary, &cache).ok();
    let vm = env::vm::prepare(
        &binary,
        &[Workload::Noop],
        &cache,
        data.path(),
        &env::vm::VmOptions::default(),
        &mut host,
    )
    .ok();
    let settings = RunSettings {
        size: Size::Default,
        cpus: cpu.map(|c| vec![c]),
        memory_mib: 512,
        cpu_quota: None,
        timeout: Duration::from_secs(120),
        data_dir: data.path().to_path_buf(),
        out: data.path().join("unused.json"),
        sample_interval: None,
        mode: Mode::Cold,
        adaptive: None,
        container,
        vm,
    };
    if let Some(c) = cpu {
        vmbench::pinning::move_harness_off(&[c]);
    }
    let bin = binary.path.display().to_string();
    let med = |xs: Vec<f64>| vmbench::stats::median(&xs);
    println!("startup medians, {reps} runs each, workload on CPU {cpu:?}:  vmbench | reference");

    let native = med(startups(
        EnvKind::Native,
        reps,
        &settings,
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

    if env::availability(EnvKind::Container, &host).is_ok() {
        let container = med(startups(
            EnvKind::Container,
            reps,
            &settings,
            &binary.path,
            data.path(),
        ));
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
        if env::availability(EnvKind::ContainerCrun, &host).is_ok() {
            let crun = med(startups(
                EnvKind::ContainerCrun,
                reps,
                &settings,
                &binary.path,
                data.path(),
            ));
            line(
                "container noop vs container-crun noop",
                container,
                crun,
                "not slower",
            );
        }
    } else {
        println!("skip container: not root or no cgroups");
    }

    if let Some(vm) = &settings.vm {
        let kind = if vm.kvm.is_ok() {
            EnvKind::VmKvm
        } else {
            EnvKind::VmTcg
        };
        let ours = med(startups(
            kind,
            (reps / 3).max(5),
            &settings,
            &binary.path,
            data.path(),
        ));
        let plan = vmbench_workload::agent::Plan {
            args: vec!["--workload".into(), "noop".into()],
            disk: None,
        };
        let accel = if kind == EnvKind::VmKvm {
            "-accel kvm -cpu host"
        } else {
            "-accel tcg"
        };
        let cmdline = env::vm::qemu::kernel_cmdline(vm.tsc_khz, &plan.to_cmdline());
        // hyperfine -N splits on spaces, so the command line goes through a small script.
        let script = data.path().join("hand-tuned-qemu.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexec {} -M microvm,x-option-roms=off {accel} -m 512M -smp 1 -nodefaults -no-user-config -nographic -serial stdio -no-reboot -kernel {} -initrd {} -append '{cmdline}' >/dev/null\n",
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
            &format!("{kind} noop (to ready) vs hand-tuned qemu (to exit)"),
            ours,
            reference,
            "within 10%",
        );
    } else {
        println!("skip vm: QEMU or a guest kernel is missing (see vmbench doctor)");
    }
}
