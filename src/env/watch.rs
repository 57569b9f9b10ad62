//! Watching one running instance from the host: its output is read as it arrives and each
//! protocol event is timestamped on arrival, so startup is measured on the host's
//! clock from just before launch to the `ready` line. A deadline kills the instance.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use vmbench_workload::{parse_line, Event, GuestView, Metric, Rusage};

/// Lines of non-protocol output kept for error messages.
const NOISE_KEPT: usize = 30;
/// Characters kept of each such line.
const NOISE_CHARS: usize = 512;
/// The longest line read; a longer one is an error and is skipped (the instance is untrusted:
/// its output must not grow the harness's memory without bound).
pub const MAX_LINE: usize = 256 * 1024;
/// The most protocol events one instance may send.
pub const MAX_EVENTS: usize = 100_000;
/// The most error messages kept from one instance.
const ERRORS_KEPT: usize = 20;
/// How long to wait for output to close after a kill.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(5);

/// One `result` event with its arrival time.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Arrival, since launch.
    pub at: Duration,
    /// Metrics, headline first.
    pub metrics: Vec<Metric>,
    /// The workload's own timing of the measured part.
    pub elapsed_ns: u64,
    /// The workload's resource usage.
    pub rusage: Rusage,
    /// The workload's note on how it did the work.
    pub detail: Option<String>,
}

/// Everything seen on an instance's output.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// First byte of output, since launch.
    pub first_byte: Option<Duration>,
    /// `ready` arrival and the view it carried.
    pub ready: Option<(Duration, GuestView)>,
    /// SHA-256 from the `identity` event.
    pub sha256: Option<String>,
    /// Processes and root entries from the `identity` event.
    pub identity_view: Option<(Option<usize>, Vec<String>)>,
    /// `result` events, in order.
    pub results: Vec<RunResult>,
    /// `done` arrival.
    pub done: Option<Duration>,
    /// `error` events and malformed protocol lines.
    pub errors: Vec<String>,
    /// Last lines of other output (stderr, kernel console).
    pub noise: VecDeque<String>,
    /// Output closed, since launch.
    pub closed: Option<Duration>,
    /// Killed for passing the deadline.
    pub timed_out: bool,
    /// Killed because the user interrupted the run.
    pub interrupted: bool,
    /// Protocol events received.
    pub events: usize,
    /// A kernel on the console said it panicked (a VM guest's): its message.
    pub kernel_panic: Option<String>,
    /// A kernel on the console said it ran out of memory.
    pub out_of_memory: bool,
}

impl Observed {
    /// The tail of non-protocol output, for error messages.
    pub fn noise_tail(&self, lines: usize) -> String {
        let skip = self.noise.len().saturating_sub(lines);
        self.noise
            .iter()
            .skip(skip)
            .cloned()
            .collect::<Vec<_>>()
            .join(" | ")
    }

    fn note_noise(&mut self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line: String = line.trim().chars().take(NOISE_CHARS).collect();
        if line.is_empty() {
            return;
        }
        // A guest kernel's last words; kept apart, as a long call trace follows them.
        if let Some(why) = line.split("Kernel panic - not syncing: ").nth(1) {
            self.kernel_panic
                .get_or_insert_with(|| why.trim().to_string());
        }
        if ["Out of memory", "oom-kill:", "deadlocked on memory"]
            .iter()
            .any(|m| line.contains(m))
        {
            self.out_of_memory = true;
        }
        if self.noise.len() == NOISE_KEPT {
            self.noise.pop_front();
        }
        self.noise.push_back(line);
    }

    fn error(&mut self, message: String) {
        if self.errors.len() < ERRORS_KEPT && !self.errors.contains(&message) {
            self.errors.push(message);
        }
    }

    /// Takes one line of output (without its newline) that arrived at `at`.
    fn take(&mut self, at: Duration, bytes: &[u8]) {
        let prefix = vmbench_workload::PREFIX.as_bytes();
        if !bytes.windows(prefix.len()).any(|w| w == prefix) {
            self.note_noise(bytes);
            return;
        }
        let Ok(line) = std::str::from_utf8(bytes) else {
            self.error("the instance sent a protocol line that is not UTF-8".into());
            return;
        };
        self.events += 1;
        if self.events > MAX_EVENTS {
            self.error(format!(
                "the instance sent more than {MAX_EVENTS} protocol events; the rest were ignored"
            ));
            return;
        }
        match parse_line(line) {
            Ok(None) => self.note_noise(bytes),
            Err(e) => self.error(e.to_string()),
            Ok(Some(event)) => match event {
                Event::Ready(view) => {
                    if self.ready.is_none() {
                        self.ready = Some((at, view));
                    }
                }
                Event::Identity {
                    sha256,
                    processes_visible,
                    root_entries,
                } => {
                    self.sha256 = Some(sha256);
                    self.identity_view = Some((processes_visible, root_entries));
                }
                Event::Result {
                    metrics,
                    elapsed_ns,
                    rusage,
                    detail,
                    ..
                } => self.results.push(RunResult {
                    at,
                    metrics,
                    elapsed_ns,
                    rusage,
                    detail,
                }),
                Event::Done => self.done = Some(at),
                Event::Error { message } => self.error(message.chars().take(NOISE_CHARS).collect()),
            },
        }
    }
}

/// Reads `output` until it closes, the deadline passes (then `kill` is called) or the user
/// interrupts (also `kill`). `t0` is the instant taken just before the instance was started.
///
/// Reading happens on the calling thread with `poll`: a reader thread per instance would add
/// its creation and a cross-thread hand-off to every startup figure.
pub fn watch<R: Read + AsFd>(
    mut output: R,
    t0: Instant,
    timeout: Duration,
    kill: &mut dyn FnMut(),
    on_ready: &mut dyn FnMut(),
) -> Observed {
    let mut reader = Reader::default();
    let deadline = t0
        .checked_add(timeout)
        .unwrap_or_else(|| t0 + Duration::from_secs_f64(crate::config::MAX_SECONDS));
    let mut kill_deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let seen = &mut reader.seen;
        if kill_deadline.is_none() {
            if now >= deadline {
                seen.timed_out = true;
            } else if crate::interrupt::interrupted() && seen.done.is_none() {
                // An instance that has sent `done` is left to end by itself: its work stands.
                seen.interrupted = true;
            }
            if seen.timed_out || seen.interrupted {
                kill();
                kill_deadline = Some(now + DRAIN_AFTER_KILL);
            }
        }
        let limit = kill_deadline.unwrap_or(deadline);
        if kill_deadline.is_some() && now >= limit {
            break;
        }
        let wait = limit
            .saturating_duration_since(now)
            .min(Duration::from_millis(50));
        let mut fds = [PollFd::new(output.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(wait.as_millis().max(1) as u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let was_ready = reader.seen.ready.is_some();
        let open = reader.read_from(&mut output, t0);
        if !was_ready && reader.seen.ready.is_some() {
            on_ready();
        }
        if !open {
            break;
        }
    }
    reader.seen
}

/// What a whole output says, as if it had arrived at once (for tests and fuzzing: the same
/// splitting and parsing as [`watch`]).
pub fn observe_bytes(bytes: &[u8]) -> Observed {
    let mut seen = Observed::default();
    let mut lines = Lines::default();
    for chunk in bytes.chunks(64 * 1024) {
        for line in lines.feed(chunk, &mut seen) {
            seen.take(Duration::ZERO, &line);
        }
    }
    if let Some(last) = lines.finish() {
        seen.take(Duration::ZERO, &last);
    }
    seen
}

/// One output read a piece at a time: by [`watch`], and by a caller that watches several at
/// once (a density step).
#[derive(Default)]
pub struct Reader {
    lines: Lines,
    chunk: Vec<u8>,
    /// What was seen so far.
    pub seen: Observed,
}

impl Reader {
    /// Reads what `output` has now (one read); false once it has closed.
    pub fn read_from<R: Read>(&mut self, output: &mut R, t0: Instant) -> bool {
        if self.chunk.is_empty() {
            self.chunk = vec![0u8; 64 * 1024];
        }
        let n = match output.read(&mut self.chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => 0,
        };
        let at = Instant::now().saturating_duration_since(t0);
        if n == 0 {
            if let Some(last) = self.lines.finish() {
                self.seen.take(at, &last);
            }
            self.seen.closed = Some(at);
            return false;
        }
        self.seen.first_byte.get_or_insert(at);
        for line in self.lines.feed(&self.chunk[..n], &mut self.seen) {
            self.seen.take(at, &line);
        }
        true
    }

    /// Reads until `output` closes or `limit` has passed.
    pub fn drain<R: Read + AsFd>(&mut self, output: &mut R, t0: Instant, limit: Duration) {
        let end = Instant::now() + limit;
        while self.seen.closed.is_none() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut fds = [PollFd::new(output.as_fd(), PollFlags::POLLIN)];
            let wait =
                PollTimeout::from(left.min(Duration::from_millis(50)).as_millis().max(1) as u16);
            match poll(&mut fds, wait) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            if !self.read_from(output, t0) {
                break;
            }
        }
    }
}

/// Splits output into lines, bounded: a line longer than [`MAX_LINE`] is reported once and
/// skipped up to its end.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
    skipping: bool,
}

impl Lines {
    /// The whole lines completed by `bytes`.
    fn feed(&mut self, bytes: &[u8], seen: &mut Observed) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            let ends = piece.last() == Some(&b'\n');
            let body = if ends {
                &piece[..piece.len() - 1]
            } else {
                piece
            };
            if !self.skipping {
                self.pending.extend_from_slice(body);
                if self.pending.len() > MAX_LINE {
                    seen.error(format!(
                        "the instance sent a line longer than {} KiB; it was skipped",
                        MAX_LINE / 1024
                    ));
                    self.pending = Vec::new();
                    self.skipping = true;
                }
            }
            if ends {
                if !self.skipping {
                    out.push(std::mem::take(&mut self.pending));
                }
                self.skipping = false;
            }
        }
        out
    }

    /// A last line without its newline, at the end of the output.
    fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.skipping && !self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch_bytes(bytes: &[u8]) -> Observed {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let data = bytes.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut writer, &data);
        });
        let seen = watch(
            reader,
            Instant::now(),
            Duration::from_secs(10),
            &mut || {},
            &mut || {},
        );
        feeder.join().unwrap();
        seen
    }

    #[test]
    fn hostile_output_is_bounded_and_named() {
        let ready = Event::Ready(GuestView::default()).to_line();
        let mut text = format!("{ready}\n").into_bytes();
        text.extend(vec![b'x'; MAX_LINE + 10]);
        text.extend(b"\n@vmbench {\"event\":\"nonsense\"}\n");
        text.extend(b"@vmbench \xff\xfe\n");
        text.extend(format!("{}\n", Event::Done.to_line()).into_bytes());
        let seen = watch_bytes(&text);
        assert!(seen.ready.is_some() && seen.done.is_some());
        let errors = seen.errors.join(" | ");
        assert!(errors.contains("longer than 256 KiB"), "{errors}");
        assert!(errors.contains("malformed protocol line"), "{errors}");
        assert!(errors.contains("not UTF-8"), "{errors}");
        assert!(seen.noise.iter().all(|l| l.len() <= NOISE_CHARS));
    }

    #[test]
    fn a_flood_of_events_stops_being_read_at_the_bound() {
        let line = format!("{}\n", Event::Done.to_line());
        let text = line.repeat(MAX_EVENTS + 50);
        let seen = watch_bytes(text.as_bytes());
        assert_eq!(seen.events, MAX_EVENTS + 50);
        assert!(seen.errors[0].contains("more than"), "{:?}", seen.errors);
    }

    #[test]
    fn protocol_lines_are_timestamped_and_noise_is_kept_aside() {
        let ready = Event::Ready(GuestView::default()).to_line();
        let text = format!(
            "[    0.1] booting\n{ready}\n{}\n{}\n",
            Event::Identity {
                sha256: "ab".into(),
                processes_visible: Some(1),
                root_entries: vec![],
            }
            .to_line(),
            Event::Done.to_line()
        );
        let (reader, mut writer) = std::io::pipe().unwrap();
        std::io::Write::write_all(&mut writer, text.as_bytes()).unwrap();
        drop(writer);
        let t0 = Instant::now();
        let mut readies = 0;
        let seen = watch(
            reader,
            t0,
            Duration::from_secs(5),
            &mut || panic!("no kill expected"),
            &mut || readies += 1,
        );
        assert_eq!(readies, 1);
        assert!(seen.ready.is_some());
        assert_eq!(seen.sha256.as_deref(), Some("ab"));
        assert!(seen.done.is_some() && seen.closed.is_some());
        assert_eq!(seen.noise_tail(5), "[    0.1] booting");
        assert!(!seen.timed_out);
    }

    #[test]
    fn a_silent_instance_is_killed_at_the_deadline() {
        let (reader, writer) = std::io::pipe().unwrap();
        let mut writer = Some(writer);
        let t0 = Instant::now();
        let mut kills = 0;
        let seen = watch(
            reader,
            t0,
            Duration::from_millis(100),
            &mut || {
                kills += 1;
                writer.take();
            },
            &mut || {},
        );
        assert!(seen.timed_out);
        assert_eq!(kills, 1);
        assert!(t0.elapsed() >= Duration::from_millis(100));
        assert!(seen.ready.is_none());
    }
}
