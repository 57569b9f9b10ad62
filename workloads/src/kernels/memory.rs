//! Memory work: STREAM triad bandwidth, dependent-load latency, page-fault cost.

use super::{headline, secondary, Params, XorShift};
use crate::catalogue::Workload;
use crate::protocol::{Better, Metric};
use std::hint::black_box;
use std::time::Instant;

/// STREAM triad `a = b + s*c`; counts 24 bytes per element as STREAM does.
pub(super) fn bandwidth(p: &Params) -> Vec<Metric> {
    let n = p.stream_elems as usize;
    let mut a = vec![0.0f64; n];
    let b = vec![1.0f64; n];
    let c = vec![2.0f64; n];
    let s = black_box(3.0f64);
    // One untimed pass faults the pages in, so the timed passes measure bandwidth only.
    for ((x, y), z) in a.iter_mut().zip(&b).zip(&c) {
        *x = y + s * z;
    }
    let start = Instant::now();
    for _ in 0..p.stream_passes {
        for ((x, y), z) in a.iter_mut().zip(&b).zip(&c) {
            *x = y + s * z;
        }
        black_box(&a);
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes = 24.0 * n as f64 * p.stream_passes as f64;
    vec![headline(Workload::MemBw, bytes / secs / 1e9)]
}

/// Pointer chase over a single random cycle (Sattolo), one 64-byte line per hop.
pub(super) fn latency(p: &Params) -> Vec<Metric> {
    const STRIDE: usize = 8; // usize slots per 64-byte line
    let lines = p.chase_bytes as usize / 64;
    let mut order: Vec<usize> = (0..lines).collect();
    let mut rng = XorShift::new(42);
    for i in (1..lines).rev() {
        let j = rng.below(i as u64) as usize;
        order.swap(i, j);
    }
    let mut next = vec![0usize; lines * STRIDE];
    for w in 0..lines {
        next[order[w] * STRIDE] = order[(w + 1) % lines] * STRIDE;
    }
    let mut at = 0usize;
    for _ in 0..lines.min(1 << 16) {
        at = next[at];
    }
    let start = Instant::now();
    for _ in 0..p.chase_loads {
        at = next[at];
    }
    black_box(at);
    let ns = start.elapsed().as_nanos() as f64 / p.chase_loads as f64;
    vec![headline(Workload::MemLat, ns)]
}

/// Maps fresh anonymous memory, writes one byte per page, unmaps; time per page.
pub(super) fn page_faults(p: &Params) -> Result<Vec<Metric>, String> {
    let page = 4096usize;
    let len = (p.fault_mib as usize) << 20;
    let start = Instant::now();
    for _ in 0..p.fault_rounds {
        // SAFETY: anonymous private mapping of `len` bytes; we write only inside it and unmap it
        // before the loop iteration ends.
        unsafe {
            let addr = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if addr == libc::MAP_FAILED {
                return Err(format!(
                    "mmap {} MiB: {}",
                    p.fault_mib,
                    std::io::Error::last_os_error()
                ));
            }
            let base = addr as *mut u8;
            for off in (0..len).step_by(page) {
                std::ptr::write_volatile(base.add(off), 1);
            }
            libc::munmap(addr, len);
        }
    }
    let pages = (len / page) as f64 * p.fault_rounds as f64;
    let ns = start.elapsed().as_nanos() as f64 / pages;
    Ok(vec![
        headline(Workload::PageFault, ns),
        secondary("pages_touched", pages, "pages", Better::Higher),
    ])
}
