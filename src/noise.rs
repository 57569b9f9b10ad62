//! How quiet the host was while an instance ran: the CPU time that other programs used on the
//! workload's CPUs (the CPUs' busy time from `/proc/stat`, minus the instance's own), the time
//! the hypervisor stole from them, and the runnable tasks. A trial above the thresholds is
//! flagged noisy: kept, never dropped, and shown in every report.
//!
//! `/proc/stat` counts in clock ticks (10 ms), so trials shorter than a few ticks cannot be
//! judged and are never flagged.

use crate::results::Noise;
use std::path::Path;
use std::time::Duration;

/// Foreign CPU time or steal above this fraction of the trial's CPU capacity flags it.
pub const NOISY_FRACTION: f64 = 0.05;
/// ... provided it is also above this much time (a few clock ticks).
pub const NOISY_MIN: Duration = Duration::from_millis(30);

/// Busy and stolen time of some CPUs, from `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuCounters {
    /// user + nice + system + irq + softirq (guest time is inside user), nanoseconds.
    pub busy_ns: u64,
    /// steal, nanoseconds.
    pub steal_ns: u64,
}

/// The `cpuN` lines of `/proc/stat` text for `cpus`, summed (all CPUs when `None`).
pub fn counters_of(stat: &str, cpus: Option<&[usize]>, tick_ns: u64) -> CpuCounters {
    let mut sum = CpuCounters::default();
    for line in stat.lines() {
        let Some(rest) = line
            .strip_prefix("cpu")
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let Some(Ok(cpu)) = fields.next().map(str::parse::<usize>) else {
            continue;
        };
        if cpus.is_some_and(|c| !c.contains(&cpu)) {
            continue;
        }
        let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal guest guest_nice
        if v.len() < 8 {
            continue;
        }
        sum.busy_ns += (v[0] + v[1] + v[2] + v[5] + v[6]) * tick_ns;
        sum.steal_ns += v[7] * tick_ns;
    }
    sum
}

/// `procs_running` of `/proc/stat` text.
pub fn procs_running(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("procs_running "))?
        .trim()
        .parse()
        .ok()
}

/// Waits, at most `limit`, until nothing but the harness is runnable on the host for two
/// readings in a row, 5 ms apart: an engine's clean-up or a guest's exit after the previous
/// instance then no longer runs beside the next one's start (in an interleaved suite it
/// otherwise lands on whichever environment comes next). Returns how long it waited.
pub fn settle(limit: Duration) -> Duration {
    let start = std::time::Instant::now();
    let mut quiet = 0;
    while start.elapsed() < limit && quiet < 2 {
        let running = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| procs_running(&s));
        quiet = if running.is_some_and(|n| n <= 1) {
            quiet + 1
        } else {
            0
        };
        if quiet < 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    start.elapsed()
}

/// A reading of the host's CPU counters at the start of a trial.
#[derive(Debug, Clone)]
pub struct Probe {
    cpus: Vec<usize>,
    start: CpuCounters,
    tick_ns: u64,
}

impl Probe {
    /// Reads the counters of `cpus` (every CPU this process may use when `None`).
    pub fn start(cpus: Option<&[usize]>) -> Option<Probe> {
        let cpus = cpus.map_or_else(crate::config::allowed_cpus, <[usize]>::to_vec);
        let tick_ns = 1_000_000_000 / procfs::ticks_per_second();
        let stat = std::fs::read_to_string(Path::new("/proc/stat")).ok()?;
        Some(Probe {
            start: counters_of(&stat, Some(&cpus), tick_ns),
            cpus,
            tick_ns,
        })
    }

    /// The noise over a trial that lasted `wall` and used `own_ns` of CPU itself.
    pub fn finish(&self, wall: Duration, own_ns: u64) -> Option<Noise> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let end = counters_of(&stat, Some(&self.cpus), self.tick_ns);
        // The reading thread itself is running.
        let runnable = procs_running(&stat).map(|n| n.saturating_sub(1));
        Some(judge(
            &self.cpus,
            wall,
            end.busy_ns.saturating_sub(self.start.busy_ns),
            own_ns,
            end.steal_ns.saturating_sub(self.start.steal_ns),
            runnable,
        ))
    }
}

/// The noise record and whether it flags the trial (pure).
pub fn judge(
    cpus: &[usize],
    wall: Duration,
    busy_ns: u64,
    own_ns: u64,
    steal_ns: u64,
    runnable: Option<u64>,
) -> Noise {
    let capacity_ns = wall.as_nanos() as f64 * cpus.len().max(1) as f64;
    let foreign_cpu_ns = busy_ns.saturating_sub(own_ns);
    let over =
        |ns: u64| ns as f64 > capacity_ns * NOISY_FRACTION && ns > NOISY_MIN.as_nanos() as u64;
    let mut reasons = Vec::new();
    if over(foreign_cpu_ns) {
        reasons.push(format!(
            "other programs used {:.0}% of the workload's CPUs",
            foreign_cpu_ns as f64 / capacity_ns * 100.0
        ));
    }
    if over(steal_ns) {
        reasons.push(format!(
            "the hypervisor stole {:.0}% of the workload's CPUs",
            steal_ns as f64 / capacity_ns * 100.0
        ));
    }
    Noise {
        cpus: cpus.to_vec(),
        wall_ns: wall.as_nanos() as u64,
        busy_ns,
        own_cpu_ns: own_ns,
        foreign_cpu_ns,
        steal_ns,
        runnable,
        concurrent_runs: 0,
        noisy: !reasons.is_empty(),
        reasons,
    }
}

/// Records other vmbench runs alive during a trial: they share the host, so the trial is
/// flagged noisy.
pub fn add_concurrent_runs(noise: &mut Noise, others: usize) {
    noise.concurrent_runs = others as u32;
    if others > 0 {
        noise.noisy = true;
        noise
            .reasons
            .push(format!("{others} other vmbench run(s) were running"));
    }
}

/// A process that used the CPU while vmbench was not running anything.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BusyProcess {
    /// Process id.
    pub pid: u32,
    /// Its name.
    pub name: String,
    /// CPU it used over the window, percent of one core.
    pub cpu_pct: f32,
}

/// Other processes that used more than `threshold_pct` of a core over `window` (this
/// process left out), busiest first.
pub fn busy_processes(window: Duration, threshold_pct: f32) -> Vec<BusyProcess> {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};
    let mut sys = System::new();
    let kind = ProcessRefreshKind::nothing().with_cpu();
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    std::thread::sleep(window.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL));
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    let me = std::process::id();
    let mut busy: Vec<BusyProcess> = sys
        .processes()
        .iter()
        .filter(|(pid, p)| {
            pid.as_u32() != me && p.thread_kind().is_none() && p.cpu_usage() > threshold_pct
        })
        .map(|(pid, p)| BusyProcess {
            pid: pid.as_u32(),
            name: p.name().to_string_lossy().into_owned(),
            cpu_pct: p.cpu_usage(),
        })
        .collect();
    busy.sort_by(|a, b| b.cpu_pct.total_cmp(&a.cpu_pct));
    busy
}

/// The share of the CPUs the hypervisor stole over `window`, percent (0 on bare metal).
pub fn steal_over(window: Duration) -> Option<f64> {
    let tick_ns = 1_000_000_000 / procfs::ticks_per_second();
    let read = || std::fs::read_to_string("/proc/stat").ok();
    let a = counters_of(&read()?, None, tick_ns);
    std::thread::sleep(window);
    let b = counters_of(&read()?, None, tick_ns);
    let cpus = crate::config::allowed_cpus().len().max(1) as f64;
    Some(b.steal_ns.saturating_sub(a.steal_ns) as f64 / (window.as_nanos() as f64 * cpus) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  10 0 10 100 0 0 0 5 0 0\ncpu0 4 0 4 50 0 0 0 2 0 0\ncpu1 6 0 6 50 0 1 1 3 0 0\nintr 1\nprocs_running 3\n";

    #[test]
    fn counters_sum_the_chosen_cpus() {
        let one = counters_of(STAT, Some(&[1]), 10);
        assert_eq!(
            one,
            CpuCounters {
                busy_ns: 140,
                steal_ns: 30
            }
        );
        let all = counters_of(STAT, None, 10);
        assert_eq!(all.busy_ns, 80 + 140);
        assert_eq!(procs_running(STAT), Some(3));
    }

    #[test]
    fn a_busy_process_is_seen() {
        // This process is left out, so a child does the spinning.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        // sysinfo judges a process from its second reading on, once it has used some CPU.
        std::thread::sleep(Duration::from_millis(100));
        let busy = busy_processes(Duration::from_millis(300), 20.0);
        let _ = child.kill();
        let _ = child.wait();
        assert!(busy.iter().any(|b| b.pid == child.id()), "{busy:?}");
    }

    #[test]
    fn a_busy_neighbour_or_a_thieving_hypervisor_flags_the_trial() {
        let wall = Duration::from_secs(1);
        let quiet = judge(&[1], wall, 1_010_000_000, 1_000_000_000, 0, Some(0));
        assert!(!quiet.noisy, "{quiet:?}");
        let hog = judge(&[1], wall, 1_000_000_000, 500_000_000, 0, Some(1));
        assert!(hog.noisy && hog.reasons[0].contains("50%"), "{hog:?}");
        assert_eq!(hog.foreign_cpu_ns, 500_000_000);
        let steal = judge(&[1], wall, 900_000_000, 900_000_000, 100_000_000, None);
        assert!(steal.noisy && steal.reasons[0].contains("stole"));
        // Too short to judge from clock ticks.
        let short = judge(&[1], Duration::from_millis(10), 10_000_000, 0, 0, None);
        assert!(!short.noisy);
    }
}
