//! The workload catalogue: names, headline metrics and the fixed amount of work per size.

use crate::protocol::Better;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How much work a workload does; every environment gets the same size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// About a tenth of the default work, for smoke tests and slow (TCG) guests.
    Small,
    /// 0.1–1 s natively on a current x86 core.
    #[default]
    Default,
    /// About four times the default work.
    Large,
}

impl Size {
    /// All sizes, in order.
    pub const ALL: [Size; 3] = [Size::Small, Size::Default, Size::Large];

    /// Scales a default amount of work to this size (at least 1).
    pub fn scale(self, default_amount: u64) -> u64 {
        match self {
            Size::Small => (default_amount / 10).max(1),
            Size::Default => default_amount,
            Size::Large => default_amount * 4,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Default => "default",
            Size::Large => "large",
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Size::ALL
            .into_iter()
            .find(|size| size.name() == s)
            .ok_or_else(|| format!("unknown size '{s}': expected small, default or large"))
    }
}

/// Where every image holds the file `file-layer` writes to first, in its lowest layer.
pub const LAYER_DIR: &str = "/layer";
/// The name of that file.
pub const LOWER_FILE: &str = "lower.dat";
/// Its size in MiB.
pub const LOWER_MIB: u64 = 4;

/// The bytes of the image's lower file: a fixed pseudo-random pattern (no zero runs, so no
/// layer format or filesystem stores it sparse).
pub fn lower_file_bytes() -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..(LOWER_MIB << 20) / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect()
}

/// One workload of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Workload {
    /// Prints `ready` and exits: measures startup.
    #[serde(rename = "noop")]
    Noop,
    /// Sieve of Eratosthenes plus integer hashing.
    #[serde(rename = "cpu-int")]
    CpuInt,
    /// Dense double-precision matrix multiply.
    #[serde(rename = "cpu-float")]
    CpuFloat,
    /// STREAM triad over arrays larger than the caches.
    #[serde(rename = "mem-bw")]
    MemBw,
    /// Dependent random reads over a buffer larger than the last-level cache.
    #[serde(rename = "mem-lat")]
    MemLat,
    /// Maps and touches fresh anonymous memory.
    #[serde(rename = "page-fault")]
    PageFault,
    /// The cheapest system call in a loop.
    #[serde(rename = "syscall")]
    Syscall,
    /// fork, exit, wait in a loop.
    #[serde(rename = "proc-spawn")]
    ProcSpawn,
    /// Sequential write + fsync, then random 4 KiB reads.
    #[serde(rename = "file-io")]
    FileIo,
    /// The first write to a file of the image (a copy-up on a container's writable layer),
    /// then file-io's work on that layer.
    #[serde(rename = "file-layer")]
    FileLayer,
    /// TCP stream and request/response over loopback.
    #[serde(rename = "net-loopback")]
    NetLoopback,
    /// 1-byte TCP round trips with the harness on the host, across the instance's boundary.
    #[serde(rename = "net-rr")]
    NetRr,
    /// Bulk TCP streams host → instance and instance → host, across its boundary.
    #[serde(rename = "net-stream")]
    NetStream,
}

/// What a workload reports as its headline figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadlineSpec {
    /// Metric name.
    pub name: &'static str,
    /// Unit of the value.
    pub unit: &'static str,
    /// Which direction is better.
    pub better: Better,
}

impl Workload {
    /// Every workload, in catalogue order.
    pub const ALL: [Workload; 13] = [
        Workload::Noop,
        Workload::CpuInt,
        Workload::CpuFloat,
        Workload::MemBw,
        Workload::MemLat,
        Workload::PageFault,
        Workload::Syscall,
        Workload::ProcSpawn,
        Workload::FileIo,
        Workload::FileLayer,
        Workload::NetLoopback,
        Workload::NetRr,
        Workload::NetStream,
    ];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Noop => "noop",
            Workload::CpuInt => "cpu-int",
            Workload::CpuFloat => "cpu-float",
            Workload::MemBw => "mem-bw",
            Workload::MemLat => "mem-lat",
            Workload::PageFault => "page-fault",
            Workload::Syscall => "syscall",
            Workload::ProcSpawn => "proc-spawn",
            Workload::FileIo => "file-io",
            Workload::FileLayer => "file-layer",
            Workload::NetLoopback => "net-loopback",
            Workload::NetRr => "net-rr",
            Workload::NetStream => "net-stream",
        }
    }

    /// The headline metric. For `noop` it is the host-measured startup time.
    pub fn headline(self) -> HeadlineSpec {
        let (name, unit, better) = match self {
            Workload::Noop => ("startup", "ms", Better::Lower),
            Workload::CpuInt => ("int_ops", "Mop/s", Better::Higher),
            Workload::CpuFloat => ("matmul", "GFLOP/s", Better::Higher),
            Workload::MemBw => ("triad_bandwidth", "GB/s", Better::Higher),
            Workload::MemLat => ("load_latency", "ns/access", Better::Lower),
            Workload::PageFault => ("fault_time", "ns/page", Better::Lower),
            Workload::Syscall => ("syscall_time", "ns/call", Better::Lower),
            Workload::ProcSpawn => ("spawn_time", "us/process", Better::Lower),
            Workload::FileIo => ("seq_write", "MB/s", Better::Higher),
            Workload::FileLayer => ("first_write", "ms", Better::Lower),
            Workload::NetLoopback => ("tcp_stream", "Gbit/s", Better::Higher),
            Workload::NetRr => ("round_trip", "us", Better::Lower),
            Workload::NetStream => ("stream_in", "Gbit/s", Better::Higher),
        };
        HeadlineSpec { name, unit, better }
    }

    /// The fixed amount of work at a size, in plain words.
    pub fn describe(self, size: Size) -> String {
        let p = crate::kernels::Params::for_size(size);
        match self {
            Workload::Noop => "report ready and exit; the host times the start".into(),
            Workload::CpuInt => format!(
                "sieve of Eratosthenes up to {} x{} plus {} xorshift-multiply hash rounds",
                p.sieve_limit, p.sieve_rounds, p.hash_rounds
            ),
            Workload::CpuFloat => format!(
                "{0}x{0} f64 matrix multiply x{1}",
                p.matrix_n, p.matrix_rounds
            ),
            Workload::MemBw => format!(
                "STREAM triad a=b+s*c over 3 x {} MiB arrays, {} passes",
                (p.stream_elems * 8) >> 20,
                p.stream_passes
            ),
            Workload::MemLat => format!(
                "{} dependent loads over a {} MiB random cycle",
                p.chase_loads,
                p.chase_bytes >> 20
            ),
            Workload::PageFault => format!(
                "mmap, touch and unmap {} MiB, {} times",
                p.fault_mib, p.fault_rounds
            ),
            Workload::Syscall => format!("{} getppid calls", p.syscalls),
            Workload::ProcSpawn => format!("{} fork/exit/wait cycles", p.spawns),
            Workload::FileIo => format!(
                "write {} MiB sequentially + fsync, then {} random 4 KiB reads",
                p.file_mib, p.file_reads
            ),
            Workload::FileLayer => format!(
                "write 4 KiB + fsync into the image's {} MiB {LAYER_DIR}/{LOWER_FILE} (on a \
                 writable layer, a copy-up of the whole file), again, then write {} MiB \
                 sequentially + fsync and {} random 4 KiB reads in {LAYER_DIR}",
                LOWER_MIB, p.file_mib, p.file_reads
            ),
            Workload::NetLoopback => format!(
                "{} MiB TCP stream and {} 1-byte round trips over 127.0.0.1",
                p.net_mib, p.net_round_trips
            ),
            Workload::NetRr => format!(
                "{} 1-byte TCP round trips from the host to the instance on each of its network \
                 paths (median per trip, timed by the host)",
                p.path_round_trips
            ),
            Workload::NetStream => format!(
                "{0} MiB TCP stream host → instance and {0} MiB instance → host on each of its \
                 network paths (timed by the host)",
                p.path_stream_mib
            ),
        }
    }

    /// Whether the workload needs a writable data directory from its environment.
    pub fn needs_data_dir(self) -> bool {
        matches!(self, Workload::FileIo | Workload::FileLayer)
    }

    /// Whether the workload writes to the root filesystem's own layer (`file-layer`).
    pub fn writes_layer(self) -> bool {
        self == Workload::FileLayer
    }

    /// Whether the workload serves a peer on the host across the instance's network path.
    pub fn crosses_network(self) -> bool {
        matches!(self, Workload::NetRr | Workload::NetStream)
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
                format!(
                    "unknown workload '{s}': expected one of {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_are_unique() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>().unwrap(), w);
            let json = serde_json::to_string(&w).unwrap();
            assert_eq!(json, format!("\"{}\"", w.name()));
        }
        let err = "cpu".parse::<Workload>().unwrap_err();
        assert!(
            err.contains("cpu-int") && err.contains("net-loopback"),
            "{err}"
        );
    }

    #[test]
    fn sizes_scale_work() {
        assert_eq!(Size::Small.scale(1000), 100);
        assert_eq!(Size::Small.scale(3), 1);
        assert_eq!(Size::Large.scale(1000), 4000);
        assert!("huge".parse::<Size>().is_err());
    }
}
