//! The measured work of each workload: fixed amounts, timed in-process with a monotonic clock.

mod cpu;
mod io;
mod memory;
mod net;
mod os;
pub mod serve;

use crate::catalogue::{Size, Workload};
use crate::protocol::Metric;
use std::path::Path;
use std::time::Instant;

/// Fixed work amounts for one size; the same in every environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Upper bound of each sieve.
    pub sieve_limit: u64,
    /// Number of sieves.
    pub sieve_rounds: u64,
    /// xorshift-multiply hash rounds.
    pub hash_rounds: u64,
    /// Matrix order for the multiply.
    pub matrix_n: u64,
    /// Number of multiplies.
    pub matrix_rounds: u64,
    /// f64 elements per STREAM array.
    pub stream_elems: u64,
    /// Triad passes over the arrays.
    pub stream_passes: u64,
    /// Size of the pointer-chasing buffer.
    pub chase_bytes: u64,
    /// Dependent loads in the chase.
    pub chase_loads: u64,
    /// MiB mapped and touched per page-fault round.
    pub fault_mib: u64,
    /// Page-fault rounds.
    pub fault_rounds: u64,
    /// System calls made.
    pub syscalls: u64,
    /// Processes forked.
    pub spawns: u64,
    /// MiB written by file-io.
    pub file_mib: u64,
    /// Random 4 KiB reads made by file-io.
    pub file_reads: u64,
    /// MiB streamed over TCP.
    pub net_mib: u64,
    /// One-byte TCP round trips.
    pub net_round_trips: u64,
    /// Timed round trips per network path (net-rr).
    pub path_round_trips: u64,
    /// MiB streamed each way per network path (net-stream).
    pub path_stream_mib: u64,
}

impl Params {
    /// The work amounts for a size. Buffer sizes stay fixed (they must exceed the caches);
    /// only repetition counts scale.
    pub fn for_size(size: Size) -> Params {
        Params {
            sieve_limit: 8_000_000,
            sieve_rounds: size.scale(4),
            hash_rounds: size.scale(60_000_000),
            matrix_n: 256,
            matrix_rounds: size.scale(48),
            stream_elems: 4 << 20,
            stream_passes: size.scale(20),
            chase_bytes: 64 << 20,
            chase_loads: size.scale(4_000_000),
            fault_mib: 64,
            fault_rounds: size.scale(8),
            syscalls: size.scale(4_000_000),
            spawns: size.scale(2_000),
            file_mib: size.scale(64).max(8),
            file_reads: size.scale(8_000),
            net_mib: size.scale(512),
            net_round_trips: size.scale(5_000),
            path_round_trips: size.scale(10_000),
            path_stream_mib: size.scale(256),
        }
    }
}

/// What one run of a workload measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Headline metric first, then secondary ones.
    pub metrics: Vec<Metric>,
    /// Wall time of the measured part.
    pub elapsed_ns: u64,
    /// How the work touched the machine, for the record.
    pub detail: Option<String>,
}

/// Runs one workload once with the given work amounts.
pub fn run(
    workload: Workload,
    params: &Params,
    data_dir: &Path,
    bind: &str,
) -> Result<Measured, String> {
    let start = Instant::now();
    let (metrics, detail) = match workload {
        Workload::Noop => (Vec::new(), None),
        Workload::CpuInt => (cpu::integer(params), None),
        Workload::CpuFloat => (cpu::float(params), None),
        Workload::MemBw => (memory::bandwidth(params), None),
        Workload::MemLat => (memory::latency(params), None),
        Workload::PageFault => (memory::page_faults(params)?, None),
        Workload::Syscall => (os::syscalls(params), None),
        Workload::ProcSpawn => (os::spawns(params)?, None),
        Workload::FileIo => {
            let (metrics, detail) = io::file_io(params, data_dir)?;
            (metrics, Some(detail))
        }
        Workload::FileLayer => {
            let (metrics, detail) = io::file_layer(params, data_dir)?;
            (metrics, Some(detail))
        }
        Workload::NetLoopback => (net::loopback(params)?, None),
        Workload::NetRr | Workload::NetStream => (Vec::new(), Some(serve::serve(bind)?)),
    };
    Ok(Measured {
        metrics,
        elapsed_ns: start.elapsed().as_nanos() as u64,
        detail,
    })
}

/// Builds the headline metric of `workload` with `value`.
fn headline(workload: Workload, value: f64) -> Metric {
    let spec = workload.headline();
    Metric {
        name: spec.name.to_string(),
        value,
        unit: spec.unit.to_string(),
        better: spec.better,
    }
}

/// Builds a secondary metric.
fn secondary(name: &str, value: f64, unit: &str, better: crate::protocol::Better) -> Metric {
    Metric {
        name: name.to_string(),
        value,
        unit: unit.to_string(),
        better,
    }
}

/// A small, fast, deterministic PRNG (xorshift64*), so every environment does the same work.
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..bound`.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_small_workload_reports_its_headline_first() {
        let params = Params::for_size(Size::Small);
        let dir = std::env::temp_dir();
        // noop's headline is the host's startup; net-rr's and net-stream's, the host's peer's.
        for w in Workload::ALL {
            if w == Workload::Noop || w.crosses_network() {
                continue;
            }
            let measured = run(w, &params, &dir, "").unwrap_or_else(|e| panic!("{w}: {e}"));
            let first = &measured.metrics[0];
            assert_eq!(first.name, w.headline().name, "{w}");
            assert!(
                first.value.is_finite() && first.value > 0.0,
                "{w}: {first:?}"
            );
            assert!(measured.elapsed_ns > 0);
        }
    }

    #[test]
    fn xorshift_is_deterministic_and_bounded() {
        let mut a = XorShift::new(7);
        let mut b = XorShift::new(7);
        for _ in 0..100 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
    }
}
