//! Storage work: sequential write + fsync, then random 4 KiB reads, in the environment's data
//! directory (host filesystem, bind mount or a VM's virtio-blk disk); and the first write to a
//! file of the image, which on a container's writable layer copies the whole file up.

use super::{headline, secondary, Params, XorShift};
use crate::catalogue::{Workload, LOWER_FILE, LOWER_MIB};
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
    let (write, reads, mode) = result?;
    let metrics = vec![
        headline(Workload::FileIo, write),
        secondary("rand_read", reads, "IOPS", Better::Higher),
    ];
    Ok((metrics, format!("{} MiB write+fsync, {mode}", p.file_mib)))
}

/// Writes 4 KiB + fsync into `dir`'s lower file twice (the first write to a file of an image's
/// lower layer copies it up whole), then file-io's phases in `dir`. Where `dir` holds no lower
/// file (natively), one is made first, untimed: the same writes, without a layer below.
pub(super) fn file_layer(p: &Params, dir: &Path) -> Result<(Vec<Metric>, String), String> {
    let lower = dir.join(LOWER_FILE);
    let made = !lower.exists();
    if made {
        std::fs::write(&lower, crate::catalogue::lower_file_bytes())
            .and_then(|()| File::open(&lower)?.sync_all())
            .map_err(|e| format!("make {}: {e}", lower.display()))?;
    }
    let result = write_twice(&lower);
    if made {
        let _ = std::fs::remove_file(&lower);
    }
    let (first, again) = result?;
    let path = dir.join(format!("vmbench-file-layer-{}.dat", std::process::id()));
    let result = measure(p, &path);
    let _ = std::fs::remove_file(&path);
    let (write, reads, mode) = result?;
    let metrics = vec![
        headline(Workload::FileLayer, first),
        secondary("rewrite", again, "ms", Better::Lower),
        secondary("seq_write", write, "MB/s", Better::Higher),
        secondary("rand_read", reads, "IOPS", Better::Higher),
    ];
    let lower_said = if made {
        "made here, no layer below"
    } else {
        "from the image"
    };
    Ok((
        metrics,
        format!(
            "4 KiB write+fsync into a {LOWER_MIB} MiB file ({lower_said}), twice; {} MiB write+fsync, {mode}",
            p.file_mib
        ),
    ))
}

/// Milliseconds of the first and of a second 4 KiB write + fsync into `path`.
fn write_twice(path: &Path) -> Result<(f64, f64), String> {
    let ctx = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let block = [0xa5u8; BLOCK];
    let timed = |offset: u64| -> Result<f64, String> {
        let start = Instant::now();
        // Opening for writing is where overlayfs copies a lower file up.
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| ctx("open for writing", e))?;
        file.write_all_at(&block, offset)
            .map_err(|e| ctx("write", e))?;
        file.sync_all().map_err(|e| ctx("fsync", e))?;
        Ok(start.elapsed().as_secs_f64() * 1e3)
    };
    Ok((timed(0)?, timed(BLOCK as u64)?))
}

/// Megabytes per second of the write + fsync, reads per second, and how reads reached the device.
fn measure(p: &Params, path: &Path) -> Result<(f64, f64, &'static str), String> {
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
    Ok((
        bytes as f64 / 1e6 / write_secs,
        p.file_reads as f64 / read_secs,
        mode,
    ))
}
