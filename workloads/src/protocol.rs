//! The line protocol the workload speaks to the host on stdout or a serial console.
//!
//! Every event is one JSON object on one line behind the `@vmbench ` prefix, so that kernel
//! console noise interleaved with it on a VM's serial port is ignored by the reader.

use serde::{Deserialize, Serialize};

/// Marker that starts every protocol line.
pub const PREFIX: &str = "@vmbench ";

/// Which way a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Larger values are better (throughput).
    Higher,
    /// Smaller values are better (latency, time).
    Lower,
}

/// Resource limits the workload can see from inside its environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisibleLimits {
    /// Memory limit of the workload's cgroup, when one is visible.
    pub memory_max_bytes: Option<u64>,
    /// CPU quota as `quota period` microseconds, when one is visible.
    pub cpu_max: Option<String>,
    /// Maximum number of tasks, when a pids limit is visible.
    pub pids_max: Option<u64>,
    /// The cgroup path the workload sees for itself.
    pub cgroup: Option<String>,
}

/// What the workload sees of its environment when it starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestView {
    /// Its own process id (1 in a container's or VM's pid namespace).
    pub pid: u32,
    /// Host name as seen from inside.
    pub hostname: String,
    /// Kernel release (`uname -r`) it runs on.
    pub kernel: String,
    /// CPUs it may run on.
    pub cpus: usize,
    /// `MemTotal` from its `/proc/meminfo`.
    pub mem_total_bytes: u64,
    /// `MemAvailable` from its `/proc/meminfo`.
    pub mem_available_bytes: u64,
    /// Seconds since its kernel booted (`/proc/uptime`).
    pub uptime_s: f64,
    /// Limits visible through cgroup files.
    pub limits: VisibleLimits,
    /// SHA-256 of its own executable, hex; filled from the `identity` event that follows `ready`.
    #[serde(default)]
    pub sha256: String,
    /// Network interfaces it sees (from `/proc/net/dev`).
    pub net_interfaces: Vec<String>,
    /// Processes visible in its `/proc` (from the `identity` event).
    #[serde(default)]
    pub processes_visible: Option<usize>,
    /// Names in its root directory, sorted (from the `identity` event).
    #[serde(default)]
    pub root_entries: Vec<String>,
    /// The uid it believes it has (`getuid`): 0 in a container even where that is an ordinary
    /// user on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Set when the binary ran as a VM's `/init`: what the agent did before `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentBoot>,
}

/// What the guest agent did between the kernel starting `/init` and `ready`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentBoot {
    /// Guest uptime when `/init` started, seconds.
    pub init_uptime_s: f64,
    /// Kernel modules loaded, in order.
    pub modules: Vec<String>,
    /// Time spent loading modules and waiting for devices, milliseconds.
    pub setup_ms: f64,
    /// The data disk mounted for file-io, if any.
    pub disk: Option<String>,
}

/// Resource usage from `getrusage(RUSAGE_SELF)` plus children, at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rusage {
    /// User CPU time in nanoseconds.
    pub user_ns: u64,
    /// System CPU time in nanoseconds.
    pub sys_ns: u64,
    /// Peak resident set in bytes.
    pub max_rss_bytes: u64,
    /// Minor page faults.
    pub minor_faults: u64,
    /// Major page faults.
    pub major_faults: u64,
    /// Voluntary context switches.
    pub voluntary_switches: u64,
    /// Involuntary context switches.
    pub involuntary_switches: u64,
}

/// One measured value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Metric name, e.g. `triad_bandwidth`.
    pub name: String,
    /// The measured value in `unit`.
    pub value: f64,
    /// Unit, e.g. `GB/s`.
    pub unit: String,
    /// Which direction is better.
    pub better: Better,
}

/// One protocol event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// Sent first thing in `main`: the workload is running and this is what it sees.
    Ready(GuestView),
    /// Sent right after `ready` when asked (`--identity`): the SHA-256 of the executable.
    /// Hashing comes after `ready` so that it never counts as startup.
    Identity {
        /// SHA-256 of `/proc/self/exe`, hex.
        sha256: String,
        /// Processes visible in `/proc`.
        #[serde(default)]
        processes_visible: Option<usize>,
        /// Names in the root directory, sorted.
        #[serde(default)]
        root_entries: Vec<String>,
    },
    /// One workload run finished.
    Result {
        /// Workload name.
        workload: String,
        /// Headline metric first, then secondary metrics.
        metrics: Vec<Metric>,
        /// Wall time of the measured part, nanoseconds.
        elapsed_ns: u64,
        /// Resource usage of the process at the end of the run.
        rusage: Rusage,
        /// How the work touched the machine (I/O path, buffer sizes...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// All requested runs are finished.
    Done,
    /// The workload failed; `message` says why.
    Error {
        /// What went wrong.
        message: String,
    },
}

impl Event {
    /// Renders the event as one protocol line, without the trailing newline.
    pub fn to_line(&self) -> String {
        let json = serde_json::to_string(self).expect("protocol events always serialise");
        format!("{PREFIX}{json}")
    }
}

/// Why a protocol line could not be read.
#[derive(Debug)]
pub struct ParseError {
    /// The offending line, truncated.
    pub line: String,
    /// The JSON error.
    pub source: serde_json::Error,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed protocol line {:?}", self.line)
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Reads one line of output: `Ok(None)` for noise without the prefix, the event otherwise.
///
/// The prefix may appear after other bytes on the same line (a console can glue kernel output
/// to it), so it is searched for rather than required at the start.
pub fn parse_line(line: &str) -> Result<Option<Event>, ParseError> {
    let Some(start) = line.find(PREFIX) else {
        return Ok(None);
    };
    let json = line[start + PREFIX.len()..].trim_end_matches(['\r', '\n']);
    serde_json::from_str(json)
        .map(Some)
        .map_err(|source| ParseError {
            line: line.chars().take(120).collect(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_lines() {
        let events = vec![
            Event::Ready(GuestView {
                pid: 1,
                hostname: "vmbench".into(),
                cpus: 2,
                sha256: "ab".repeat(32),
                ..GuestView::default()
            }),
            Event::Result {
                workload: "syscall".into(),
                metrics: vec![Metric {
                    name: "syscall_latency".into(),
                    value: 61.5,
                    unit: "ns/call".into(),
                    better: Better::Lower,
                }],
                elapsed_ns: 12,
                rusage: Rusage::default(),
                detail: None,
            },
            Event::Identity {
                sha256: "cd".repeat(32),
                processes_visible: Some(1),
                root_entries: vec!["data".into(), "proc".into()],
            },
            Event::Done,
            Event::Error {
                message: "boom".into(),
            },
        ];
        for event in events {
            let line = event.to_line();
            assert!(line.starts_with(PREFIX));
            assert!(!line.contains('\n'));
            assert_eq!(parse_line(&line).unwrap(), Some(event));
        }
    }

    #[test]
    fn noise_is_ignored_and_glued_prefixes_are_found() {
        assert_eq!(
            parse_line("[    0.41] virtio_blk virtio1: [vda]").unwrap(),
            None
        );
        assert_eq!(parse_line("").unwrap(), None);
        let glued = format!(
            "[  1.2] random: crng init done{}\r\n",
            Event::Done.to_line()
        );
        assert_eq!(parse_line(&glued).unwrap(), Some(Event::Done));
    }

    #[test]
    fn malformed_lines_are_errors_that_show_the_line() {
        let err = parse_line("@vmbench {\"event\":\"ready\",").unwrap_err();
        assert!(err.to_string().contains("malformed protocol line"));
        assert!(parse_line("@vmbench {\"event\":\"nonsense\"}").is_err());
    }
}
