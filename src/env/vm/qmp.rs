//! A small QMP client: JSON lines over QEMU's monitor socket, commands answered in order,
//! events kept aside and waited for by name (`MIGRATION`, `RESUME`) instead of polling.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why talking to QEMU's monitor failed.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket never accepted a connection.
    #[error("QEMU's monitor socket {path} did not accept a connection within {waited:?}")]
    Connect {
        /// The socket.
        path: String,
        /// How long we tried.
        waited: Duration,
    },
    /// Reading or writing failed (QEMU gone, or the deadline passed).
    #[error("QEMU's monitor: {0}")]
    Io(#[from] std::io::Error),
    /// QEMU answered with an error.
    #[error("QEMU refused {command}: {message}")]
    Refused {
        /// The command.
        command: String,
        /// QEMU's description.
        message: String,
    },
    /// The awaited event did not come in time.
    #[error("QEMU sent no {event} event {what} within {waited:?}")]
    NoEvent {
        /// Event name.
        event: &'static str,
        /// What was awaited.
        what: String,
        /// How long we waited.
        waited: Duration,
    },
    /// A migration ended in another state than `completed`.
    #[error("the migration ended as {0}")]
    Migration(String),
}

/// A connected monitor, capabilities negotiated.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    events: Vec<Value>,
}

impl Qmp {
    /// Connects to `path` (retrying while QEMU creates it) and leaves negotiation mode.
    pub fn connect(path: &Path, deadline: Instant) -> Result<Qmp, QmpError> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline && !crate::interrupt::interrupted() => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => {
                    return Err(QmpError::Connect {
                        path: path.display().to_string(),
                        waited: start.elapsed(),
                    })
                }
            }
        };
        let mut qmp = Qmp {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            events: Vec::new(),
        };
        qmp.read(deadline)?; // the greeting
        qmp.execute("qmp_capabilities", None, deadline)?;
        Ok(qmp)
    }

    /// The next message, or a timeout once `deadline` has passed, however many messages
    /// are still arriving (a monitor that keeps sending events cannot hold a wait open).
    fn read(&mut self, deadline: Instant) -> Result<Value, QmpError> {
        if Instant::now() >= deadline {
            return Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.reader
            .get_ref()
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        serde_json::from_str(&line).map_err(|e| QmpError::Io(e.into()))
    }

    /// Runs `command` and returns its `return` value; events that arrive meanwhile are kept.
    pub fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        deadline: Instant,
    ) -> Result<Value, QmpError> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        writeln!(self.writer, "{msg}")?;
        loop {
            let reply = self.read(deadline)?;
            if let Some(ret) = reply.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = reply.get("error") {
                return Err(QmpError::Refused {
                    command: command.to_string(),
                    message: err["desc"].as_str().unwrap_or("?").to_string(),
                });
            }
            self.events.push(reply);
        }
    }

    /// Waits for event `name` whose `data` satisfies `wanted`; returns its data.
    pub fn wait_event(
        &mut self,
        name: &'static str,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
        deadline: Instant,
    ) -> Result<Value, QmpError> {
        let start = Instant::now();
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["event"] == name && wanted(&e["data"]))
            {
                return Ok(self.events.remove(i)["data"].clone());
            }
            match self.read(deadline) {
                Ok(v) => self.events.push(v),
                Err(QmpError::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(QmpError::NoEvent {
                        event: name,
                        what: what.to_string(),
                        waited: start.elapsed(),
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for the migration (outgoing or incoming) to end; `completed` is success.
    pub fn wait_migration(&mut self, deadline: Instant) -> Result<(), QmpError> {
        let done = |d: &Value| {
            matches!(
                d["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
        };
        let data = self.wait_event("MIGRATION", "ending the migration", done, deadline)?;
        match data["status"].as_str() {
            Some("completed") => Ok(()),
            other => Err(QmpError::Migration(other.unwrap_or("?").to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A fake QEMU monitor answering from a script, one reply per command.
    fn fake(replies: Vec<&'static str>) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            writeln!(s, r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#).unwrap();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            for reply in replies {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                s.write_all(reply.as_bytes()).unwrap();
            }
            std::thread::sleep(Duration::from_millis(200));
        });
        (dir, path)
    }

    #[test]
    fn commands_return_and_events_are_kept_for_later() {
        let (_dir, path) = fake(vec![
            "{\"return\": {}}\n",
            "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"active\"}}\n{\"event\": \"MIGRATION\", \"data\": {\"status\": \"completed\"}}\n{\"return\": {}}\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such state\"}}\n",
        ]);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut qmp = Qmp::connect(&path, deadline).unwrap();
        qmp.execute(
            "migrate-incoming",
            Some(json!({"uri": "exec:cat s"})),
            deadline,
        )
        .unwrap();
        qmp.wait_migration(deadline).unwrap();
        let err = qmp.execute("cont", None, deadline).unwrap_err().to_string();
        assert!(err.contains("QEMU refused cont: no such state"), "{err}");
    }

    #[test]
    fn a_monitor_that_keeps_sending_other_events_cannot_outlast_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            writeln!(s, r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#).unwrap();
            let mut line = String::new();
            BufReader::new(s.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            s.write_all(b"{\"return\": {}}\n").unwrap();
            // Events without pause, none of them the one awaited, until the client leaves.
            while s
                .write_all(b"{\"event\": \"RTC_CHANGE\", \"data\": {\"offset\": 0}}\n")
                .is_ok()
            {}
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut qmp = Qmp::connect(&path, deadline).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let soon = Instant::now() + Duration::from_millis(300);
            let _ = tx.send(qmp.wait_migration(soon).map_err(|e| e.to_string()));
        });
        let err = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the wait ended at its deadline")
            .unwrap_err();
        assert!(
            err.contains("no MIGRATION event") || err.contains("timed out"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_migration_and_a_silent_monitor_are_named() {
        let (_dir, path) = fake(vec![
            "{\"return\": {}}\n",
            "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"failed\"}}\n{\"return\": {}}\n",
        ]);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut qmp = Qmp::connect(&path, deadline).unwrap();
        qmp.execute("migrate-incoming", None, deadline).unwrap();
        let err = qmp.wait_migration(deadline).unwrap_err().to_string();
        assert_eq!(err, "the migration ended as failed");
        let soon = Instant::now() + Duration::from_millis(50);
        let err = qmp
            .wait_event("RESUME", "after cont", |_| true, soon)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no RESUME event after cont"), "{err}");
    }
}
