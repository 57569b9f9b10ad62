//! Command-line definitions (clap). Names follow the design's fixed contract.

use crate::env::{parse_env_list, EnvRequest};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use vmbench_workload::{Size, Workload};

/// What does isolation cost? Runs the same static workload natively, in containers and in
/// VMs, and compares startup, throughput, CPU and memory.
#[derive(Debug, Parser)]
#[command(name = "vmbench", version, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List workloads (metric, unit, better direction) and environments.
    List,
    /// Say what this host can and cannot run, with the fix for each missing piece.
    Doctor {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run workloads in environments and save the results as JSON.
    Run(Box<RunArgs>),
    /// Render a report from results files; with none, run the default suite first.
    Compare(CompareArgs),
}

/// Workloads of the default suite.
pub const DEFAULT_SUITE: &str =
    "noop,cpu-int,cpu-float,mem-bw,mem-lat,page-fault,syscall,proc-spawn,file-io,net-loopback";

/// Options of `vmbench compare`.
#[derive(Debug, Args, Clone)]
pub struct CompareArgs {
    /// Results files to render side by side (none: run the default suite first and save it
    /// under results/).
    #[arg(value_name = "RESULTS.json")]
    pub files: Vec<PathBuf>,
    /// Report file.
    #[arg(long, value_name = "FILE", default_value = "report.html")]
    pub out: PathBuf,
    /// html, md, csv or json [default: from the --out extension, else html].
    #[arg(long, value_name = "FORMAT", value_parser = crate::report::export::Format::parse)]
    pub format: Option<crate::report::export::Format>,
    /// Language of the lecture notes and labels: en or ko.
    #[arg(long, value_name = "LANG", default_value = "en", value_parser = crate::report::notes::Lang::parse)]
    pub lang: crate::report::notes::Lang,
    /// Mark each figure's change against this earlier results file, flagging regressions.
    #[arg(long, value_name = "OLD.json")]
    pub baseline: Option<PathBuf>,
    /// Default suite: measured repetitions.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub reps: u32,
    /// Default suite: workloads (see `vmbench list`).
    #[arg(long, value_name = "LIST", default_value = DEFAULT_SUITE)]
    pub workload: String,
    /// Default suite: environments [default: every one this host can run].
    #[arg(long, value_name = "LIST")]
    pub env: Option<String>,
    /// Default suite: amount of work per run.
    #[arg(long, value_name = "SIZE", default_value = "default")]
    pub size: String,
    /// Print no progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// Options of `vmbench run`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Environments, comma separated: native, container, container-runc, container-crun,
    /// vm (best accelerator), vm-kvm, vm-tcg.
    #[arg(long, value_name = "LIST", default_value = "native", value_delimiter = ',', value_parser = parse_envs)]
    pub env: Vec<EnvRequest>,
    /// Workloads, comma separated (see `vmbench list`), or `all`.
    #[arg(long, value_name = "LIST", default_value = "noop,cpu-int,mem-bw,syscall", value_delimiter = ',', value_parser = parse_workloads)]
    pub workload: Vec<Workload>,
    /// Measured repetitions per workload and environment.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub reps: u32,
    /// Warm-up repetitions run first and discarded.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub warmup: u32,
    /// Amount of work per run: small, default or large.
    #[arg(long, value_name = "SIZE", default_value = "default", value_parser = parse_size)]
    pub size: Size,
    /// Results file, rewritten after every trial [default: results/run-<time>.json].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Pin workloads to these CPUs, e.g. `1` or `0,2-3` (the harness moves off them); `auto`
    /// takes the last CPU when there are two or more; `none` disables pinning.
    #[arg(long, value_name = "LIST", default_value = "auto", value_parser = parse_cpu_list)]
    pub cpus: CpuList,
    /// Memory limit of containers and RAM of VMs, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(64..=1_048_576))]
    pub memory: u64,
    /// Limit containers' CPU bandwidth to this many CPUs (cgroup quota), e.g. 0.5.
    #[arg(long, value_name = "CPUS", value_parser = parse_quota)]
    pub cpu_quota: Option<f64>,
    /// Kill an instance that runs longer than this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300.0, allow_negative_numbers = true, value_parser = parse_seconds)]
    pub timeout: f64,
    /// Shuffle the environment order in each repetition (seeded).
    #[arg(long, value_name = "SEED")]
    pub shuffle: Option<u64>,
    /// Directory for file-io data (a fresh subdirectory is made and removed).
    #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
    pub data_dir: PathBuf,
    /// Use this workload binary instead of the embedded one (must be static).
    #[arg(long, value_name = "PATH")]
    pub workload_bin: Option<PathBuf>,
    /// Collector sample interval in milliseconds (0 turns the collector off).
    #[arg(long, value_name = "MS", default_value_t = 10.0, value_parser = parse_interval)]
    pub interval: f64,
    /// cold: a new instance per repetition; warm: one instance per environment runs them all.
    #[arg(long, value_name = "MODE", default_value = "cold", value_parser = crate::runner::Mode::parse)]
    pub mode: crate::runner::Mode,
    /// Add repetitions until the 95% CI half-width of every env/native ratio is under PCT
    /// percent (bounded by --max-reps and --max-time).
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub target_ci: Option<f64>,
    /// Upper bound on measured repetitions with --target-ci.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_reps: u32,
    /// Upper bound on the run's duration with --target-ci, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1800.0, value_parser = parse_seconds)]
    pub max_time: f64,
    /// Guest kernel (bzImage or PVH vmlinux) [default: VMBENCH_KERNEL, the cache, or the
    /// distribution's kernel provisioned into the cache].
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// QEMU binary [default: VMBENCH_QEMU, or qemu-system-x86_64 on PATH].
    #[arg(long, value_name = "PATH")]
    pub qemu: Option<PathBuf>,
    /// VM machine type: microvm (fastest boot) or q35.
    #[arg(long, value_name = "TYPE", default_value = "microvm", value_parser = crate::env::vm::qemu::Machine::parse)]
    pub machine: crate::env::vm::qemu::Machine,
    /// Print no progress lines.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_envs(s: &str) -> Result<EnvRequest, String> {
    Ok(parse_env_list(s)?[0])
}

fn parse_workloads(s: &str) -> Result<Workload, String> {
    s.parse()
}

fn parse_size(s: &str) -> Result<Size, String> {
    s.parse()
}

fn parse_quota(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.01..=1024.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of CPUs (0.01 to 1024)")),
    }
}

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=60_000.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not an interval in milliseconds (0 to 60000; 0 turns sampling off)"
        )),
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(v) if v > 0.0 && v < 100.0 => Ok(v),
        _ => Err(format!("'{s}' is not a percentage between 0 and 100")),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

/// CPUs to pin workloads to; `None` means unpinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Option<Vec<usize>>);

fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    match s {
        "none" => Ok(CpuList(None)),
        "auto" => {
            let online = std::thread::available_parallelism().map_or(1, |n| n.get());
            Ok(CpuList((online >= 2).then(|| vec![online - 1])))
        }
        _ => parse_cpus(s).map(|c| CpuList(Some(c))),
    }
}

/// Parses a CPU list such as `0,2-3`.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>, String> {
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bad = || format!("'{s}' is not a CPU list such as 0 or 0,2-3");
    let mut cpus = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (
                a.parse::<usize>().map_err(|_| bad())?,
                b.parse::<usize>().map_err(|_| bad())?,
            ),
            None => {
                let a = part.parse::<usize>().map_err(|_| bad())?;
                (a, a)
            }
        };
        if a > b {
            return Err(bad());
        }
        for cpu in a..=b {
            if cpu >= online {
                return Err(format!(
                    "CPU {cpu} does not exist: this host has CPUs 0-{}",
                    online - 1
                ));
            }
            if !cpus.contains(&cpu) {
                cpus.push(cpu);
            }
        }
    }
    if cpus.is_empty() {
        return Err(bad());
    }
    Ok(cpus)
}

/// Expands `--workload all` into every workload's name before clap parses values.
pub fn normalise_args(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter().peekable();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "--workload" || flag == "--env" {
            let value = match inline {
                Some(v) => Some(v),
                None => iter.next(),
            };
            out.push(flag.clone());
            match value {
                Some(v) if flag == "--workload" && v == "all" => {
                    let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
                    out.push(names.join(","));
                }
                Some(v) => out.push(v),
                None => {}
            }
        } else {
            out.push(arg);
        }
    }
    out
}

impl RunArgs {
    /// Environments without repeats, in the order given.
    pub fn envs(&self) -> Vec<EnvRequest> {
        let mut out = Vec::new();
        for e in &self.env {
            if !out.contains(e) {
                out.push(*e);
            }
        }
        out
    }

    /// Workloads without repeats, in the order given.
    pub fn workloads(&self) -> Vec<Workload> {
        let mut out = Vec::new();
        for w in &self.workload {
            if !out.contains(w) {
                out.push(*w);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_and_are_checked_against_the_host() {
        assert_eq!(parse_cpus("0").unwrap(), vec![0]);
        assert!(parse_cpus("0-").is_err());
        assert!(parse_cpus("3-1").is_err());
        assert!(parse_cpus("x").unwrap_err().contains("CPU list"));
        assert!(parse_cpus("4096").unwrap_err().contains("does not exist"));
    }

    #[test]
    fn comma_lists_and_all_become_values() {
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let cli = Cli::try_parse_from(normalise_args(args(
            "vmbench run --env native,vm --workload all --reps 2",
        )))
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(
            run.envs(),
            vec![
                EnvRequest::Exact(crate::env::EnvKind::Native),
                EnvRequest::BestVm
            ]
        );
        assert_eq!(run.workloads().len(), 10);
        assert!(Cli::try_parse_from(normalise_args(args("vmbench run --reps 0"))).is_err());
        assert!(Cli::try_parse_from(normalise_args(args("vmbench run --workload=cpu"))).is_err());
    }
}
