//! One typed run configuration: built from the command line (or by `compare` for the default
//! suite), checked once, and recorded as-is in the results, so every figure can be traced to
//! how it was measured. The parsers clap uses for each option live here too, so a bad value
//! is refused with the option's name before anything starts.

use crate::ids::{EnvKind, ImageKind, PageCache};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use vmbench_workload::{Size, Workload};

/// The fewest repetitions of an adaptive plan's pair: enough for an interval that can
/// decide a large difference.
pub const FEWEST_REPS: u32 = 3;

/// The share of an adaptive plan's budget its minimum rounds may take; the rest goes to the
/// pairs the minimum left undecided.
pub const MINIMUM_SHARE: f64 = 0.6;

/// The longest timeout or time budget accepted: a week.
pub const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// Cold or warm trials: different experiments, labelled in the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A new instance per repetition (startup included in every trial).
    Cold,
    /// One instance per environment runs every repetition (steady-state throughput).
    Warm,
}

impl Mode {
    /// Parses `cold` or `warm`.
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "cold" => Ok(Mode::Cold),
            "warm" => Ok(Mode::Warm),
            _ => Err(format!("unknown mode '{s}': expected cold or warm")),
        }
    }

    /// Label stored in the results.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Cold => "cold: a new instance per repetition",
            Mode::Warm => "warm: one instance per environment runs every repetition",
        }
    }
}

/// How environments are ordered within a repetition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The order given, every repetition.
    Fixed,
    /// Shuffled anew each repetition, reproducibly from the seed.
    Random(u64),
}

impl Order {
    /// Label stored in the results.
    pub fn label(self) -> String {
        match self {
            Order::Fixed => "interleaved, fixed order".into(),
            Order::Random(seed) => format!("interleaved, shuffled per repetition (seed {seed})"),
        }
    }

    /// Reads a label back.
    pub fn from_label(s: &str) -> Option<Order> {
        if s == "interleaved, fixed order" {
            return Some(Order::Fixed);
        }
        let seed = s.split("(seed ").nth(1)?.trim_end_matches(')');
        seed.parse().ok().map(Order::Random)
    }
}

/// QEMU machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Machine {
    /// QEMU's minimal machine: virtio-mmio devices, no PCI, fastest to boot.
    Microvm,
    /// A modern PC with PCI (virtio-pci devices).
    Q35,
}

impl Machine {
    /// Parses `microvm` or `q35`.
    pub fn parse(s: &str) -> Result<Machine, String> {
        match s {
            "microvm" => Ok(Machine::Microvm),
            "q35" => Ok(Machine::Q35),
            _ => Err(format!("unknown machine '{s}': expected microvm or q35")),
        }
    }

    /// Name as QEMU spells it.
    pub fn name(self) -> &'static str {
        match self {
            Machine::Microvm => "microvm",
            Machine::Q35 => "q35",
        }
    }
}

impl RunConfig {
    /// Turns the plan into the demo plan: noop and cpu-int at the small size, 3 repetitions
    /// after 1 warm-up, fixed (no adaptive extension), labelled as a demo.
    pub fn make_demo(&mut self) {
        self.demo = true;
        self.workloads = vec![Workload::Noop, Workload::CpuInt];
        self.size = Size::Small;
        self.reps = DEMO_REPS;
        self.warmup = 1;
        self.target_ci_pct = None;
        self.max_reps = None;
        self.max_time_s = None;
        self.spaced_starts = 0;
        self.exceed_limits = false;
    }
}

/// Measured repetitions of the demo plan.
pub const DEMO_REPS: u32 = 3;

/// The run configuration, recorded in the results as `config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Measured repetitions per workload and environment (the minimum, when adaptive).
    pub reps: u32,
    /// Discarded warm-up repetitions before them.
    pub warmup: u32,
    /// Amount of work per run asked for (the largest; see `auto_size`).
    pub size: Size,
    /// Lower each workload's size to what the slowest environment finishes within the
    /// per-trial limit, from a probe round at the small size (the choices are in `sizes`).
    #[serde(default)]
    pub auto_size: bool,
    /// A demo plan (`--quick`): few repetitions of two workloads at the small size.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
    /// The per-trial limit given by the user, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_limit_s: Option<f64>,
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// Environments, in order (`vm` already resolved to this host's accelerator).
    pub envs: Vec<EnvKind>,
    /// CPUs the workload is pinned to, if any.
    pub cpus: Option<Vec<usize>>,
    /// Memory limit of containers and RAM of VMs.
    pub memory_mib: u64,
    /// QEMU machine type of VM trials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_machine: Option<Machine>,
    /// CPU quota given to containers, in CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<f64>,
    /// Per-trial timeout.
    pub timeout_s: f64,
    /// Order in which environments are interleaved within a repetition.
    #[serde(with = "order_label")]
    pub order: Order,
    /// Cold or warm trials.
    #[serde(with = "mode_label")]
    pub mode: Mode,
    /// Collector sample interval, when sampling.
    pub sample_interval_ms: Option<f64>,
    /// Adaptive stopping: target half-width of every env/native ratio's 95% CI, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ci_pct: Option<f64>,
    /// Adaptive stopping: most measured repetitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_reps: Option<u32>,
    /// Adaptive stopping: time budget of the whole run, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_time_s: Option<f64>,
    /// Host directory under which file-io data lives (a fresh subdirectory per run).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Guest kernel given by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<PathBuf>,
    /// QEMU binary given by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qemu: Option<PathBuf>,
    /// Workload binary given by the user instead of the embedded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_bin: Option<PathBuf>,
    /// Equivalence margin of the verdicts, percent: a ratio whose CI stays within it is
    /// "the same".
    #[serde(default = "default_equivalence")]
    pub equivalence_pct: f64,
    /// Run even while other vmbench runs are running.
    #[serde(default)]
    pub allow_concurrent: bool,
    /// The image every container environment runs.
    #[serde(default)]
    pub image: ImageKind,
    /// Whether the image's files are evicted from the page cache before every instance.
    #[serde(default)]
    pub page_cache: PageCache,
    /// Link MTUs of the veth, bridge and tap paths, rotated repetition by repetition, the first
    /// the headline (empty: the kernel's default, 1500).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mtus: Vec<u32>,
    /// A density sweep instead of repetitions (`vmbench density`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<DensityPlan>,
    /// Container starts measured apart from the rounds, per spacing (isolated, back to back)
    /// and container environment, when the plan has noop (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spaced_starts: u32,
    /// After the rounds, run each container environment once past its memory limit and once
    /// past its task limit, to show the cgroup holds them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exceed_limits: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Container starts per spacing the main job measures apart from its rounds.
pub const SPACED_STARTS: u32 = 5;

/// What a density sweep starts: how many instances at once, step by step, and whether VMs run
/// with KSM merging their memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DensityPlan {
    /// Instance counts, in increasing order.
    pub counts: Vec<u32>,
    /// KSM for the VM steps.
    pub ksm: KsmMode,
}

/// KSM for a density sweep's VMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KsmMode {
    /// Merging on for every VM step.
    On,
    /// Merging off.
    Off,
    /// Each VM step twice: off, then on.
    Both,
}

impl KsmMode {
    /// Parses `on`, `off` or `both`.
    pub fn parse(s: &str) -> Result<KsmMode, String> {
        match s {
            "on" => Ok(KsmMode::On),
            "off" => Ok(KsmMode::Off),
            "both" => Ok(KsmMode::Both),
            _ => Err(format!("unknown KSM mode '{s}': expected on, off or both")),
        }
    }

    /// The settings each VM step runs with.
    pub fn settings(self) -> &'static [bool] {
        match self {
            KsmMode::On => &[true],
            KsmMode::Off => &[false],
            KsmMode::Both => &[false, true],
        }
    }
}

/// Instance counts of a density sweep, increasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts(pub Vec<u32>);

/// Parses an increasing list of instance counts, e.g. `1,2,4,8`.
pub fn parse_counts(s: &str) -> Result<Counts, String> {
    let counts: Vec<u32> = s
        .split(',')
        .map(|c| {
            c.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| format!("bad count '{c}': counts are whole numbers from 1 to 1024"))
        })
        .collect::<Result<_, _>>()?;
    if counts.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("counts '{s}' must increase, e.g. 1,2,4,8"));
    }
    Ok(Counts(counts))
}

fn default_equivalence() -> f64 {
    crate::stats::DEFAULT_MARGIN * 100.0
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/tmp")
}

impl Default for RunConfig {
    /// The command line's defaults, unpinned, with no workloads or environments yet.
    fn default() -> RunConfig {
        RunConfig {
            reps: 5,
            warmup: 1,
            size: Size::Default,
            auto_size: true,
            demo: false,
            trial_limit_s: None,
            workloads: Vec::new(),
            envs: Vec::new(),
            cpus: None,
            memory_mib: 512,
            vm_machine: None,
            cpu_quota: None,
            timeout_s: 300.0,
            order: Order::Fixed,
            mode: Mode::Cold,
            sample_interval_ms: Some(10.0),
            target_ci_pct: None,
            max_reps: None,
            max_time_s: None,
            data_dir: default_data_dir(),
            kernel: None,
            qemu: None,
            workload_bin: None,
            equivalence_pct: default_equivalence(),
            allow_concurrent: false,
            image: ImageKind::Minimal,
            page_cache: PageCache::Warm,
            mtus: Vec::new(),
            density: None,
            spaced_starts: 0,
            exceed_limits: false,
        }
    }
}

impl RunConfig {
    /// The collector interval, `None` when sampling is off.
    pub fn sample_interval(&self) -> Option<Duration> {
        self.sample_interval_ms
            .filter(|ms| *ms > 0.0)
            .map(|ms| Duration::from_secs_f64(ms / 1e3))
    }

    /// The per-trial timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_s.clamp(0.0, MAX_SECONDS))
    }

    /// Adaptive stopping, when asked for.
    pub fn adaptive(&self) -> Option<Adaptive> {
        Some(Adaptive {
            target_pct: self.target_ci_pct?,
            max_reps: self.max_reps.unwrap_or(50).max(self.reps),
            max_time: Duration::from_secs_f64(
                self.max_time_s.unwrap_or(1800.0).clamp(0.0, MAX_SECONDS),
            ),
        })
    }

    /// Whether any environment of the run belongs to `family`.
    pub fn runs_family(&self, family: crate::ids::Family) -> bool {
        self.envs.iter().any(|k| k.family() == family)
    }
}

/// Adaptive stopping: more repetitions until every env/native ratio is known well enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptive {
    /// Target half-width of each ratio's 95% CI, percent of the ratio.
    pub target_pct: f64,
    /// Never more measured repetitions than this.
    pub max_reps: u32,
    /// Stop adding repetitions after this long (the whole run).
    pub max_time: Duration,
}

mod mode_label {
    use super::Mode;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &Mode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(mode.label())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        let label = String::deserialize(d)?;
        let word = label.split(':').next().unwrap_or_default();
        Mode::parse(word).map_err(serde::de::Error::custom)
    }
}

mod order_label {
    use super::Order;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(order: &Order, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&order.label())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Order, D::Error> {
        let label = String::deserialize(d)?;
        Order::from_label(&label)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown order '{label}'")))
    }
}

/// What the user asked for on `--env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvRequest {
    /// Exactly this environment.
    Exact(EnvKind),
    /// `vm`: the best accelerator this host can use.
    BestVm,
    /// `vm-snapshot`: the best accelerator's guest, restored from a snapshot.
    BestVmSnapshot,
}

pub use crate::ids::env_choices;

/// Parses one `--env` name.
pub fn parse_env(name: &str) -> Result<EnvRequest, String> {
    match name.trim() {
        "vm" => Ok(EnvRequest::BestVm),
        "vm-snapshot" => Ok(EnvRequest::BestVmSnapshot),
        other => EnvKind::parse(other).map(EnvRequest::Exact).ok_or_else(|| {
            format!(
                "unknown environment '{other}': expected one of {}",
                env_choices()
            )
        }),
    }
}

/// Parses a comma-separated `--env` list, dropping repeats.
pub fn parse_env_list(s: &str) -> Result<Vec<EnvRequest>, String> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let req = parse_env(name)?;
        if !out.contains(&req) {
            out.push(req);
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no environment given: expected one of {}",
            env_choices()
        ));
    }
    Ok(out)
}

/// Parses a number of CPUs for a quota.
pub fn parse_quota(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.01..=1024.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of CPUs (0.01 to 1024)")),
    }
}

/// Parses a collector interval in milliseconds.
pub fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=60_000.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not an interval in milliseconds (0 to 60000; 0 turns sampling off)"
        )),
    }
}

/// Parses a percentage strictly between 0 and 100.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(v) if v > 0.0 && v < 100.0 => Ok(v),
        _ => Err(format!("'{s}' is not a percentage between 0 and 100")),
    }
}

/// Parses a positive number of seconds, at most [`MAX_SECONDS`].
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= MAX_SECONDS => Ok(v),
        Ok(v) if v > MAX_SECONDS => Err(format!(
            "'{s}' seconds is too long: at most {MAX_SECONDS:.0} (a week)"
        )),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

/// CPUs to pin workloads to; `None` means unpinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Option<Vec<usize>>);

/// The CPUs this process may run on (its affinity mask, which a cpuset narrows).
pub fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    match sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// Parses `--cpus`: `none`, `auto` (the last allowed CPU when two or more are allowed), or a
/// list such as `0,2-3` of allowed CPUs.
pub fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    let allowed = allowed_cpus();
    match s {
        "none" => Ok(CpuList(None)),
        "auto" => Ok(CpuList(
            (allowed.len() >= 2).then(|| vec![*allowed.last().expect("two or more")]),
        )),
        _ => parse_cpus(s, &allowed).map(|c| CpuList(Some(c))),
    }
}

/// Parses a CPU list such as `0,2-3`, each CPU one of `allowed`.
pub fn parse_cpus(s: &str, allowed: &[usize]) -> Result<Vec<usize>, String> {
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
            if !allowed.contains(&cpu) {
                return Err(format!(
                    "CPU {cpu} is not one this process may use: allowed CPUs are {}",
                    cpu_list_text(allowed)
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

/// Renders a CPU list as the kernel writes it (`0,2-3`).
pub fn cpu_list_text(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        out.push(if sorted[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", sorted[i])
        });
        i += 1;
    }
    out.join(",")
}

/// Parses `--image`.
pub fn parse_image(s: &str) -> Result<ImageKind, String> {
    ImageKind::parse(s)
        .ok_or_else(|| format!("unknown image '{s}': give minimal, busybox or debian"))
}

/// Parses one `--mtu` value.
pub fn parse_mtu(s: &str) -> Result<u32, String> {
    let choices = crate::ids::net_path::MTU_CHOICES;
    s.parse()
        .ok()
        .filter(|m| choices.contains(m))
        .ok_or_else(|| {
            format!("unsupported MTU '{s}': give 1500, 9000 or 65520 (several comma separated)")
        })
}

/// Parses `--page-cache`.
pub fn parse_page_cache(s: &str) -> Result<PageCache, String> {
    match s {
        "warm" => Ok(PageCache::Warm),
        "cold" => Ok(PageCache::Cold),
        _ => Err(format!("unknown page-cache state '{s}': give warm or cold")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small configuration for unit tests.
    pub(crate) fn config() -> RunConfig {
        RunConfig {
            reps: 1,
            warmup: 0,
            ..RunConfig::default()
        }
    }

    #[test]
    fn cpu_lists_render_as_the_kernel_writes_them() {
        assert_eq!(cpu_list_text(&[3, 0, 1, 2, 7]), "0-3,7");
        assert_eq!(cpu_list_text(&[1]), "1");
    }

    #[test]
    fn cpu_lists_are_checked_against_the_allowed_set() {
        let allowed = [0, 1, 4, 5];
        assert_eq!(parse_cpus("0", &allowed).unwrap(), vec![0]);
        assert_eq!(parse_cpus("4-5,0", &allowed).unwrap(), vec![4, 5, 0]);
        assert!(parse_cpus("0-", &allowed).is_err());
        assert!(parse_cpus("3-1", &allowed).is_err());
        assert!(parse_cpus("x", &allowed).unwrap_err().contains("CPU list"));
        let err = parse_cpus("2", &allowed).unwrap_err();
        assert!(err.contains("CPU 2") && err.contains("0-1,4-5"), "{err}");
    }

    #[test]
    fn huge_and_odd_seconds_are_refused_not_overflowed() {
        assert!(parse_seconds("1e300").unwrap_err().contains("too long"));
        assert!(parse_seconds("1e19").unwrap_err().contains("too long"));
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert!(parse_seconds("-3").is_err());
        assert_eq!(parse_seconds("0.5"), Ok(0.5));
    }

    #[test]
    fn env_lists_parse_with_clear_errors() {
        assert_eq!(
            parse_env_list("native,vm,container-crun,native").unwrap(),
            vec![
                EnvRequest::Exact(EnvKind::Native),
                EnvRequest::BestVm,
                EnvRequest::Exact(EnvKind::ContainerCrun)
            ]
        );
        let err = parse_env_list("native,nonesuch").unwrap_err();
        assert!(
            err.contains("'nonesuch'") && err.contains("vm-tcg") && err.contains("vm,"),
            "{err}"
        );
        assert!(parse_env_list(",").is_err());
    }

    #[test]
    fn labels_read_back_into_the_same_values() {
        for order in [Order::Fixed, Order::Random(42)] {
            assert_eq!(Order::from_label(&order.label()), Some(order));
        }
        for mode in [Mode::Cold, Mode::Warm] {
            let json = serde_json::to_string(&ModeBox { mode }).unwrap();
            assert_eq!(serde_json::from_str::<ModeBox>(&json).unwrap().mode, mode);
        }
    }

    #[derive(Serialize, Deserialize)]
    struct ModeBox {
        #[serde(with = "mode_label")]
        mode: Mode,
    }
}
