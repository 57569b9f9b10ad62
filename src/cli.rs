//! Command-line definitions (clap). Names follow the design's fixed contract; the value
//! parsers live in [`crate::config`], so a bad value is refused naming its option.

use crate::config::{self, CpuList, EnvRequest, Machine, Mode};
use crate::ids::{ImageKind, PageCache};
use crate::report::export::Format;
use crate::report::lang::Lang;
use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
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

/// The `--env` help: every name it takes, from the environment kinds themselves.
fn env_help() -> String {
    format!(
        "Environments, comma separated: {} (vm: the best accelerator here; vm-snapshot: its guest restored from a snapshot)",
        crate::ids::env_choices()
    )
}

/// The environments `vmbench density` sweeps by default as root.
pub const DENSITY_ENVS: &str = "native,container,container-crun,vm";
/// The environments `vmbench density` sweeps by default for an ordinary user.
pub const DENSITY_ENVS_ROOTLESS: &str = "native,container-rootless,vm";

fn density_env_help() -> String {
    format!(
        "{} [default: {DENSITY_ENVS} as root; {DENSITY_ENVS_ROOTLESS} without root]",
        env_help()
    )
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
    Compare(Box<CompareArgs>),
    /// Start N instances of each environment at once, step by step, and measure what each
    /// one costs the host (memory, page-cache sharing, startup under load).
    Density(Box<DensityArgs>),
    /// Remove what killed runs left behind (also done at the start of every run).
    Clean,
    /// Fleet runs on Kubernetes: the manifests, each pod's command, and collecting results.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// The OCI image of vmbench itself that a fleet's pods run.
    #[command(subcommand)]
    Image(ImageCommand),
}

/// Options of `vmbench density`.
#[derive(Debug, Args, Clone)]
pub struct DensityArgs {
    /// Environments, comma separated (the list is in the help text); by default
    /// [`DENSITY_ENVS`] as root, [`DENSITY_ENVS_ROOTLESS`] without.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = config::parse_env, help = density_env_help())]
    pub env: Option<Vec<EnvRequest>>,
    /// Instances alive at once, one step per count, increasing.
    #[arg(long, value_name = "LIST", default_value = "1,2,4,8,16,32", value_parser = config::parse_counts)]
    pub counts: config::Counts,
    /// KSM merging for the VM steps, where the host has KSM: on, off, or both (each VM step
    /// twice); the host's setting is put back afterwards.
    #[arg(long, value_name = "MODE", default_value = "both", value_parser = config::KsmMode::parse)]
    pub ksm: config::KsmMode,
    /// Image the container environments run: minimal, busybox or debian.
    #[arg(long, value_name = "IMAGE", default_value = "minimal", value_parser = config::parse_image)]
    pub image: ImageKind,
    /// Memory limit of containers and RAM of each VM, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256, allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(16..=16_777_216))]
    pub memory: u64,
    /// Pin instances to these CPUs (`none`: wherever the host puts them, as fast as it allows).
    #[arg(long, value_name = "LIST", default_value = "none", value_parser = config::parse_cpu_list)]
    pub cpus: CpuList,
    /// Give up a step whose instances are not all ready after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300.0, allow_negative_numbers = true, value_parser = config::parse_seconds)]
    pub timeout: f64,
    /// Collector sample interval per instance in milliseconds (0 turns it off); coarser than
    /// a run's, since many instances are sampled at once.
    #[arg(long, value_name = "MS", default_value_t = 100.0, allow_negative_numbers = true, value_parser = config::parse_interval)]
    pub interval: f64,
    /// Results file [default: results/density-<time>.json].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The guest's kernel and QEMU.
    #[command(flatten)]
    pub guest: GuestArgs,
    /// Run even while another vmbench run is running.
    #[arg(long)]
    pub allow_concurrent: bool,
    /// Print no progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// Subcommands of `vmbench fleet`.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Write the Namespace, ServiceAccount and Indexed Job of a fleet run as YAML (or, with
    /// --docker, the `docker run` command that runs one of its pods on this host).
    Manifest(ManifestArgs),
    /// What each fleet pod runs: the suite, as `vmbench run` with the same options, then its
    /// results printed between markers for `fleet collect`.
    Node(Box<RunArgs>),
    /// Wait for a fleet Job, save each pod's results as DIR/<node>.json, and name every pod
    /// that failed, never ran or is missing.
    Collect(CollectArgs),
}

/// Subcommands of `vmbench image`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the image (Debian minbase with QEMU, runc and crun, this vmbench and the guest
    /// kernel) into Docker; optionally write it as an archive for `ctr`/`crictl import`.
    Build(ImageBuildArgs),
}

/// Options of `vmbench image build`.
#[derive(Debug, Args, Clone)]
pub struct ImageBuildArgs {
    /// Tag of the image in Docker.
    #[arg(long, value_name = "TAG", default_value = "vmbench:local")]
    pub tag: String,
    /// Also write the image as an OCI archive (`docker save`) to this file.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// Options of `vmbench fleet manifest`.
#[derive(Debug, Args, Clone)]
pub struct ManifestArgs {
    /// Image the pods run (see `vmbench image build`).
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// Pods, one per node (the Job waits for this many distinct nodes).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub nodes: u32,
    /// Only nodes with this label, e.g. kubernetes.io/arch=amd64.
    #[arg(long, value_name = "LABEL=VALUE", value_parser = parse_selector)]
    pub selector: Option<(String, String)>,
    /// Namespace created for the run.
    #[arg(long, value_name = "NS", default_value = "vmbench")]
    pub namespace: String,
    /// Name of the Job.
    #[arg(long, value_name = "NAME", default_value = "vmbench")]
    pub job: String,
    /// Seconds before the Job is stopped, pods still pending included.
    #[arg(long, value_name = "SECS", default_value_t = 7200, value_parser = clap::value_parser!(u64).range(60..=604_800))]
    pub deadline: u64,
    /// CPUs each pod requests: as many as the node has, so that nothing runs beside it.
    #[arg(long, value_name = "QUANTITY", default_value = "2")]
    pub cpus: String,
    /// Memory each pod requests and is limited to.
    #[arg(long, value_name = "QUANTITY", default_value = "4Gi")]
    pub memory: String,
    /// Print the `docker run` command that runs pod 0 on this host exactly as the pod spec
    /// runs it, instead of the manifests.
    #[arg(long)]
    pub docker: bool,
    /// Options of `vmbench run` for every pod, after `--`, e.g. `-- --env native,container,vm`.
    #[arg(last = true, value_name = "RUN OPTIONS")]
    pub run_args: Vec<String>,
}

/// Options of `vmbench fleet collect`.
#[derive(Debug, Args, Clone)]
pub struct CollectArgs {
    /// Namespace of the Job.
    #[arg(long, value_name = "NS", default_value = "vmbench")]
    pub namespace: String,
    /// Name of the Job.
    #[arg(long, value_name = "NAME", default_value = "vmbench")]
    pub job: String,
    /// Folder for the results, one file per node.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seconds to wait for the Job to finish.
    #[arg(long, value_name = "SECS", default_value_t = 7200.0, allow_negative_numbers = true, value_parser = config::parse_seconds)]
    pub timeout: f64,
    /// Seconds between two looks at the Job.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, allow_negative_numbers = true, value_parser = config::parse_seconds)]
    pub interval: f64,
    /// kubectl program, configured for the cluster.
    #[arg(long, value_name = "PATH", default_value = "kubectl")]
    pub kubectl: PathBuf,
}

/// `vmbench run`'s options alone: what a fleet manifest checks its run options with.
#[derive(Debug, Parser)]
#[command(name = "vmbench run")]
pub struct RunOnly {
    /// The options.
    #[command(flatten)]
    pub args: RunArgs,
}

fn parse_selector(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?}: use LABEL=VALUE"))
}

/// Folds clap's multi-line message into one line, dropping the help hint.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Workloads of the default suite.
pub const DEFAULT_SUITE: &str =
    "noop,cpu-int,cpu-float,mem-bw,mem-lat,page-fault,syscall,proc-spawn,file-io,file-layer,net-loopback,net-rr,net-stream";

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
    #[arg(long, value_name = "FORMAT", value_parser = Format::parse)]
    pub format: Option<Format>,
    /// Language of the lecture notes and labels: en or ko.
    #[arg(long, value_name = "LANG", default_value = "en", value_parser = Lang::parse)]
    pub lang: Lang,
    /// Also write every chart into this folder for slides: SVG (caption inside), PNG at twice
    /// the size, and the caption as text, in the report's language.
    #[arg(long, value_name = "DIR")]
    pub charts_dir: Option<PathBuf>,
    /// Mark each figure's change against this earlier results file, flagging regressions.
    #[arg(long, value_name = "OLD.json")]
    pub baseline: Option<PathBuf>,
    /// Default suite: how many repetitions, and the verdicts' margin.
    #[command(flatten)]
    pub repetitions: Repetitions,
    /// Default suite: workloads (see `vmbench list`), or `all`.
    #[arg(long, value_name = "LIST", default_value = DEFAULT_SUITE, value_delimiter = ',', value_parser = parse_workload)]
    pub workload: Vec<Workload>,
    /// Default suite: environments [default: every one this host can run].
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = config::parse_env, help = format!("Default suite: environments [default: every one this host can run]: {}", crate::ids::env_choices()))]
    pub env: Vec<EnvRequest>,
    /// Default suite: amount of work per run, and how it is chosen.
    #[command(flatten)]
    pub sizing: SizeArgs,
    /// Default suite: a demo that ends within a minute: noop and cpu-int at the small size, 3
    /// repetitions after 1 warm-up, every available environment; labelled as a demo.
    #[arg(long, conflicts_with = "files")]
    pub quick: bool,
    /// Default suite: run even while another vmbench run is running (its noise is recorded).
    #[arg(long)]
    pub allow_concurrent: bool,
    /// Default suite: image the container environments run: minimal (the static binary alone), busybox (a
    /// small userland) or debian (a Debian minbase root filesystem).
    #[arg(long, value_name = "IMAGE", default_value = "minimal", value_parser = config::parse_image)]
    pub image: ImageKind,

    /// Print no progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// Options of `vmbench run`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Environments, comma separated (the list is in the help text).
    #[arg(long, value_name = "LIST", default_value = "native", value_delimiter = ',', value_parser = config::parse_env, help = env_help())]
    pub env: Vec<EnvRequest>,
    /// Workloads, comma separated (see `vmbench list`), or `all`.
    #[arg(long, value_name = "LIST", default_value = "noop,cpu-int,mem-bw,syscall", value_delimiter = ',', value_parser = parse_workload)]
    pub workload: Vec<Workload>,
    /// How many repetitions, and the verdicts' margin.
    #[command(flatten)]
    pub repetitions: Repetitions,
    /// A demo plan: noop and cpu-int at the small size, 3 repetitions after 1 warm-up (the
    /// environments as given); labelled as a demo.
    #[arg(long, conflicts_with_all = ["workload", "reps", "size"])]
    pub quick: bool,
    /// Warm-up repetitions run first and discarded.
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub warmup: u32,
    /// Amount of work per run, and how it is chosen.
    #[command(flatten)]
    pub sizing: SizeArgs,
    /// Results file, rewritten after every trial [default: results/run-<time>.json].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Pin workloads to these CPUs, e.g. `1` or `0,2-3` (the harness moves off them); `auto`
    /// takes the last CPU this process may use when it may use two or more; `none` disables
    /// pinning.
    #[arg(long, value_name = "LIST", default_value = "auto", value_parser = config::parse_cpu_list)]
    pub cpus: CpuList,
    /// Memory limit of containers and RAM of VMs, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512, allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(16..=16_777_216))]
    pub memory: u64,
    /// Limit containers' CPU bandwidth to this many CPUs (cgroup quota), e.g. 0.5.
    #[arg(long, value_name = "CPUS", allow_negative_numbers = true, value_parser = config::parse_quota)]
    pub cpu_quota: Option<f64>,
    /// Kill an instance that runs longer than this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300.0, allow_negative_numbers = true, value_parser = config::parse_seconds)]
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
    #[arg(long, value_name = "MS", default_value_t = 10.0, allow_negative_numbers = true, value_parser = config::parse_interval)]
    pub interval: f64,
    /// cold: a new instance per repetition; warm: one instance per environment runs them all.
    #[arg(long, value_name = "MODE", default_value = "cold", value_parser = Mode::parse)]
    pub mode: Mode,
    /// The guest's kernel and QEMU.
    #[command(flatten)]
    pub guest: GuestArgs,
    /// Run even while another vmbench run is running (recorded in every trial's noise).
    #[arg(long)]
    pub allow_concurrent: bool,
    /// Image the container environments run: minimal (the static binary alone), busybox (a
    /// small userland) or debian (a Debian minbase root filesystem).
    #[arg(long, value_name = "IMAGE", default_value = "minimal", value_parser = config::parse_image)]
    pub image: ImageKind,
    /// warm, or cold: evict the image's files (only those) from the page cache before every
    /// instance, as after a fresh pull.
    #[arg(long, value_name = "STATE", default_value = "warm", value_parser = config::parse_page_cache)]
    pub page_cache: PageCache,
    /// Link MTU of the veth, bridge and tap paths of net-rr and net-stream: 1500, 9000 or 65520;
    /// several (comma separated) rotate repetition by repetition, the first the headline.
    #[arg(long, value_name = "BYTES", value_delimiter = ',', value_parser = config::parse_mtu)]
    pub mtu: Vec<u32>,
    /// Container starts measured apart from the rounds, per container environment: this many
    /// after a quiet spell and this many back to back (noop only; 0: none).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub spaced_starts: u32,
    /// After the rounds, run each container environment once past its memory limit and once
    /// past its task limit (the main job does), to show its cgroup holds them.
    #[arg(long)]
    pub exceed_limits: bool,
    /// VM machine type: microvm (fastest boot) or q35.
    #[arg(long, value_name = "TYPE", default_value = "microvm", value_parser = Machine::parse)]
    pub machine: Machine,
    /// Print no progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// What a VM environment boots: the guest kernel and the QEMU binary.
#[derive(Debug, Args, Clone)]
pub struct GuestArgs {
    /// Guest kernel (bzImage or PVH vmlinux) [default: VMBENCH_KERNEL, the cache, or the
    /// distribution's kernel provisioned into the cache].
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// QEMU binary [default: VMBENCH_QEMU, or qemu-system-x86_64 on PATH].
    #[arg(long, value_name = "PATH")]
    pub qemu: Option<PathBuf>,
}

/// The amount of work per run: the size asked for, lowered per workload to what the run's
/// slowest environment finishes within the per-trial limit unless `--fixed-size`.
#[derive(Debug, Args, Clone)]
pub struct SizeArgs {
    /// Amount of work per run: small, default or large (the largest used; see --fixed-size).
    #[arg(long, value_name = "SIZE", default_value = "default", value_parser = parse_size)]
    pub size: Size,
    /// Run every workload at --size, however slow an environment is (no probe round).
    #[arg(long)]
    pub fixed_size: bool,
    /// Per-trial limit a workload's size is chosen for, seconds [default: half the timeout,
    /// and with a time budget twice a workload round's even share of it, else 60].
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = config::parse_seconds)]
    pub trial_limit: Option<f64>,
}

/// How many repetitions: a fixed number (`--reps N`), or, by default, an adaptive plan that
/// adds rounds to each pair until its verdict is decided, within a time budget.
#[derive(Debug, Args, Clone)]
pub struct Repetitions {
    /// Measured repetitions per workload and environment; given alone, a fixed plan [default:
    /// adaptive: at least 5, 3 for a pair whose trials are dear, planned to fit --max-time].
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub reps: Option<u32>,
    /// Adaptive plan: the half-width a ratio's 95% CI must reach to count as converged (rounds
    /// go to pairs until their verdict is decided: CI inside ±--equivalence, or wholly beyond
    /// it) [default: 3, unless --reps alone asks for a fixed plan].
    #[arg(long, value_name = "PCT", allow_negative_numbers = true, value_parser = config::parse_percent)]
    pub target_ci: Option<f64>,
    /// Adaptive plan: most measured repetitions per environment.
    #[arg(long, value_name = "N", default_value_t = 50, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_reps: u32,
    /// Adaptive plan: time budget of the whole run (warm-ups, minimum and extra rounds),
    /// seconds; the minimum is planned to take at most 60% of it.
    #[arg(long, value_name = "SECS", default_value_t = 400.0, allow_negative_numbers = true, value_parser = config::parse_seconds)]
    pub max_time: f64,
    /// Verdicts: a ratio whose 95% CI stays within ±PCT percent of 1 is "the same".
    #[arg(long, value_name = "PCT", default_value_t = 3.0, allow_negative_numbers = true, value_parser = config::parse_percent)]
    pub equivalence: f64,
}

fn parse_workload(s: &str) -> Result<Workload, String> {
    s.trim().parse()
}

fn parse_size(s: &str) -> Result<Size, String> {
    s.parse()
}

/// Expands `--workload all` into every workload's name before clap parses values. Arguments
/// that are not UTF-8 (paths) pass through untouched.
pub fn normalise_args(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    let all = || {
        let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
        OsString::from(names.join(","))
    };
    while let Some(arg) = iter.next() {
        match arg.to_str() {
            Some("--workload") => {
                out.push(arg);
                match iter.next() {
                    Some(v) if v == "all" => out.push(all()),
                    Some(v) => out.push(v),
                    None => {}
                }
            }
            Some("--workload=all") => {
                out.push("--workload".into());
                out.push(all());
            }
            _ => out.push(arg),
        }
    }
    out
}

/// Items without repeats, in the order given.
pub fn unique<T: PartialEq + Copy>(items: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for &item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EnvKind;

    fn parse(s: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(normalise_args(s.split(' ').map(OsString::from).collect()))
    }

    #[test]
    fn comma_lists_and_all_become_values() {
        let Command::Run(run) = parse("vmbench run --env native,vm --workload all --reps 2")
            .unwrap()
            .command
        else {
            panic!("not run")
        };
        assert_eq!(
            unique(&run.env),
            vec![EnvRequest::Exact(EnvKind::Native), EnvRequest::BestVm]
        );
        assert_eq!(unique(&run.workload).len(), Workload::ALL.len());
        assert!(parse("vmbench run --reps 0").is_err());
        assert!(parse("vmbench run --workload=cpu").is_err());
        assert!(parse("vmbench run --timeout 1e300").is_err());
        assert!(parse("vmbench run --max-time 1e30").is_err());
    }

    #[test]
    fn non_utf8_paths_pass_through() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(b"bad\xff.json".to_vec());
        let args = vec![
            OsString::from("vmbench"),
            OsString::from("compare"),
            bad.clone(),
        ];
        let Command::Compare(c) = Cli::try_parse_from(normalise_args(args)).unwrap().command else {
            panic!("not compare")
        };
        assert_eq!(c.files, vec![PathBuf::from(bad)]);
    }
}
