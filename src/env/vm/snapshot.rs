//! A guest saved just before its workload starts, restored for every trial: the trick
//! serverless platforms use to skip kernel boot and device probing. The guest is booted once
//! per QEMU command line (kernel, initramfs, memory, vCPUs, accelerator, machine) and QEMU
//! version, its agent announces it is waiting for a plan, and QEMU saves it through QMP
//! (`stop`, then `migrate` to `exec:cat`) into the cache with its SHA-256. A restore streams
//! the state back (`-incoming defer`, `migrate-incoming`), waits for the `MIGRATION`
//! completed event, resumes the paused guest with `cont`, and sends the plan on the console.

use super::qmp::{Qmp, QmpError};
use super::VmError;
use crate::error::io_at;
pub use crate::results::SnapshotRecord;
use sha2::{Digest, Sha256};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a snapshot boot may take before it is given up.
const BOOT_LIMIT: Duration = Duration::from_secs(120);

/// Removes snapshot staging folders of runs that died while saving a guest.
pub fn remove_dead_staging(cache: &Path, dry_run: bool) -> Vec<String> {
    crate::cache::remove_dead_staging(&cache.join("snapshot"), dry_run)
        .into_iter()
        .map(|p| format!("half-saved guest snapshot {}", p.display()))
        .collect()
}

/// A saved guest ready to restore.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The state file (read-only: every restore streams it).
    pub state: PathBuf,
    /// Its record.
    pub record: SnapshotRecord,
}

/// How a trial restores a snapshot, as recorded.
pub const RESTORE: &str = "QMP migrate-incoming from exec:cat of the cached state file (streamed through the page cache), then cont";

/// The cache key of a QEMU command line and version.
pub fn key(qemu_args: &[String], qemu_version: &str) -> String {
    let mut h = Sha256::new();
    for a in qemu_args {
        h.update(a.as_bytes());
        h.update([0]);
    }
    h.update(qemu_version.as_bytes());
    hex(&h.finalize())[..24].to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

fn qmp_failed(what: &'static str) -> impl Fn(QmpError) -> VmError {
    move |e| VmError::Tool {
        what,
        detail: e.to_string(),
    }
}

/// The snapshot for this command line: the cached one when its state file still has its
/// recorded SHA-256, else a new one (a corrupt or foreign one is removed and rebuilt).
pub fn ensure(
    qemu: &Path,
    qemu_args: &[String],
    qemu_version: &str,
    cache: &Path,
    work_dir: &Path,
) -> Result<Snapshot, VmError> {
    let key = key(qemu_args, qemu_version);
    let dir = cache.join("snapshot").join(&key);
    let state = dir.join("state");
    let record_path = dir.join("record.json");
    if let Ok(text) = std::fs::read_to_string(&record_path) {
        let record: Option<SnapshotRecord> = serde_json::from_str(&text).ok();
        match record {
            Some(r) if sha256_of(&state).is_ok_and(|s| s == r.sha256) => {
                let record = SnapshotRecord {
                    path: state.clone(),
                    ..r
                };
                return Ok(Snapshot { state, record });
            }
            _ => eprintln!(
                "vmbench: the cached guest snapshot in {} is corrupt or incomplete; saving it again",
                dir.display()
            ),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let parent = cache.join("snapshot");
    let building = crate::cache::staging(&parent).map_err(io_at("create a folder in", &parent))?;
    let started = Instant::now();
    save(qemu, qemu_args, &building.path().join("state"), work_dir)?;
    let tmp_state = building.path().join("state");
    let record = SnapshotRecord {
        key,
        sha256: sha256_of(&tmp_state).map_err(io_at("read", &tmp_state))?,
        bytes: std::fs::metadata(&tmp_state)
            .map_err(io_at("read", &tmp_state))?
            .len(),
        created_ms: started.elapsed().as_secs_f64() * 1e3,
        qemu_version: qemu_version.to_string(),
        restore: RESTORE.to_string(),
        path: state.clone(),
    };
    let record_tmp = building.path().join("record.json");
    std::fs::write(
        &record_tmp,
        serde_json::to_vec_pretty(&record).expect("json"),
    )
    .map_err(io_at("write", &record_tmp))?;
    let built = building.keep();
    if std::fs::rename(&built, &dir).is_err() {
        // Another run saved the same snapshot meanwhile: use theirs.
        let _ = std::fs::remove_dir_all(&built);
    }
    let record: SnapshotRecord = std::fs::read_to_string(&record_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(record);
    Ok(Snapshot { state, record })
}

/// Kills and reaps the QEMU it holds when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boots the guest for a snapshot, waits for its agent to announce it, and saves it to
/// `state` through QMP.
fn save(qemu: &Path, qemu_args: &[String], state: &Path, work_dir: &Path) -> Result<(), VmError> {
    let socket = work_dir.join(format!("snapshot-{}.qmp", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let mut cmd = Command::new(qemu);
    cmd.args(qemu_args)
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", socket.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Running(crate::tool::spawn_tied(&mut cmd, "QEMU (saving a guest)")?);
    let stdout = child.0.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + BOOT_LIMIT;
    let ready = vmbench_workload::agent::SNAPSHOT_READY;
    let mut last = String::new();
    loop {
        if crate::interrupt::interrupted() {
            return Err(crate::tool::ToolError::Interrupted {
                what: "saving a guest snapshot".into(),
            }
            .into());
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) if line.trim() == ready => break,
            Ok(line) => last = line,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(_) => {
                return Err(VmError::Tool {
                    what: "booting the guest for a snapshot",
                    detail: format!("no {ready} line (last console line: {last:?})"),
                })
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut qmp = Qmp::connect(&socket, deadline).map_err(qmp_failed("connecting to QEMU"))?;
    let save_failed = qmp_failed("saving the guest");
    qmp.execute("stop", None, deadline).map_err(&save_failed)?;
    qmp.execute(
        "migrate-set-capabilities",
        Some(serde_json::json!({"capabilities": [{"capability": "events", "state": true}]})),
        deadline,
    )
    .map_err(&save_failed)?;
    let uri = format!("exec:cat > '{}'", state.display());
    qmp.execute("migrate", Some(serde_json::json!({ "uri": uri })), deadline)
        .map_err(&save_failed)?;
    qmp.wait_migration(deadline).map_err(&save_failed)?;
    let _ = qmp.execute("quit", None, deadline);
    let _ = std::fs::remove_file(&socket);
    drop(child);
    Ok(())
}

/// A restore in progress: its monitor socket, removed when dropped.
pub struct Restore {
    /// The socket path QEMU listens on.
    pub socket: PathBuf,
}

impl Restore {
    /// A socket for one trial's QEMU in `work_dir`.
    pub fn new(work_dir: &Path, n: u64) -> Restore {
        Restore {
            socket: work_dir.join(format!("restore-{}-{n}.qmp", std::process::id())),
        }
    }

    /// QEMU arguments that wait for the state and listen on the socket.
    pub fn args(&self) -> Vec<String> {
        vec![
            "-incoming".into(),
            "defer".into(),
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", self.socket.display()),
        ]
    }

    /// Streams `state` in, waits for the migration to complete and resumes the guest;
    /// returns the times (since `t0`) the migration completed and the guest resumed.
    pub fn resume(
        &self,
        state: &Path,
        t0: Instant,
        deadline: Instant,
    ) -> Result<(Duration, Duration), QmpError> {
        let mut qmp = Qmp::connect(&self.socket, deadline)?;
        qmp.execute(
            "migrate-set-capabilities",
            Some(serde_json::json!({"capabilities": [{"capability": "events", "state": true}]})),
            deadline,
        )?;
        let uri = format!("exec:cat '{}'", state.display());
        qmp.execute(
            "migrate-incoming",
            Some(serde_json::json!({ "uri": uri })),
            deadline,
        )?;
        qmp.wait_migration(deadline)?;
        let migrated = t0.elapsed();
        qmp.execute("cont", None, deadline)?;
        qmp.wait_event("RESUME", "after cont", |_| true, deadline)?;
        Ok((migrated, t0.elapsed()))
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_the_command_line_and_the_qemu_version() {
        let args = |m: &str| vec!["-m".to_string(), m.to_string()];
        let a = key(&args("512M"), "QEMU 7.2");
        assert_eq!(a, key(&args("512M"), "QEMU 7.2"));
        assert_ne!(a, key(&args("256M"), "QEMU 7.2"));
        assert_ne!(a, key(&args("512M"), "QEMU 8.0"));
        assert_eq!(a.len(), 24);
    }
}
