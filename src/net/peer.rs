//! The host's end of net-rr and net-stream: a thread started before the instance that connects
//! to it on each of its paths once it listens, drives the traffic, and times it on the host's
//! clock. Round trips go into an HDR histogram (p50 and p99); streams are timed from the first
//! byte sent to the receiver's count (host → instance) or to the end of the stream (instance
//! → host).

use super::PathEnd;
use crate::ids::NetMetric;
use hdrhistogram::Histogram;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vmbench_workload::kernels::serve::{END, GO, ROUND_TRIPS, SINK, SOURCE};
use vmbench_workload::kernels::Params;
use vmbench_workload::{Better, Metric, Size, Workload};

/// How long one read or write may stall before the path is declared broken.
const STALL: Duration = Duration::from_secs(20);
/// Round trips made before the timed ones, to warm caches and TCP state.
const WARM_TRIPS: u64 = 100;

/// What the peer drives: the workload, its amount of work, and the instance's runs.
#[derive(Debug, Clone)]
pub struct Load {
    /// net-rr or net-stream.
    pub workload: Workload,
    /// The amount of work.
    pub size: Size,
    /// Runs in this instance (warm mode runs several).
    pub runs: u32,
    /// The CPUs the instance is pinned to: round trips are timed a second time with the peer
    /// moved onto them.
    pub instance_cpus: Option<Vec<usize>>,
}

/// What the peer measured: one set of metrics per finished run, and why it stopped early, if
/// it did.
pub type Driven = (Vec<Vec<Metric>>, Option<String>);

/// A running peer; [`Peer::finish`] stops it and returns its figures.
pub struct Peer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Driven>,
}

impl Peer {
    /// Starts the peer for `paths`, giving up `limit` from now. It runs where the harness
    /// runs: off the workload's CPUs when the workload is pinned.
    pub fn start(load: Load, paths: Vec<PathEnd>, limit: Duration) -> Peer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + limit;
            drive(&load, &paths, &flag, deadline)
        });
        Peer { stop, handle }
    }

    /// Waits until the peer has driven every run it was given and returns what it measured.
    pub fn wait(self) -> Driven {
        self.handle
            .join()
            .unwrap_or_else(|_| (Vec::new(), Some("the network peer panicked".into())))
    }

    /// Stops the peer (the instance has ended) and returns what it measured.
    pub fn finish(self) -> Driven {
        self.stop.store(true, Ordering::Relaxed);
        self.wait()
    }
}

/// The CPUs a peer started now may run on.
pub fn cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    let Ok(set) = sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|c| set.is_set(*c).unwrap_or(false))
        .collect()
}

fn drive(load: &Load, paths: &[PathEnd], stop: &AtomicBool, deadline: Instant) -> Driven {
    let params = Params::for_size(load.size);
    let mut runs = Vec::new();
    for run in 0..load.runs {
        let measured = paths
            .iter()
            .map(|end| {
                match load.workload {
                    Workload::NetRr => {
                        let trips = params.path_round_trips;
                        let cpus = load.instance_cpus.as_deref();
                        both_placements(end, trips, cpus, stop, deadline)
                    }
                    _ => streams(end, params.path_stream_mib << 20, stop, deadline),
                }
                .map_err(|e| format!("{} path to {}: {e}", end.path, end.connect))
            })
            .collect::<Result<Vec<Vec<Metric>>, String>>()
            .and_then(|metrics| {
                end_run(&paths[0], stop, deadline)?;
                Ok(metrics.concat())
            });
        match measured {
            Ok(metrics) => runs.push(metrics),
            Err(e) => {
                // Let the instance end now rather than at its timeout: each run it still has
                // is closed (what it can, within a few seconds).
                let soon = Instant::now() + Duration::from_secs(3);
                for _ in run..load.runs {
                    let _ = end_run(&paths[0], stop, soon.min(deadline));
                }
                return (runs, Some(e));
            }
        }
    }
    (runs, None)
}

/// Tells the instance its run is over, and waits (a few seconds at most) for it to close the
/// connection: a user-space stack (slirp4netns) that sees the close before it has reached
/// the instance drops the byte, and the instance would wait for its timeout.
fn end_run(end: &PathEnd, stop: &AtomicBool, deadline: Instant) -> Result<(), String> {
    let mut s = connect(end, stop, deadline)?;
    s.write_all(&[END])
        .map_err(|e| format!("end the run on {}: {e}", end.connect))?;
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_millis(1), Duration::from_secs(3));
    let _ = s.set_read_timeout(Some(wait));
    let _ = s.read(&mut [0u8; 1]);
    Ok(())
}

/// Connects to the instance on `end`, retrying until it listens, it ends, or the deadline.
fn connect(end: &PathEnd, stop: &AtomicBool, deadline: Instant) -> Result<TcpStream, String> {
    let mut last = String::from("not tried");
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        match TcpStream::connect_timeout(&end.connect, Duration::from_millis(250)) {
            Ok(s) => {
                s.set_read_timeout(Some(STALL)).map_err(|e| e.to_string())?;
                s.set_write_timeout(Some(STALL))
                    .map_err(|e| e.to_string())?;
                return Ok(s);
            }
            Err(e) => {
                last = e.to_string();
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    Err(format!(
        "the instance never accepted a connection on {} ({}; last error: {last})",
        end.connect, end.path
    ))
}

fn metric(name: NetMetric, end: &PathEnd, value: f64, unit: &str, better: Better) -> Metric {
    Metric {
        name: name.with_suffix(&end.suffix),
        value,
        unit: unit.into(),
        better,
    }
}

/// Round trips as a run places the peer (off the instance's CPUs when it is pinned: each trip
/// wakes the other CPU), then, when the two share no CPU, with the peer moved onto the
/// instance's CPUs for a second set, whose median is `round_trip_same_cpu`.
fn both_placements(
    end: &PathEnd,
    trips: u64,
    instance_cpus: Option<&[usize]>,
    stop: &AtomicBool,
    deadline: Instant,
) -> Result<Vec<Metric>, String> {
    let mut metrics = round_trips(end, trips, stop, deadline)?;
    let own = cpus();
    let placement = crate::results::Placement::of(&own, instance_cpus);
    let Some(instance) = instance_cpus.filter(|_| placement == crate::results::Placement::CrossCpu)
    else {
        return Ok(metrics);
    };
    pin_this_thread(instance)?;
    let same = round_trips(end, trips, stop, deadline);
    pin_this_thread(&own)?;
    let median = same?
        .into_iter()
        .find(|m| m.name == NetMetric::RoundTrip.with_suffix(&end.suffix));
    if let Some(m) = median {
        metrics.push(metric(
            NetMetric::RoundTripSameCpu,
            end,
            m.value,
            "us",
            Better::Lower,
        ));
    }
    Ok(metrics)
}

/// Moves the calling thread onto `cpus`.
fn pin_this_thread(cpus: &[usize]) -> Result<(), String> {
    use nix::sched::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c).map_err(|e| format!("CPU {c}: {e}"))?;
    }
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| format!("move the peer onto CPUs {cpus:?}: {e}"))
}

fn round_trips(
    end: &PathEnd,
    trips: u64,
    stop: &AtomicBool,
    deadline: Instant,
) -> Result<Vec<Metric>, String> {
    let mut s = open(end, &[ROUND_TRIPS], stop, deadline)?;
    let io = |e: std::io::Error| e.to_string();
    s.set_nodelay(true).map_err(io)?;
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?;
    let mut byte = [7u8; 1];
    for i in 0..WARM_TRIPS + trips {
        let t = Instant::now();
        s.write_all(&byte).map_err(io)?;
        s.read_exact(&mut byte).map_err(io)?;
        if i >= WARM_TRIPS {
            hist.saturating_record(t.elapsed().as_nanos() as u64);
        }
    }
    drop(s);
    let us = |ns: u64| ns as f64 / 1e3;
    Ok(vec![
        metric(
            NetMetric::RoundTrip,
            end,
            us(hist.value_at_quantile(0.5)),
            "us",
            Better::Lower,
        ),
        metric(
            NetMetric::RoundTripP99,
            end,
            us(hist.value_at_quantile(0.99)),
            "us",
            Better::Lower,
        ),
        metric(
            NetMetric::RoundTripMean,
            end,
            hist.mean() / 1e3,
            "us",
            Better::Lower,
        ),
    ])
}

/// A connection the instance serves: `header` sent and its go-ahead received. A connection
/// that ends before the go-ahead (a user-space stack accepted it on the host before the
/// instance listened, then reset it) is made again until the deadline.
fn open(
    end: &PathEnd,
    header: &[u8],
    stop: &AtomicBool,
    deadline: Instant,
) -> Result<TcpStream, String> {
    loop {
        let mut s = connect(end, stop, deadline)?;
        let mut byte = [0u8; 1];
        match s.write_all(header).and_then(|()| s.read_exact(&mut byte)) {
            Ok(()) if byte == [GO] => return Ok(s),
            Ok(()) => {
                return Err(format!(
                    "the instance answered {:#x} instead of its go-ahead",
                    byte[0]
                ))
            }
            Err(_) if Instant::now() < deadline && !stop.load(Ordering::Relaxed) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("no go-ahead from the instance: {e}")),
        }
    }
}

/// The instance's count of the bytes it received, read while the stream goes on: as a
/// continuous sender does (iperf3), the peer keeps the path busy with `filler` until the count
/// arrives, which the instance discards. A stream that stops dead leaves its tail in a
/// user-space forwarder's buffer on some paths (Debian's 2023 pasta held it until more data
/// came), and the count never came.
fn count_back(s: &mut TcpStream, filler: &[u8]) -> std::io::Result<u64> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    s.set_nonblocking(true)?;
    let mut count = [0u8; 8];
    let mut got = 0;
    let stall = PollTimeout::try_from(STALL).unwrap_or(PollTimeout::MAX);
    while got < count.len() {
        let mut fds = [PollFd::new(
            s.as_fd(),
            PollFlags::POLLIN | PollFlags::POLLOUT,
        )];
        if poll(&mut fds, stall)? == 0 {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        let ready = fds[0].revents().unwrap_or(PollFlags::empty());
        if ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match s.read(&mut count[got..]) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        } else if ready.contains(PollFlags::POLLOUT) {
            match s.write(filler) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
    s.set_nonblocking(false)?;
    Ok(u64::from_le_bytes(count))
}

fn streams(
    end: &PathEnd,
    bytes: u64,
    stop: &AtomicBool,
    deadline: Instant,
) -> Result<Vec<Metric>, String> {
    let gbit = |n: u64, d: Duration| n as f64 * 8.0 / d.as_secs_f64() / 1e9;
    // Host → instance: timed until the instance's count arrives, so every byte was received.
    // The length goes first and the count answers it: no half-close, whose delivery a
    // user-space stack may delay (slirp4netns held it for seconds) or turn into a reset.
    let mut announce = vec![SINK];
    announce.extend(bytes.to_le_bytes());
    let mut s = open(end, &announce, stop, deadline)?;
    let chunk = vec![0xa5u8; 1 << 17];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < bytes {
        let n = chunk.len().min((bytes - sent) as usize);
        s.write_all(&chunk[..n])
            .map_err(|e| format!("host → instance, after {sent} of {bytes} bytes sent: {e}"))?;
        sent += n as u64;
    }
    let count = count_back(&mut s, &chunk)
        .map_err(|e| format!("host → instance, all {bytes} bytes sent, no count back: {e}"))?;
    let inbound = start.elapsed();
    if count != sent {
        return Err(format!("sent {sent} bytes, the instance received {count}"));
    }
    // Closed: the instance drains the filler until it sees the end.
    drop(s);
    // Instance → host: timed from the request to the end of the stream.
    let mut request = vec![SOURCE];
    request.extend(bytes.to_le_bytes());
    let mut s = open(end, &request, stop, deadline)?;
    let start = Instant::now();
    let mut buf = vec![0u8; 1 << 17];
    let mut received = 0u64;
    // Timed to the last byte asked for, not to the stream's end of file.
    while received < bytes {
        let n = s.read(&mut buf).map_err(|e| {
            format!("instance → host, after {received} of {bytes} bytes received: {e}")
        })?;
        if n == 0 {
            break;
        }
        received += n as u64;
    }
    let outbound = start.elapsed();
    if received != bytes {
        return Err(format!("asked for {bytes} bytes, received {received}"));
    }
    Ok(vec![
        metric(
            NetMetric::StreamIn,
            end,
            gbit(sent, inbound),
            "Gbit/s",
            Better::Higher,
        ),
        metric(
            NetMetric::StreamOut,
            end,
            gbit(received, outbound),
            "Gbit/s",
            Better::Higher,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn end_at(listener: &TcpListener) -> PathEnd {
        PathEnd {
            path: crate::net::NetPath::Loopback,
            connect: listener.local_addr().unwrap(),
            instance: "test".into(),
            host_link: None,
            mtu: 65536,
            suffix: String::new(),
        }
    }

    /// An end on a free port of 127.0.0.1 nothing listens on yet, and its address to serve on.
    fn free_end() -> (PathEnd, String) {
        let end = end_at(&TcpListener::bind("127.0.0.1:0").unwrap());
        let bind = end.connect.to_string();
        (end, bind)
    }

    fn load(workload: Workload, runs: u32) -> Load {
        Load {
            workload,
            size: Size::Small,
            runs,
            instance_cpus: None,
        }
    }

    #[test]
    fn the_instances_end_is_timed_for_every_run() {
        let (end, bind) = free_end();
        let server = std::thread::spawn(move || {
            (0..2)
                .map(|_| vmbench_workload::kernels::serve::serve(&bind))
                .collect::<Result<Vec<_>, _>>()
        });
        let peer = Peer::start(load(Workload::NetRr, 2), vec![end], Duration::from_secs(60));
        // As in a launch: the instance ends (both its runs served), then the peer is stopped.
        assert_eq!(server.join().unwrap().unwrap().len(), 2);
        let (runs, stopped) = peer.finish();
        assert_eq!(stopped, None);
        assert_eq!(runs.len(), 2);
        for metrics in &runs {
            let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    NetMetric::RoundTrip,
                    NetMetric::RoundTripP99,
                    NetMetric::RoundTripMean
                ]
                .map(NetMetric::base)
            );
            assert!(metrics[0].value > 0.0 && metrics[1].value >= metrics[0].value);
        }
    }

    #[test]
    fn waiting_lets_the_peer_finish_the_streams_of_a_server_that_keeps_serving() {
        let (end, bind) = free_end();
        // A server that outlives the peer's run (as in the bench guest): only waiting ends it.
        std::thread::spawn(move || loop {
            if vmbench_workload::kernels::serve::serve(&bind).is_err() {
                break;
            }
        });
        let peer = Peer::start(
            load(Workload::NetStream, 1),
            vec![end],
            Duration::from_secs(60),
        );
        let (runs, stopped) = peer.wait();
        assert_eq!(stopped, None);
        assert_eq!(runs.len(), 1);
        let names: Vec<&str> = runs[0].iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [NetMetric::StreamIn, NetMetric::StreamOut].map(NetMetric::base)
        );
        assert!(runs[0].iter().all(|m| m.value > 0.0));
    }

    #[test]
    fn round_trips_are_timed_again_with_the_peer_on_the_instances_cpu() {
        let all = cpus();
        if all.len() < 2 {
            println!("skip: one CPU, the peer cannot be placed off the instance's");
            return;
        }
        // As a run places them: the peer off the instance's CPU.
        pin_this_thread(&all[..1]).unwrap();
        let (end, bind) = free_end();
        let instance = vec![all[1]];
        let server = {
            let instance = instance.clone();
            std::thread::spawn(move || {
                pin_this_thread(&instance).unwrap();
                vmbench_workload::kernels::serve::serve(&bind)
            })
        };
        let mut load = load(Workload::NetRr, 1);
        load.instance_cpus = Some(instance);
        let peer = Peer::start(load, vec![end], Duration::from_secs(60));
        server.join().unwrap().unwrap();
        let (runs, stopped) = peer.finish();
        pin_this_thread(&all).unwrap();
        assert_eq!(stopped, None);
        let same = runs[0]
            .iter()
            .find(|m| m.name == NetMetric::RoundTripSameCpu.base())
            .expect("a second set on the instance's CPU");
        assert!(same.value > 0.0 && same.value.is_finite());
    }

    #[test]
    fn an_instance_that_drops_the_connection_is_named_with_its_path() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let end = end_at(&listener);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
        let peer = Peer::start(
            load(Workload::NetStream, 1),
            vec![end],
            Duration::from_secs(30),
        );
        let (runs, stopped) = peer.finish();
        assert!(runs.is_empty());
        let why = stopped.expect("the failure is reported");
        assert!(why.starts_with("loopback path to 127.0.0.1:"), "{why}");
    }
}
