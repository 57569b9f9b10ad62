//! Storage work: sequential write + fsync, then random 4 KiB reads, in the environment's data
//! directory (host filesystem, bind mount or a VM's virtio-blk disk).

use super::{headline, secondary, Params, XorShift};
use crate::catalogue::Workload;
use crate::protocol::{Better, Metric};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::Instant;

const BLOCK: usize = 4096;

/// A 4 KiB-aligned buffer, as `O_DIRECT` requires.
struct AlignedBlock(Box<[u8]>, usize);

impl AlignedBlock {
    fn new() -> Self {
        let raw = vec![0u8; BLOCK * 2].into_boxed_slice();
        let offset = raw.as_ptr().align_offset(BLOCK);
        AlignedBlock(raw, offset)
    }

    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0[self.1..self.1 + BLOCK]
    }
}

/// Runs the write and read phases; returns the metrics and how reads bypassed the cache.
pub(super) fn file_io(p: &Params, dir: &Path) -> Result<(Vec<Metric>, String), String> {
    let path = dir.join(format!("vmbench-file-io-{}.dat", std::process::id()));
    let result = measure(p, &path);
    let _ = std::fs::remove_file(&path);
    result
}

fn measure(p: &Params, path: &Path) -> Result<(Vec<Metric>, String), String> {
    let ctx = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let bytes = (p.file_mib as usize) << 20;
    let chunk = vec![0x5au8; 1 << 20];
    let start = Instant::now();
    let mut file = File::create(path).map_err(|e| ctx("create", e))?;
    for _ in 0..p.file_mib {
        file.write_all(&chunk).map_err(|e| ctx("write", e))?;
    }
    file.sync_all().map_err(|e| ctx("fsync", e))?;
    let write_secs = start.elapsed().as_secs_f64();
    drop(file);

    // Reads must reach the device: O_DIRECT where the filesystem allows it, otherwise drop the
    // (clean, just-synced) pages from the cache first.
    let (reader, mode) = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => (f, "O_DIRECT random reads"),
        Err(_) => {
            let f = File::open(path).map_err(|e| ctx("open", e))?;
            // SAFETY: advisory call on a file descriptor we own.
            unsafe {
                libc::posix_fadvise(
                    std::os::fd::AsRawFd::as_raw_fd(&f),
                    0,
                    0,
                    libc::POSIX_FADV_DONTNEED,
                )
            };
            (f, "buffered random reads after fadvise(DONTNEED)")
        }
    };
    let blocks = (bytes / BLOCK) as u64;
    let mut buf = AlignedBlock::new();
    let mut rng = XorShift::new(4242);
    let start = Instant::now();
    for _ in 0..p.file_reads {
        let offset = rng.below(blocks) * BLOCK as u64;
        reader
            .read_exact_at(buf.as_mut(), offset)
            .map_err(|e| ctx("read", e))?;
    }
    let read_secs = start.elapsed().as_secs_f64();
    let metrics = vec![
        headline(Workload::FileIo, bytes as f64 / 1e6 / write_secs),
        secondary(
            "rand_read",
            p.file_reads as f64 / read_secs,
            "IOPS",
            Better::Higher,
        ),
    ];
    Ok((metrics, format!("{} MiB write+fsync, {mode}", p.file_mib)))
}
