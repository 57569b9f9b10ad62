//! A density step's collector: one thread that samples the resident memory of every instance
//! at once (`/proc/<pid>/statm`, the cheapest read that has it) and keeps each one's peak,
//! measuring its own CPU time, so that watching N instances does not cost N threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the sampler saw and cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampled {
    /// Sum over the instances of the highest RSS seen, bytes.
    pub peak_rss_bytes: u64,
    /// Rounds taken (each reads every instance).
    pub rounds: u64,
    /// CPU time the sampling thread used.
    pub cpu_ns: u64,
    /// Wall time it ran.
    pub wall_ns: u64,
}

impl Sampled {
    /// CPU over wall: the share of one core the sampler used.
    pub fn fraction_of_core(&self) -> f64 {
        if self.wall_ns == 0 {
            0.0
        } else {
            self.cpu_ns as f64 / self.wall_ns as f64
        }
    }
}

/// A running sampler.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Sampled>,
}

fn thread_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

impl Sampler {
    /// Starts sampling `pids` every `every`.
    pub fn start(pids: Vec<i32>, every: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
                .ok()
                .flatten()
                .unwrap_or(4096) as u64;
            let files: Vec<Option<std::fs::File>> = pids
                .iter()
                .map(|p| std::fs::File::open(format!("/proc/{p}/statm")).ok())
                .collect();
            let mut peaks = vec![0u64; pids.len()];
            let mut buf = [0u8; 256];
            let (cpu0, t0) = (thread_cpu_ns(), Instant::now());
            let mut rounds = 0;
            while !flag.load(Ordering::Relaxed) {
                for (file, peak) in files.iter().zip(peaks.iter_mut()) {
                    let Some(file) = file else { continue };
                    let Ok(n) = nix::sys::uio::pread(file, &mut buf, 0) else {
                        continue;
                    };
                    let resident = std::str::from_utf8(&buf[..n])
                        .ok()
                        .and_then(crate::collector::parse_statm)
                        .map_or(0, |(_, r)| r * page);
                    *peak = (*peak).max(resident);
                }
                rounds += 1;
                std::thread::park_timeout(every);
            }
            Sampled {
                peak_rss_bytes: peaks.iter().sum(),
                rounds,
                cpu_ns: thread_cpu_ns().saturating_sub(cpu0),
                wall_ns: t0.elapsed().as_nanos() as u64,
            }
        });
        Sampler { stop, thread }
    }

    /// Stops the sampler and returns what it saw.
    pub fn stop(self) -> Sampled {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        self.thread.join().unwrap_or(Sampled {
            peak_rss_bytes: 0,
            rounds: 0,
            cpu_ns: 0,
            wall_ns: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_keeps_the_peak_of_each_process_and_its_own_cost() {
        let me = std::process::id() as i32;
        let sampler = Sampler::start(vec![me, me], Duration::from_millis(5));
        let block = vec![1u8; 32 << 20];
        std::thread::sleep(Duration::from_millis(60));
        let seen = sampler.stop();
        std::hint::black_box(&block);
        assert!(seen.rounds >= 3, "{seen:?}");
        assert!(seen.peak_rss_bytes >= 2 * (32 << 20), "{seen:?}");
        assert!(seen.wall_ns > 0 && seen.fraction_of_core() < 1.0);
    }
}
