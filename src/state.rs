//! Who owns what on the host. Every run registers under the state directory (`/run/vmbench`)
//! with a lock it holds while alive: the kernel releases the lock when the run dies, however it
//! dies (SIGKILL included), so "the owner is gone" is provable, as with runc's and crun's state
//! directories. Everything a run creates lives in its own work directory or carries its pid in
//! its name (cgroups, OCI container ids), so the next run can find and remove what a dead run
//! left, and never touches what a live one is using.
//!
//! Runs also hold a shared host lock for their lifetime; what several runs share (the parent
//! cgroups, leftovers of older versions) is removed only under the exclusive lock, that is, when
//! no other run is alive.

pub use crate::owner::{owned_by_me, owner_of, pid_alive, state_dir};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Errors registering a run.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another vmbench run is alive and concurrency was not allowed.
    #[error("another vmbench run is already running on this host (pid {pid}, writing {out}): wait for it to end, or pass --allow-concurrent to run alongside it (its noise is then recorded in every trial)")]
    Concurrent {
        /// Its pid.
        pid: u32,
        /// Its results file.
        out: String,
    },
    /// Another run writes the same results file.
    #[error("{0} is being written by another vmbench run: choose another --out")]
    OutBusy(PathBuf),
    /// The state directory or a run's work directory cannot be used.
    #[error("cannot use {path}: set VMBENCH_STATE (state) or --data-dir (work files) to a writable folder")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What a run says of itself in its registry entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// The run's pid.
    pub pid: u32,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Its results file.
    pub out: PathBuf,
    /// Where its temporary files live.
    pub work_dir: PathBuf,
    /// CPUs its workloads are pinned to.
    #[serde(default)]
    pub cpus: Option<Vec<usize>>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens (creating) a lock file.
fn lock_file(path: &Path) -> Result<File, StateError> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io(path))
}

/// Takes a lock without waiting; `None` when someone else holds it.
fn try_lock(file: File, arg: FlockArg) -> Option<Flock<File>> {
    Flock::lock(file, arg).ok()
}

/// How the lock files of results files are named (`out-<hash>.lock`).
const OUT_LOCK_PREFIX: &str = "out-";

/// Takes the exclusive lock of `path` as a file still linked there: whoever holds such a lock
/// may remove the file (as `clean` does with dead runs' locks), so a lock taken on a file that
/// was unlinked meanwhile is dropped and taken again on the new one. `None` when a live holder
/// has it.
fn lock_linked(path: &Path) -> Result<Option<Flock<File>>, StateError> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let Some(lock) = try_lock(lock_file(path)?, FlockArg::LockExclusiveNonblock) else {
            return Ok(None);
        };
        let held = lock.metadata().map_err(io(path))?;
        match std::fs::metadata(path) {
            Ok(linked) if (linked.dev(), linked.ino()) == (held.dev(), held.ino()) => {
                return Ok(Some(lock))
            }
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(path)(e)),
        }
    }
}

/// Removes (or with `dry_run` only lists) the results-file locks no live run holds.
fn remove_stale_locks(state: &Path, dry_run: bool) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(state) else {
        return Vec::new();
    };
    let mut report = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(OUT_LOCK_PREFIX) && name.ends_with(".lock")) {
            continue;
        }
        let path = entry.path();
        // Held while unlinking: a run that opened the file meanwhile sees it gone and retries.
        let Ok(Some(lock)) = lock_linked(&path) else {
            continue;
        };
        report.push(format!("stale results-file lock {}", path.display()));
        if !dry_run {
            let _ = std::fs::remove_file(&path);
        }
        drop(lock);
    }
    report
}

/// A registered run: its locks, its registry entry and its work directory, all released or
/// removed when it drops.
pub struct Run {
    /// Its registry entry.
    pub info: RunInfo,
    entry: PathBuf,
    _alive: Flock<File>,
    host: Option<Flock<File>>,
    _out: Flock<File>,
    out_lock: PathBuf,
    state: PathBuf,
}

impl Run {
    /// Registers this process's run writing `out`, with its work directory under `data_dir`.
    /// Refuses when another run is alive (unless `allow_concurrent`) or writes `out` too.
    pub fn register(
        out: &Path,
        data_dir: &Path,
        cpus: Option<&[usize]>,
        allow_concurrent: bool,
    ) -> Result<Run, StateError> {
        let state = state_dir();
        let runs = state.join("runs");
        std::fs::create_dir_all(&runs).map_err(io(&runs))?;
        if !owned_by_me(&state) {
            return Err(StateError::Io {
                path: state,
                source: std::io::Error::other("another user owns it"),
            });
        }
        let host = try_lock(
            lock_file(&state.join("host.lock"))?,
            FlockArg::LockSharedNonblock,
        );
        if !allow_concurrent {
            if let Some(other) = live_runs(&state).into_iter().next() {
                return Err(StateError::Concurrent {
                    pid: other.pid,
                    out: other.out.display().to_string(),
                });
            }
        }
        let out_lock = state.join(format!("{OUT_LOCK_PREFIX}{}.lock", path_key(out)));
        let out_guard =
            lock_linked(&out_lock)?.ok_or_else(|| StateError::OutBusy(out.to_path_buf()))?;
        let pid = std::process::id();
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f");
        let name = format!("{pid}-{stamp}");
        let entry = runs.join(&name);
        std::fs::create_dir_all(&entry).map_err(io(&entry))?;
        let alive = try_lock(
            lock_file(&entry.join("alive.lock"))?,
            FlockArg::LockExclusiveNonblock,
        )
        .ok_or_else(|| StateError::Io {
            path: entry.clone(),
            source: std::io::Error::other("the run's own lock is taken"),
        })?;
        let work_dir = data_dir.join(format!("vmbench-run-{name}"));
        std::fs::create_dir_all(&work_dir).map_err(io(&work_dir))?;
        let info = RunInfo {
            pid,
            started_at: crate::now_rfc3339(),
            out: out.to_path_buf(),
            work_dir,
            cpus: cpus.map(<[usize]>::to_vec),
        };
        crate::atomic::write(&entry.join("run.json"), |w| {
            serde_json::to_writer_pretty(&mut *w, &info).map_err(std::io::Error::from)
        })
        .map_err(|e| StateError::Io {
            path: entry.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Run {
            info,
            entry,
            _alive: alive,
            host,
            _out: out_guard,
            out_lock,
            state,
        })
    }

    /// Other live runs now (for the noise record of a trial).
    pub fn others_alive(&self) -> usize {
        live_runs(&self.state)
            .iter()
            .filter(|r| r.pid != self.info.pid)
            .count()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.info.work_dir);
        let _ = std::fs::remove_dir_all(&self.entry);
        // Shared leftovers go only when no other run is alive: drop our shared lock and try
        // for the exclusive one.
        // The results file's lock goes while still held (see `lock_linked`).
        let _ = std::fs::remove_file(&self.out_lock);
        drop(self.host.take());
        if let Ok(file) = lock_file(&self.state.join("host.lock")) {
            if let Some(exclusive) = try_lock(file, FlockArg::LockExclusiveNonblock) {
                remove_shared(&mut Vec::new(), false);
                drop(exclusive);
            }
        }
    }
}

/// A short, stable key for a path (its canonical form hashed), for lock file names.
fn path_key(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let folder = crate::atomic::folder_of(path);
    let canonical = std::fs::canonicalize(folder)
        .unwrap_or_else(|_| folder.to_path_buf())
        .join(path.file_name().unwrap_or_default());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    vmbench_workload::view::hex(&digest[..8])
}

/// Registry entries whose lock is held: runs that are alive.
pub fn live_runs(state: &Path) -> Vec<RunInfo> {
    entries(state)
        .into_iter()
        .filter(|(_, alive, _)| *alive)
        .filter_map(|(_, _, info)| info)
        .collect()
}

/// Every registry entry: its folder, whether its owner is alive, what it said of itself.
fn entries(state: &Path) -> Vec<(PathBuf, bool, Option<RunInfo>)> {
    let Ok(dir) = std::fs::read_dir(state.join("runs")) else {
        return Vec::new();
    };
    dir.flatten()
        .map(|e| {
            let path = e.path();
            let alive = std::fs::File::open(path.join("alive.lock"))
                .ok()
                .is_some_and(|f| try_lock(f, FlockArg::LockExclusiveNonblock).is_none());
            let info = std::fs::read(path.join("run.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            (path, alive, info)
        })
        .collect()
}

/// Removes what dead runs left behind and reports each thing removed (or, with `dry_run`,
/// only reports it). Safe while other runs are alive: it touches only what a dead owner made,
/// and what all runs share only when no other run is alive.
pub fn clean(dry_run: bool) -> Vec<String> {
    let state = state_dir();
    let mut report = Vec::new();
    for (entry, alive, info) in entries(&state) {
        if alive {
            continue;
        }
        if let Some(info) = &info {
            if info.work_dir.exists() {
                report.push(format!(
                    "work files of dead run {} ({})",
                    info.pid,
                    info.work_dir.display()
                ));
                if !dry_run {
                    let _ = std::fs::remove_dir_all(&info.work_dir);
                }
            }
        }
        if !dry_run {
            let _ = std::fs::remove_dir_all(&entry);
        }
    }
    report.extend(remove_stale_locks(&state, dry_run));
    // Engines' containers first: they hold cgroups under vmbench's parents. An ordinary user
    // sees only their own (rootless Podman's storage is theirs).
    report.extend(crate::env::container::engine::remove_dead(dry_run));
    if nix::unistd::geteuid().is_root() {
        // What only root can make: KSM settings, links and NAT rules.
        report.extend(crate::density::ksm::restore_dead(
            Path::new(crate::density::ksm::HOST),
            Path::new(crate::density::ksm::SAVED),
            dry_run,
        ));
        report.extend(crate::net::remove_dead(dry_run));
    }
    // Root's cgroups, or an ordinary user's under the subtree delegated to them.
    report.extend(crate::env::container::cgroup::remove_dead(dry_run));
    report.extend(crate::env::container::image::remove_dead_staging(
        &crate::cache::cache_dir(),
        dry_run,
    ));
    report.extend(crate::env::vm::kernel::remove_dead_staging(
        &crate::cache::cache_dir(),
        dry_run,
    ));
    report.extend(
        crate::cache::remove_dead_staging(&crate::cache::cache_dir().join("fleet"), dry_run)
            .into_iter()
            .map(|p| format!("half-built fleet image {}", p.display())),
    );
    report.extend(crate::env::vm::snapshot::remove_dead_staging(
        &crate::cache::cache_dir(),
        dry_run,
    ));
    let exclusive = lock_file(&state.join("host.lock"))
        .ok()
        .and_then(|f| try_lock(f, FlockArg::LockExclusiveNonblock));
    if exclusive.is_some() {
        remove_shared(&mut report, dry_run);
    }
    report
}

/// What runs share, and leftovers of versions that did not own their files: removed when no
/// run is alive.
fn remove_shared(report: &mut Vec<String>, dry_run: bool) {
    report.extend(crate::env::container::cgroup::remove_empty_parents(dry_run));
    report.extend(crate::env::container::image::remove_legacy(
        &crate::cache::cache_dir(),
        dry_run,
    ));
    for (dir, prefix) in [
        ("/tmp", "vmbench-oci-"),
        ("/tmp", "vmbench-kernel-"),
        ("/var/tmp", "vmbench-data-"),
        ("/var/tmp", "vmbench-disk-"),
    ] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) && owned_by_me(&e.path()) {
                report.push(format!("leftover {}", e.path().display()));
                if !dry_run {
                    let _ = std::fs::remove_dir_all(e.path())
                        .or_else(|_| std::fs::remove_file(e.path()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_read_from_names() {
        assert_eq!(owner_of("vmbench-4242-7"), Some(4242));
        assert_eq!(owner_of("vmbench-run-1-x"), None);
        assert_eq!(owner_of("other"), None);
        assert!(pid_alive(std::process::id() as i32));
        assert!(!pid_alive(-1));
    }

    #[test]
    fn only_locks_no_run_holds_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("out-stale.lock");
        let held_path = dir.path().join("out-held.lock");
        let other = dir.path().join("alive.lock");
        std::fs::write(&stale, "").unwrap();
        std::fs::write(&other, "").unwrap();
        let held = lock_linked(&held_path).unwrap().unwrap();
        assert!(
            lock_linked(&held_path).unwrap().is_none(),
            "a held lock is not taken twice"
        );
        let listed = remove_stale_locks(dir.path(), true);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(stale.exists(), "a dry run removes nothing");
        remove_stale_locks(dir.path(), false);
        assert!(!stale.exists());
        assert!(held_path.exists() && other.exists());
        drop(held);
    }

    #[test]
    fn a_lock_unlinked_while_taken_is_taken_again_on_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out-x.lock");
        let first = lock_linked(&path).unwrap().unwrap();
        std::fs::remove_file(&path).unwrap();
        // The first holder's file is gone: a newcomer locks a new file, not the old one.
        let second = lock_linked(&path).unwrap().expect("the new file is free");
        use std::os::unix::fs::MetadataExt;
        assert_ne!(
            first.metadata().unwrap().ino(),
            second.metadata().unwrap().ino()
        );
    }
}
