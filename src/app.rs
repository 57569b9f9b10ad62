//! The commands behind the CLI: list, doctor, run.

use crate::cli::{Command, RunArgs};
use crate::doctor;
use crate::env::{self, EnvKind, EnvRequest};
use crate::host::HostInfo;
use crate::plan::{Order, Plan};
use crate::results::{self, EnvStatus, Results, RunConfig, SCHEMA_VERSION};
use crate::runner::{self, RunSettings};
use crate::UsageError;
use anyhow::{Context, Result};
use clap::Parser;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;
use vmbench_workload::{Better, Size, Workload};

/// How a command ended, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Everything asked for was done.
    Success,
    /// The run finished but some trials failed, or it was interrupted.
    Failed,
}

/// Runs a parsed command.
pub fn execute(command: Command) -> Result<Ending> {
    match command {
        Command::List => {
            print!("{}", list(&HostInfo::probe()));
            Ok(Ending::Success)
        }
        Command::Doctor { json } => {
            let host = full_host_info();
            let checks = doctor::checks(&host);
            if json {
                let value = serde_json::json!({ "host": host, "checks": checks });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{}", doctor::render(&checks));
            }
            Ok(Ending::Success)
        }
        Command::Run(args) => run(&args),
        Command::Compare(args) => compare(&args),
    }
}

/// Environments this host can run, best VM included, for the default suite.
pub fn available_envs(host: &HostInfo) -> Vec<EnvKind> {
    let mut out = Vec::new();
    for kind in [
        EnvKind::Native,
        EnvKind::Container,
        EnvKind::ContainerCrun,
        EnvKind::ContainerRunc,
    ] {
        if env::availability(kind, host).is_ok() {
            out.push(kind);
        }
    }
    let vm = env::vm::best_kind(host);
    if env::availability(vm, host).is_ok() {
        out.push(vm);
    }
    out
}

/// Loads a results file for a report; a bad one is a usage error naming the file.
fn load_for_report(path: &std::path::Path) -> Result<(String, Results)> {
    let results = Results::load(path).map_err(|e| UsageError(crate::error_chain(&e)))?;
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok((label, results))
}

/// `vmbench compare`.
pub fn compare(args: &crate::cli::CompareArgs) -> Result<Ending> {
    use crate::report::export::{exporter, Format};
    let format =
        args.format
            .unwrap_or_else(|| match args.out.extension().and_then(|e| e.to_str()) {
                Some("md") => Format::Md,
                Some("csv") => Format::Csv,
                Some("json") => Format::Json,
                _ => Format::Html,
            });
    results::check_writable(&args.out).map_err(|e| {
        UsageError(format!(
            "--out {}: {}",
            args.out.display(),
            crate::error_chain(&e)
        ))
    })?;
    let baseline = args.baseline.as_deref().map(load_for_report).transpose()?;
    let mut runs = Vec::new();
    let mut ending = Ending::Success;
    if args.files.is_empty() {
        let host = full_host_info();
        let envs = match &args.env {
            Some(list) => list.clone(),
            None => available_envs(&host)
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(","),
        };
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        let out = PathBuf::from("results").join(format!("suite-{stamp}.json"));
        let mut argv = vec![
            "vmbench".to_string(),
            "run".into(),
            "--env".into(),
            envs,
            "--workload".into(),
            args.workload.clone(),
            "--reps".into(),
            args.reps.to_string(),
            "--size".into(),
            args.size.clone(),
            "--out".into(),
            out.display().to_string(),
        ];
        if args.quiet {
            argv.push("--quiet".into());
        }
        let cli = crate::cli::Cli::try_parse_from(crate::cli::normalise_args(argv))
            .map_err(|e| UsageError(e.to_string().lines().next().unwrap_or("").to_string()))?;
        let Command::Run(run_args) = cli.command else {
            unreachable!("built as a run command")
        };
        eprintln!(
            "vmbench: running the default suite on {} into {}",
            run_args.envs().len(),
            out.display()
        );
        let suite = run_to_results(&run_args)?;
        print!("{}", crate::report::terminal::render(&suite));
        if !suite.complete || suite.trials.iter().any(|t| t.error.is_some()) {
            ending = Ending::Failed;
        }
        runs.push((
            out.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            suite,
        ));
    } else {
        for file in &args.files {
            runs.push(load_for_report(file)?);
        }
    }
    let report = crate::report::model::Report::build(&runs, baseline.as_ref());
    let text = exporter(format).render(&report, args.lang)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".vmbench-report-")
        .tempfile_in(
            args.out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new(".")),
        )
        .with_context(|| format!("write {}", args.out.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .with_context(|| format!("write {}", args.out.display()))?;
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("write {}", args.out.display()))?;
    tmp.persist(&args.out)
        .with_context(|| format!("write {}", args.out.display()))?;
    eprintln!(
        "vmbench: wrote {} ({} bytes)",
        args.out.display(),
        text.len()
    );
    Ok(ending)
}

/// Host facts including the external tools (QEMU, runtimes) and the accelerator verdict.
pub fn full_host_info() -> HostInfo {
    let mut host = HostInfo::probe();
    env::container::oci::record_runtimes(&mut host);
    env::vm::record_host(&mut host);
    host
}

/// The `list` output: workloads then environments.
pub fn list(host: &HostInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "workloads (headline metric, unit, better direction; default size):"
    );
    for w in Workload::ALL {
        let h = w.headline();
        let better = if h.better == Better::Higher {
            "higher"
        } else {
            "lower"
        };
        let _ = writeln!(
            s,
            "  {:<13} {:<16} {:<11} {:<7} {}",
            w.name(),
            h.name,
            h.unit,
            better,
            w.describe(Size::Default)
        );
    }
    let _ = writeln!(s, "environments:");
    for kind in EnvKind::ALL {
        let state = match env::availability(kind, host) {
            Ok(detail) => format!("available: {detail}"),
            Err(reason) => format!("unavailable: {reason}"),
        };
        let _ = writeln!(
            s,
            "  {:<15} {}\n  {:<15} {state}",
            kind.name(),
            kind.describe(),
            ""
        );
    }
    let _ = writeln!(
        s,
        "  {:<15} the best VM accelerator this host can use (vm-kvm, else vm-tcg)",
        "vm"
    );
    s
}

/// Resolves the requested environments to kinds; an unavailable one is a usage error.
pub fn resolve_envs(requests: &[EnvRequest], host: &HostInfo) -> Result<Vec<EnvKind>, UsageError> {
    let mut kinds = Vec::new();
    for req in requests {
        let kind = match req {
            EnvRequest::Exact(kind) => *kind,
            EnvRequest::BestVm => env::vm::best_kind(host),
        };
        if let Err(reason) = env::availability(kind, host) {
            return Err(UsageError(format!(
                "environment {kind} cannot run here: {reason}"
            )));
        }
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

fn default_out() -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    PathBuf::from("results").join(format!("run-{stamp}.json"))
}

/// `vmbench run`.
pub fn run(args: &RunArgs) -> Result<Ending> {
    let results = run_to_results(args)?;
    print!("{}", crate::report::terminal::render(&results));
    let failed = results.trials.iter().filter(|t| t.error.is_some()).count();
    let out = args.out.clone().unwrap_or_default();
    if !results.complete {
        eprintln!(
            "run interrupted: {} trial(s) kept in {}",
            results.trials.len(),
            out.display()
        );
        return Ok(Ending::Failed);
    }
    if failed > 0 {
        eprintln!("{failed} trial(s) failed; details in {}", out.display());
        return Ok(Ending::Failed);
    }
    Ok(Ending::Success)
}

/// Runs the plan described by `args` and returns the saved results.
pub fn run_to_results(args: &RunArgs) -> Result<Results> {
    let mut args = args.clone();
    let out = args.out.get_or_insert_with(default_out).clone();
    if let Some(parent) = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        if parent == std::path::Path::new("results") {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
    }
    results::check_writable(&out).map_err(|e| {
        UsageError(format!(
            "--out {}: {}",
            out.display(),
            crate::error_chain(&e)
        ))
    })?;
    if !args.data_dir.is_dir() {
        return Err(UsageError(format!(
            "--data-dir {} is not a directory",
            args.data_dir.display()
        ))
        .into());
    }
    let mut host = full_host_info();
    let envs = resolve_envs(&args.envs(), &host)?;
    let workloads = args.workloads();
    let cache = crate::cache::cache_dir();
    let binary = crate::workload_bin::resolve(args.workload_bin.as_deref(), &cache)
        .map_err(|e| UsageError(crate::error_chain(&e)))?;
    let container = if envs.iter().any(|k| {
        matches!(
            k,
            EnvKind::Container | EnvKind::ContainerRunc | EnvKind::ContainerCrun
        )
    }) {
        Some(
            env::container::prepare(&binary, &cache)
                .map_err(|e| UsageError(crate::error_chain(&e)))?,
        )
    } else {
        None
    };
    let vm = if envs
        .iter()
        .any(|k| matches!(k, EnvKind::VmKvm | EnvKind::VmTcg))
    {
        let options = env::vm::VmOptions {
            kernel: args.kernel.clone(),
            qemu: args.qemu.clone(),
            machine: Some(args.machine),
        };
        Some(
            env::vm::prepare(
                &binary,
                &workloads,
                &cache,
                &args.data_dir,
                &options,
                &mut host,
            )
            .map_err(|e| UsageError(crate::error_chain(&e)))?,
        )
    } else {
        None
    };
    let cpus = args.cpus.0.clone();
    if let Some(cpus) = &cpus {
        crate::pinning::move_harness_off(cpus);
    }
    let order = match args.shuffle {
        Some(seed) => Order::Random(seed),
        None => Order::Fixed,
    };
    let plan = Plan {
        workloads: workloads.clone(),
        envs: envs.clone(),
        reps: args.reps,
        warmup: args.warmup,
        order,
    };
    let settings = RunSettings {
        size: args.size,
        cpus: cpus.clone(),
        memory_mib: args.memory,
        cpu_quota: args.cpu_quota,
        timeout: Duration::from_secs_f64(args.timeout),
        data_dir: args.data_dir.clone(),
        out: out.clone(),
        sample_interval: (args.interval > 0.0)
            .then(|| Duration::from_secs_f64(args.interval / 1e3)),
        mode: args.mode,
        adaptive: args.target_ci.map(|target_pct| crate::runner::Adaptive {
            target_pct,
            max_reps: args.max_reps.max(args.reps),
            max_time: Duration::from_secs_f64(args.max_time),
        }),
        container: container.clone(),
        vm,
    };
    let vm_footprint = settings.vm.as_ref().map(|vm| {
        (
            env::vm::footprint(vm),
            format!(
                "guest kernel {} ({}) + initramfs ({} bytes, {} modules)",
                vm.kernel.version,
                vm.kernel.image.display(),
                vm.initramfs_bytes,
                vm.modules.len()
            ),
        )
    });
    let mut environments: Vec<EnvStatus> = envs
        .iter()
        .map(|k| {
            let (footprint_bytes, footprint) = match (k, &container, &vm_footprint) {
                (
                    EnvKind::Container | EnvKind::ContainerRunc | EnvKind::ContainerCrun,
                    Some(c),
                    _,
                ) => (
                    Some(c.image.bytes),
                    Some(
                        "image: rootfs holding the static workload binary and empty mount points"
                            .into(),
                    ),
                ),
                (EnvKind::VmKvm | EnvKind::VmTcg, _, Some((bytes, what))) => {
                    (Some(*bytes), Some(what.clone()))
                }
                _ => (None, None),
            };
            EnvStatus {
                env: k.name().into(),
                available: true,
                reason: env::availability(*k, &host).unwrap_or_default(),
                footprint_bytes,
                footprint,
            }
        })
        .collect();
    for kind in EnvKind::ALL.into_iter().filter(|k| !envs.contains(k)) {
        if let Err(reason) = env::availability(kind, &host) {
            environments.push(EnvStatus {
                env: kind.name().into(),
                available: false,
                reason,
                footprint_bytes: None,
                footprint: None,
            });
        }
    }
    let now = crate::now_rfc3339();
    let mut results = Results {
        schema_version: SCHEMA_VERSION,
        vmbench_version: env!("CARGO_PKG_VERSION").into(),
        created_at: now.clone(),
        updated_at: now,
        complete: false,
        host,
        config: RunConfig {
            reps: args.reps,
            warmup: args.warmup,
            size: args.size.name().into(),
            workloads: workloads.iter().map(|w| w.name().to_string()).collect(),
            envs: envs.iter().map(|k| k.name().to_string()).collect(),
            cpus: cpus.clone(),
            memory_mib: args.memory,
            cpu_quota: args.cpu_quota,
            vm_machine: settings.vm.as_ref().map(|vm| vm.machine.name().to_string()),
            timeout_s: args.timeout,
            order: order.label(),
            mode: args.mode.label().into(),
            sample_interval_ms: (args.interval > 0.0).then_some(args.interval as u64),
            target_ci_pct: args.target_ci,
        },
        workload_binary: binary.clone(),
        environments,
        trials: Vec::new(),
        warmup_trials: Vec::new(),
        collector: None,
    };
    results.save(&out)?;
    crate::interrupt::install();
    let quiet = args.quiet;
    let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} eta {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let mut progress =
        |_step: &crate::plan::Step, trial: &crate::results::Trial, i: usize, total: usize| {
            if quiet {
                return;
            }
            let what = match (&trial.error, trial.headline()) {
                (Some(e), _) => format!("FAILED: {e}"),
                (None, Some(m)) => format!("{:.4} {}", m.value, m.unit),
                (None, None) => "no result".into(),
            };
            let warm = if trial.warmup { " (warm-up)" } else { "" };
            let line = format!(
                "{} {} rep {}{warm}: {what}",
                trial.env, trial.workload, trial.rep
            );
            match &bar {
                Some(bar) => {
                    bar.set_length(total as u64);
                    bar.set_position(i as u64);
                    if trial.error.is_some() {
                        bar.println(&line);
                    }
                    bar.set_message(line);
                }
                None => eprintln!("[{i}/{total}] {line}"),
            }
        };
    runner::run(&plan, &settings, &binary.path, &mut results, &mut progress)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    results.complete = !crate::interrupt::interrupted();
    results.updated_at = crate::now_rfc3339();
    results.save(&out)?;
    Ok(results)
}
