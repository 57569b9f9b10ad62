//! Kernel same-page merging for a density step's VMs: switched on or off for the step and
//! always put back as the host had it (on return, error or Ctrl-C), with how much it merged.
//! The host's values are also written to a file while a step holds KSM (one step at a time
//! host-wide, under a lock), so that the clean-up of a run killed with SIGKILL puts them back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Files of `/sys/kernel/mm/ksm` a step changes, restored afterwards.
const TUNED: [&str; 3] = ["run", "pages_to_scan", "sleep_millisecs"];
/// While a step merges: pages per wake-up, and the pause between wake-ups (the defaults, 100
/// pages per 20 ms, take minutes over a few GiB of guests).
const SCAN: (&str, &str) = ("4000", "10");

/// The host's KSM controls.
pub const HOST: &str = "/sys/kernel/mm/ksm";
/// Where a step keeps the host's values while it holds KSM.
pub const SAVED: &str = "/run/vmbench-ksm.saved";

/// The host's KSM.
#[derive(Debug, Clone)]
pub struct Ksm {
    dir: PathBuf,
    saved_at: PathBuf,
}

/// The host's KSM settings as they were; put back when dropped.
#[derive(Debug)]
pub struct Restore {
    dir: PathBuf,
    saved: Vec<(&'static str, String)>,
    saved_at: PathBuf,
    _lock: Option<nix::fcntl::Flock<std::fs::File>>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        put_back(&self.dir, &self.saved);
        let _ = std::fs::remove_file(&self.saved_at);
    }
}

fn put_back(dir: &Path, saved: &[(&'static str, String)]) {
    for (file, value) in saved {
        let _ = std::fs::write(dir.join(file), value);
    }
}

/// Puts back the host's KSM values that a killed run left switched (its saved file names a
/// dead process and no step holds the lock); returns what it did.
pub fn restore_dead(dir: &Path, saved_at: &Path, dry_run: bool) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(saved_at) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    let pid: Option<i32> = lines.next().and_then(|l| l.trim().parse().ok());
    if pid.is_some_and(crate::owner::pid_alive) {
        return Vec::new();
    }
    let lock = saved_at.with_extension("lock");
    let Ok(Some(_held)) = crate::cache::lock(&lock, true, false) else {
        return Vec::new();
    };
    let saved: Vec<(&'static str, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            TUNED.iter().find(|t| **t == k).map(|t| (*t, v.to_string()))
        })
        .collect();
    if !dry_run {
        put_back(dir, &saved);
        let _ = std::fs::remove_file(saved_at);
    }
    vec![format!(
        "KSM settings a killed density run had switched ({}) put back",
        saved
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )]
}

impl Ksm {
    /// KSM at `dir` (`/sys/kernel/mm/ksm`), when it is there and can be switched; the host's
    /// values are kept at `saved_at` ([`SAVED`]) while a step holds it.
    pub fn at(dir: &Path, saved_at: &Path) -> Option<Ksm> {
        let run = dir.join("run");
        let writable = std::fs::OpenOptions::new().write(true).open(&run).is_ok();
        (run.is_file() && writable).then(|| Ksm {
            dir: dir.to_path_buf(),
            saved_at: saved_at.to_path_buf(),
        })
    }

    fn read(&self, file: &str) -> Option<u64> {
        std::fs::read_to_string(self.dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Switches merging on (scanning fast) or off until the returned guard is dropped.
    pub fn set(&self, on: bool) -> Result<Restore, String> {
        let lock_path = self.saved_at.with_extension("lock");
        let lock = crate::cache::lock(&lock_path, true, true)
            .map_err(|e| format!("lock {}: {e}", lock_path.display()))?;
        let mut saved = Vec::new();
        for file in TUNED {
            let value = std::fs::read_to_string(self.dir.join(file))
                .map_err(|e| format!("read {}: {e}", self.dir.join(file).display()))?;
            saved.push((file, value.trim().to_string()));
        }
        let record: String = std::iter::once(std::process::id().to_string())
            .chain(saved.iter().map(|(k, v)| format!("{k}={v}")))
            .map(|l| l + "\n")
            .collect();
        std::fs::write(&self.saved_at, record)
            .map_err(|e| format!("write {}: {e}", self.saved_at.display()))?;
        let restore = Restore {
            dir: self.dir.clone(),
            saved,
            saved_at: self.saved_at.clone(),
            _lock: lock,
        };
        let write = |file: &str, value: &str| {
            std::fs::write(self.dir.join(file), value)
                .map_err(|e| format!("write {}: {e}", self.dir.join(file).display()))
        };
        if on {
            write("pages_to_scan", SCAN.0)?;
            write("sleep_millisecs", SCAN.1)?;
        }
        write("run", if on { "1" } else { "0" })?;
        Ok(restore)
    }

    /// Bytes merged away now (`pages_sharing` pages).
    pub fn saved_bytes(&self) -> u64 {
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096) as u64;
        self.read("pages_sharing").unwrap_or(0) * page
    }

    /// Waits until the scanner has made two full passes since now (or `limit` passed, or the
    /// user interrupted), then returns the bytes merged away.
    pub fn settle(&self, limit: Duration) -> u64 {
        let start = self.read("full_scans").unwrap_or(0);
        let end = Instant::now() + limit;
        while Instant::now() < end && !crate::interrupt::interrupted() {
            if self.read("full_scans").unwrap_or(0) >= start + 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.saved_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_put_back_however_the_step_ends() {
        let dir = tempfile::tempdir().unwrap();
        for (f, v) in [
            ("run", "0\n"),
            ("pages_to_scan", "100\n"),
            ("sleep_millisecs", "20\n"),
            ("pages_sharing", "256\n"),
        ] {
            std::fs::write(dir.path().join(f), v).unwrap();
        }
        let saved_at = dir.path().join("ksm.saved");
        let ksm = Ksm::at(dir.path(), &saved_at).unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        {
            let _on = ksm.set(true).unwrap();
            assert_eq!(read("run"), "1");
            assert_eq!(read("pages_to_scan"), "4000");
            assert!(ksm.saved_bytes() >= 256 * 4096);
        }
        assert_eq!(
            (read("run").as_str(), read("pages_to_scan").as_str()),
            ("0", "100")
        );
        let failed = std::panic::catch_unwind(|| {
            let _on = ksm.set(true).unwrap();
            panic!("a step that fails");
        });
        assert!(failed.is_err());
        assert_eq!(read("run"), "0", "restored after a panic too");
        assert!(!saved_at.exists(), "the saved values go with the step");
        assert!(Ksm::at(&dir.path().join("missing"), &saved_at).is_none());
        // A run killed while merging left its saved values: the clean-up puts them back.
        std::fs::write(dir.path().join("run"), "1").unwrap();
        std::fs::write(
            &saved_at,
            "999999999\nrun=0\npages_to_scan=100\nsleep_millisecs=20\n",
        )
        .unwrap();
        let said = restore_dead(dir.path(), &saved_at, false);
        assert_eq!(said.len(), 1, "{said:?}");
        assert_eq!(read("run"), "0");
        assert!(!saved_at.exists());
        assert!(restore_dead(dir.path(), &saved_at, false).is_empty());
    }
}
