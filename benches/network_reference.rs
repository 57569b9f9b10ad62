//! vmbench's network path beside independent tools over the same paths, measured side by side
//! in one run, order alternating rep by rep after a dropped warm-up:
//!
//! - `net-stream` host → instance against `iperf3` (its server where the instance listens: on
//!   the host's loopback, in the container's network namespace, or in a bench-only guest with
//!   the same kernel, QEMU command line and wiring as the run's VM), with iperf2 (`iperf`) printed
//!   beside it as a second opinion, not held to the target;
//! - in that guest, vmbench's own peer against the workload binary's server too, so that both
//!   cross the same boot, in rounds (the first dropped), each of vmbench's figures right before
//!   or after the reference's; vmbench's run (a boot of its own) is printed beside it, not held
//!   to the target: a guest's figures move by tens of percent from one boot to the next;
//! - `net-rr`'s p50 round trip against `sockperf ping-pong --tcp` (Debian's sockperf; iperf3
//!   has no round trip), both with the peer as a run places it (off the instance's CPU) and
//!   with the peer on the instance's CPU;
//! - the same at each `--mtu` (1500, 9000, 65520) for the container's veth and the guest's tap.
//!
//! Per path it prints both figures, their ratio, the reference's own spread between consecutive
//! reps and the target (within 10%), and exits 1 when a path misses it. `cargo bench --bench
//! network_reference` (needs root, iperf3, iperf, sockperf and busybox-static;
//! VMBENCH_BENCH_REPS sets the repetitions, 10 by default; a guest gets a third of them as
//! boots of the bench guest, each with its own rounds;
//! VMBENCH_BENCH_ENVS=native,vm-tcg picks environments; VMBENCH_BENCH_CONSOLE=1 prints the
//! bench guest's console; VMBENCH_BENCH_DEBUG=1 prints iperf3's sender and receiver figures
//! and each round in the bench guest).

mod common;
#[path = "network_guest/mod.rs"]
mod guest;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use vmbench::env::container;
use vmbench::env::container::cgroup::{self, Cgroup, Layout, Limits};
use vmbench::env::{Accel, EnvKind, Environment};
use vmbench::ids::NetMetric;
use vmbench::net::peer::{Load, Peer};
use vmbench::net::{MtuChoice, NetPath, PathEnd, Wiring};
use vmbench_workload::{Size, Workload};

/// The largest distance from the reference a figure may have.
const TARGET: f64 = 0.10;

/// Where the instance and the peer run, as taskset lists, and the cgroup limits a container
/// instance of the bench gets.
struct Placement {
    instance: Option<Vec<usize>>,
    workload: String,
    harness: String,
    limits: Limits,
}

impl Placement {
    fn new((binary, data): (&Path, &Path)) -> Placement {
        let allowed = vmbench::config::allowed_cpus();
        let list = |xs: &[usize]| {
            xs.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let cpu = common::workload_cpu();
        let harness: Vec<usize> = allowed
            .iter()
            .copied()
            .filter(|c| Some(*c) != cpu)
            .collect();
        if let Some(c) = cpu {
            vmbench::pinning::move_harness_off(&[c]);
        }
        let instance = cpu.map(|c| vec![c]);
        // The spec a run gives a container instance of the bench (vmbench_rep's).
        let spec = common::spec(
            binary,
            data,
            Workload::NetRr,
            Size::Default,
            instance.as_deref(),
            None,
        );
        let limits = container::instance_limits(&spec, container::DEFAULT_PIDS_MAX);
        Placement {
            limits,
            instance,
            workload: cpu.map_or_else(|| list(&allowed), |c| c.to_string()),
            harness: list(if harness.is_empty() {
                &allowed
            } else {
                &harness
            }),
        }
    }
}

/// One figure on one path: vmbench's and the reference's values, rep by rep.
#[derive(Default)]
struct Pair {
    /// vmbench's run (for a guest: its own boot).
    ours: Vec<f64>,
    /// The reference, paired with `ours` (for a guest: the median of its rounds in one boot).
    theirs: Vec<f64>,
    /// vmbench's peer against the workload binary's server in the reference's boot of the
    /// bench guest, round by round (guests only).
    ours_one_guest: Vec<f64>,
    /// The reference in the same rounds, each paired with `ours_one_guest`'s.
    theirs_one_guest: Vec<f64>,
}

/// The figures of one path.
#[derive(Default)]
struct PathPairs {
    stream: Pair,
    /// iperf2's stream, a second opinion (vmbench's figures are `stream`'s).
    stream_iperf2: Pair,
    rtt: Pair,
    rtt_same_cpu: Pair,
}

/// One round's figures on one path, kept only where both tools gave one.
#[derive(Default, Clone, Copy, Debug)]
struct Round {
    stream: (Option<f64>, Option<f64>),
    iperf2: Option<f64>,
    rtt: (Option<f64>, Option<f64>),
    rtt_same_cpu: (Option<f64>, Option<f64>),
}

/// Runs the client `args` (a tool and its arguments) on `cpus`, each try at most `limit`
/// seconds, until `figure` finds its number in the output (the server may not listen yet),
/// starting no try after 30 s.
fn client(
    args: &[String],
    cpus: &str,
    limit: u32,
    figure: impl Fn(&[u8]) -> Option<f64>,
) -> Option<f64> {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let out = Command::new("timeout")
            .args([&limit.to_string(), "taskset", "-c", cpus])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if let Some(v) = figure(&out.stdout) {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// The host and port arguments most clients take.
fn at(addr: SocketAddr) -> [String; 4] {
    [
        "-c".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
    ]
}

/// Gbit/s an iperf3 client on `cpus` reads sending `mib` MiB to `addr` (the receiver's figure).
fn iperf3_client(addr: SocketAddr, mib: u64, cpus: &str) -> Option<f64> {
    let mut args = vec!["iperf3".to_string()];
    args.extend(at(addr));
    args.extend(["-n".into(), format!("{mib}M"), "-J".into()]);
    client(&args, cpus, 60, |out| {
        let json: serde_json::Value = serde_json::from_slice(out).unwrap_or_default();
        let end = &json["end"];
        if std::env::var_os("VMBENCH_BENCH_DEBUG").is_some() {
            eprintln!(
                "iperf3 {addr}: sent {} Gbit/s over {} s, received {} Gbit/s over {} s",
                end["sum_sent"]["bits_per_second"].as_f64().unwrap_or(0.0) / 1e9,
                end["sum_sent"]["seconds"],
                end["sum_received"]["bits_per_second"]
                    .as_f64()
                    .unwrap_or(0.0)
                    / 1e9,
                end["sum_received"]["seconds"],
            );
        }
        Some(end["sum_received"]["bits_per_second"].as_f64()? / 1e9)
    })
}

/// Gbit/s of an iperf2 client (`iperf`, a program apart from iperf3) on `cpus` sending `mib`
/// MiB to `addr`.
fn iperf2_client(addr: SocketAddr, mib: u64, cpus: &str) -> Option<f64> {
    let mut args = vec!["iperf".to_string()];
    args.extend(at(addr));
    // CSV: …,interval,bytes,bits per second
    args.extend(["-n".into(), format!("{mib}M"), "-y".into(), "C".into()]);
    client(&args, cpus, 60, |out| {
        let text = String::from_utf8_lossy(out);
        let bps: f64 = text.lines().last()?.rsplit(',').next()?.parse().ok()?;
        (bps > 0.0).then_some(bps / 1e9)
    })
}

/// The p50 round trip in µs of a sockperf TCP ping-pong client on `cpus` against `addr`,
/// `seconds` long after its 0.4 s warm-up.
fn sockperf_client(addr: SocketAddr, cpus: &str, seconds: u32) -> Option<f64> {
    let mut args: Vec<String> = ["sockperf", "ping-pong", "--tcp", "--full-rtt"]
        .map(String::from)
        .to_vec();
    let [_, ip, _, port] = at(addr);
    args.extend(["-i".into(), ip, "-p".into(), port]);
    args.extend(["-m".into(), "14".into(), "-t".into(), seconds.to_string()]);
    client(&args, cpus, 30, |out| {
        let text = String::from_utf8_lossy(out);
        let line = text.lines().find(|l| l.contains("percentile 50.000"))?;
        line.rsplit('=').next()?.trim().parse().ok()
    })
}

/// A server of `tool` where the instance of a container's or the host's wiring would listen,
/// on the workload's CPUs, and for a container in a cgroup with the instance's limits; killed
/// (and its cgroup removed) when dropped.
struct Server(std::process::Child, Option<Cgroup>);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a bench guest needs: the run's VM settings, its accelerator, the bench initramfs.
struct GuestKit {
    vm: vmbench::env::vm::VmSettings,
    accel: Accel,
    initrd: std::path::PathBuf,
}

fn server(tool: &str, wiring: &Wiring, place: &Placement) -> Option<Server> {
    let port = match &wiring.netns {
        Some(_) => vmbench_workload::kernels::serve::PORT,
        None => wiring.paths[0].connect.port(),
    }
    .to_string();
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &place.workload]);
    if let Some(ns) = &wiring.netns {
        cmd.args(["ip", "netns", "exec", ns]);
    }
    match tool {
        "iperf3" => cmd.args(["iperf3", "-s", "-p", &port]),
        "iperf" => cmd.args(["iperf", "-s", "-p", &port]),
        _ => cmd
            .args(["sockperf", "sr", "--tcp", "-p", &port, "-i"])
            .arg(if wiring.netns.is_some() {
                "0.0.0.0"
            } else {
                "127.0.0.1"
            }),
    };
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    // Killed with the bench, however it ends.
    let child = vmbench::tool::spawn_tied(&mut cmd, tool).ok()?;
    let pid = child.id() as i32;
    let mut server = Server(child, None);
    if wiring.netns.is_some() {
        // As the instance's: a task in a cgroup of its own, sharing a CPU with the peer, is
        // scheduled as a group (taskset, ip and the tool are one process, exec after exec).
        let cgroup = instance_cgroup(place).and_then(|c| c.attach(pid).map(|()| c));
        match cgroup {
            Ok(c) => server.1 = Some(c),
            Err(e) => println!("  {tool}'s server stays out of a cgroup: {e}"),
        }
    }
    Some(server)
}

/// A cgroup with the limits a run gives the bench's container instance.
fn instance_cgroup(place: &Placement) -> Result<Cgroup, cgroup::CgroupError> {
    let name = container::instance_name();
    Cgroup::create(&Layout::probe()?, &cgroup::own(), &name, &place.limits)
}

/// The references on every path of a host's or a container's `wiring`, their servers where
/// the instance listens.
fn host_references(
    wiring: &Wiring,
    mib: u64,
    place: &Placement,
    pairs: &mut [PathPairs],
    keep: bool,
) {
    // sockperf first: it binds without SO_REUSEADDR, so it could not listen on a port whose
    // connections iperf3 just left in TIME_WAIT; iperf3 sets it.
    if let Some(_s) = server("sockperf", wiring, place) {
        for (p, end) in pairs.iter_mut().zip(&wiring.paths) {
            let v = sockperf_client(end.connect, &place.harness, 2);
            p.rtt.theirs.extend(v.filter(|_| keep));
            let v = sockperf_client(end.connect, &place.workload, 2);
            p.rtt_same_cpu.theirs.extend(v.filter(|_| keep));
        }
    }
    if let Some(_s) = server("iperf3", wiring, place) {
        for (p, end) in pairs.iter_mut().zip(&wiring.paths) {
            let v = iperf3_client(end.connect, mib, &place.harness);
            p.stream.theirs.extend(v.filter(|_| keep));
        }
    }
    if let Some(_s) = server("iperf", wiring, place) {
        for (p, end) in pairs.iter_mut().zip(&wiring.paths) {
            let v = iperf2_client(end.connect, mib, &place.harness);
            p.stream_iperf2.theirs.extend(v.filter(|_| keep));
        }
    }
}

/// vmbench's own peer (the code a run drives) against the workload binary's server in the bench
/// guest over `end` alone: net-stream's inbound stream, or net-rr's round trips in both
/// placements.
fn peer_in_guest(
    end: &PathEnd,
    workload: Workload,
    size: Size,
    place: &Placement,
) -> [Option<f64>; 3] {
    let load = Load {
        workload,
        size,
        runs: 1,
        instance_cpus: place.instance.clone(),
    };
    let (runs, failed) = Peer::start(load, vec![end.clone()], Duration::from_secs(300)).wait();
    if let Some(e) = failed {
        println!("  vmbench's peer in the bench guest: {e}");
    }
    let value = |m: NetMetric| {
        let name = m.with_suffix(&end.suffix);
        let metrics = runs.first()?;
        metrics.iter().find(|x| x.name == name).map(|x| x.value)
    };
    match workload {
        Workload::NetStream => [value(NetMetric::StreamIn), None, None],
        _ => [
            None,
            value(NetMetric::RoundTrip),
            value(NetMetric::RoundTripSameCpu),
        ],
    }
}

/// Rounds of vmbench's peer and the references in one boot of the bench guest, after one
/// dropped round that warms the guest's translated code up.
const ROUNDS_PER_BOOT: usize = 4;

/// One round in a booted bench guest, path by path, each of vmbench's figures measured right
/// before or right after the reference's (vmbench's first when `ours_first`): a guest's
/// throughput moves by half within one boot, from one stream to the next.
fn guest_round(
    wiring: &Wiring,
    size: Size,
    place: &Placement,
    g: &guest::Guest,
    ours_first: bool,
) -> Vec<Round> {
    let mib = vmbench_workload::kernels::Params::for_size(size).path_stream_mib;
    let round = |end: &PathEnd| {
        let ours = |workload, size| peer_in_guest(end, workload, size, place);
        let first = ours_first.then(|| ours(Workload::NetStream, size)[0]);
        let iperf3 = iperf3_client(g.reference(end, guest::IPERF3_PORT), mib, &place.harness);
        let iperf2 = iperf2_client(g.reference(end, guest::IPERF2_PORT), mib, &place.harness);
        let stream = first.unwrap_or_else(|| ours(Workload::NetStream, size)[0]);
        let at = g.reference(end, guest::SOCKPERF_PORT);
        // About as long as sockperf's second: 10 000 trips at 100 to 200 µs.
        let first = ours_first.then(|| ours(Workload::NetRr, Size::Default));
        let rtt = sockperf_client(at, &place.harness, 1);
        let same = sockperf_client(at, &place.workload, 1);
        let trips = first.unwrap_or_else(|| ours(Workload::NetRr, Size::Default));
        let r = Round {
            stream: (stream, iperf3),
            iperf2,
            rtt: (trips[1], rtt),
            rtt_same_cpu: (trips[2], same),
        };
        if std::env::var_os("VMBENCH_BENCH_DEBUG").is_some() {
            eprintln!("round on {} (vmbench first: {ours_first}): {r:?}", end.path);
        }
        r
    };
    wiring.paths.iter().map(round).collect()
}

/// Adds one boot's rounds of a path: each round where both tools gave a figure pairs them (for
/// the stream: where iperf3 and iperf2 both did, so that both lines pair the same rounds of the
/// peer), and the reference's median over the boot pairs with vmbench's run (its own boot).
fn add_rounds(p: &mut PathPairs, rounds: &[Round]) {
    let pair_up = |pair: &mut Pair, rounds: &[(f64, f64)], all: &[Option<f64>]| {
        for (ours, theirs) in rounds {
            pair.ours_one_guest.push(*ours);
            pair.theirs_one_guest.push(*theirs);
        }
        let all: Vec<f64> = all.iter().flatten().copied().collect();
        pair.theirs.extend(vmbench::stats::median(&all));
    };
    let both = |(a, b): (Option<f64>, Option<f64>)| a.zip(b);
    let streams: Vec<_> = rounds
        .iter()
        .filter_map(|r| Some((both(r.stream)?, r.iperf2?)))
        .collect();
    let iperf3: Vec<_> = streams.iter().map(|s| s.0).collect();
    let iperf2: Vec<_> = streams
        .iter()
        .map(|&((ours, _), theirs)| (ours, theirs))
        .collect();
    let all = |f: fn(&Round) -> Option<f64>| rounds.iter().map(f).collect::<Vec<_>>();
    pair_up(&mut p.stream, &iperf3, &all(|r| r.stream.1));
    pair_up(&mut p.stream_iperf2, &iperf2, &all(|r| r.iperf2));
    let rtt: Vec<_> = rounds.iter().filter_map(|r| both(r.rtt)).collect();
    pair_up(&mut p.rtt, &rtt, &all(|r| r.rtt.1));
    let same: Vec<_> = rounds.iter().filter_map(|r| both(r.rtt_same_cpu)).collect();
    pair_up(&mut p.rtt_same_cpu, &same, &all(|r| r.rtt_same_cpu.1));
}

/// One repetition of the references over every path of a fresh wiring of `kind` at `mtu`; in
/// a guest, rounds of vmbench's peer and the references in one boot (always kept: each boot
/// drops its own warm-up round), vmbench's first in the first kept round when `ours_first`.
fn reference_rep(
    kind: EnvKind,
    mtu: MtuChoice,
    size: Size,
    place: &Placement,
    kit: Option<&GuestKit>,
    pairs: &mut [PathPairs],
    (keep, ours_first): (bool, bool),
) {
    let Ok(Some(wiring)) = Wiring::for_env(kind, mtu) else {
        return;
    };
    let Some(kit) = kit else {
        let mib = vmbench_workload::kernels::Params::for_size(size).path_stream_mib;
        return host_references(&wiring, mib, place, pairs, keep);
    };
    let booted = guest::Guest::boot(&kit.vm, kit.accel, &kit.initrd, &wiring, &place.workload);
    let g = match booted {
        Ok(g) => g,
        Err(e) => return println!("  {e}"),
    };
    // The warm-up round: its figures are dropped.
    guest_round(&wiring, size, place, &g, !ours_first);
    let mut rounds: Vec<Vec<Round>> = vec![Vec::new(); wiring.paths.len()];
    for round in 0..ROUNDS_PER_BOOT {
        let figures = guest_round(&wiring, size, place, &g, ours_first == (round % 2 == 0));
        for (r, f) in rounds.iter_mut().zip(figures) {
            r.push(f);
        }
    }
    for (p, r) in pairs.iter_mut().zip(&rounds) {
        add_rounds(p, r);
    }
}

/// One repetition of vmbench's net-stream and net-rr in `env` at `mtu`.
#[allow(clippy::too_many_arguments)]
fn vmbench_rep(
    env: &dyn Environment,
    mtu: MtuChoice,
    size: Size,
    paths: &[NetPath],
    place: &Placement,
    (binary, data): (&Path, &Path),
    pairs: &mut [PathPairs],
    keep: bool,
) {
    let cpus = place.instance.as_deref();
    let suffix = |p: &NetPath| {
        format!(
            "{}{}",
            p.metric_suffix(),
            p.mtu_suffix(mtu.mtu, mtu.headline)
        )
    };
    for (workload, size) in [
        (Workload::NetStream, size),
        (Workload::NetRr, Size::Default),
    ] {
        let spec = common::spec(binary, data, workload, size, cpus, None);
        let (Ok(o), _) = vmbench::runner::launch_wired(env, spec, mtu) else {
            continue;
        };
        let Some(result) = o.observed.results.first() else {
            continue;
        };
        let value = |name: String| {
            result
                .metrics
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.value)
                .filter(|_| keep)
        };
        for (i, p) in paths.iter().enumerate() {
            let s = suffix(p);
            match workload {
                Workload::NetStream => pairs[i].stream.ours.extend(value(format!("stream_in{s}"))),
                _ => {
                    pairs[i].rtt.ours.extend(value(format!("round_trip{s}")));
                    let same = value(format!("round_trip_same_cpu{s}"));
                    pairs[i].rtt_same_cpu.ours.extend(same);
                }
            }
        }
    }
}

/// Prints one comparison line of `ours` against `theirs`: both medians, the median of the
/// rep-by-rep ratios (each pair measured back to back, so a drift of the shared host moves
/// both), and the reference's own spread: the median distance between two of its consecutive
/// reps, below which no tool can be shown to agree with it; false when the ratio misses the
/// target, unless `not_held` says why the line is printed without being held to it.
fn line(what: &str, ours: &[f64], theirs: &[f64], unit: &str, not_held: Option<&str>) -> bool {
    let med = |xs: &[f64]| vmbench::stats::median(xs);
    let ratios: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a / b).collect();
    let own: Vec<f64> = theirs
        .windows(2)
        .map(|w| (w[1] / w[0] - 1.0).abs())
        .collect();
    let spread = med(&own).map_or_else(|| "n/a".into(), |s| format!("±{:.0}%", s * 100.0));
    let fmt = |v: Option<f64>| v.map_or_else(|| "n/a".into(), |v| format!("{v:.2} {unit}"));
    let (ratio, ok) = match med(&ratios).filter(|_| ours.len() == theirs.len()) {
        Some(r) => (format!("{r:.3}x"), (r - 1.0).abs() <= TARGET),
        None => ("n/a".into(), false),
    };
    println!(
        "{what:<70} {:>13} {:>13}  ratio {ratio:<7} (n={}, reference's own spread {spread:>4}) \
         target: within {:.0}%  {}",
        fmt(med(ours)),
        fmt(med(theirs)),
        ratios.len(),
        TARGET * 100.0,
        match (not_held, ok) {
            (Some(why), _) => why,
            (None, true) => "ok",
            (None, false) => "MISSED",
        }
    );
    ok || not_held.is_some()
}

/// Prints the lines of `ours` against `theirs` (vmbench's figures and the reference's); for a
/// guest, vmbench's peer in the reference's own boot, round by round, held to the target, and
/// vmbench's run in a boot of its own beside the reference's median in its boot, printed only:
/// a guest's figures move by tens of percent from one boot to the next. False when one missed.
fn lines(what: &str, ours: &Pair, theirs: &Pair, unit: &str, guest: bool, held: bool) -> bool {
    let second = (!held).then_some("(a second opinion, not held to it)");
    if !guest {
        return line(what, &ours.ours, &theirs.theirs, unit, second);
    }
    let one = &format!("{what}, same boot");
    let one = line(
        one,
        &ours.ours_one_guest,
        &theirs.theirs_one_guest,
        unit,
        second,
    );
    let run = format!("{what}, vmbench's run");
    let apart = second.or(Some("(separate boots: printed, not held to it)"));
    line(&run, &ours.ours, &theirs.theirs, unit, apart);
    one
}

/// Compares `env` with the references at `mtu`; false when a path missed.
fn compare(
    env: &dyn Environment,
    mtu: MtuChoice,
    reps: usize,
    place: &Placement,
    kit: Option<&GuestKit>,
    files: (&Path, &Path),
) -> bool {
    let kind = env.kind();
    let paths = kind.net_paths(vmbench::net::vhost_available()).to_vec();
    let guest = kit.is_some() && matches!(kind, EnvKind::VmKvm | EnvKind::VmTcg);
    // A guest's stream at the default size (256 MiB), the others at the large (1 GiB): long
    // enough that set-up and the last acknowledgement weigh nothing.
    let size = if guest { Size::Default } else { Size::Large };
    // A guest's boot has ROUNDS_PER_BOOT pairs of its own.
    let reps = if guest { reps.div_ceil(3).max(2) } else { reps };
    let mut pairs: Vec<PathPairs> = paths.iter().map(|_| PathPairs::default()).collect();
    let kit = kit.filter(|_| guest);
    for rep in 0..=reps {
        // Rep 0 warms both up and is dropped; the order alternates rep by rep.
        let keep = rep > 0;
        let ours_first = rep % 2 == 0;
        if ours_first {
            vmbench_rep(env, mtu, size, &paths, place, files, &mut pairs, keep);
        }
        // A guest warms up in each boot: no reference boot to drop.
        if keep || kit.is_none() {
            reference_rep(kind, mtu, size, place, kit, &mut pairs, (keep, ours_first));
        }
        if !ours_first {
            vmbench_rep(env, mtu, size, &paths, place, files, &mut pairs, keep);
        }
    }
    let at = mtu.mtu.map(|m| format!(" MTU {m}")).unwrap_or_default();
    let mut ok = true;
    for (p, pair) in paths.iter().zip(&pairs) {
        let what = format!("{kind} {p}{at}");
        let (stream, rtt, same) = (&pair.stream, &pair.rtt, &pair.rtt_same_cpu);
        let vs = |tool: &str| format!("{what} stream vs {tool}");
        ok &= lines(&vs("iperf3"), stream, stream, "Gbit/s", guest, true);
        let iperf2 = &pair.stream_iperf2;
        lines(&vs("iperf2"), stream, iperf2, "Gbit/s", guest, false);
        let p50 = format!("{what} p50 vs sockperf");
        ok &= lines(&p50, rtt, rtt, "µs", guest, true);
        let same_cpu = format!("{what} p50, peer on its CPU, vs sockperf");
        ok &= lines(&same_cpu, same, same, "µs", guest, true);
    }
    ok
}

fn main() {
    let reps: usize = std::env::var("VMBENCH_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    for tool in ["iperf3", "iperf", "sockperf"] {
        if vmbench::tool::which(tool).is_none() {
            println!("skip network_reference: {tool} not installed (apt-get install {tool})");
            return;
        }
    }
    let (binary, data) = common::binary_and_scratch();
    let vm_kind = if vmbench::env::vm::accel::kvm_usable().is_ok() {
        EnvKind::VmKvm
    } else {
        EnvKind::VmTcg
    };
    let kinds = [
        EnvKind::Native,
        EnvKind::Container,
        EnvKind::ContainerCrun,
        vm_kind,
    ];
    let workloads = [Workload::NetRr, Workload::NetStream];
    // VMBENCH_BENCH_ENVS=container,vm-tcg: only those.
    let only = std::env::var("VMBENCH_BENCH_ENVS").unwrap_or_default();
    let kinds: Vec<EnvKind> = kinds
        .into_iter()
        .filter(|k| only.is_empty() || only.split(',').any(|o| o == k.name()))
        .collect();
    let envs = common::prepared(&kinds, &workloads, &binary, data.path());
    let kit = guest_kit(&binary, &workloads, data.path(), vm_kind);
    let files = (binary.path.as_path(), data.path());
    let place = Placement::new(files);
    println!(
        "network path, {reps} runs each (a guest: a third as boots, {ROUNDS_PER_BOOT} rounds each), instance on CPU {}, peer on {}:  vmbench | reference",
        place.workload, place.harness
    );
    let mut ok = true;
    for env in &envs {
        ok &= compare(
            env.as_ref(),
            MtuChoice::default(),
            reps,
            &place,
            kit.as_ref(),
            files,
        );
    }
    println!("\nMTU sweep (veth and tap; the bridge and slirp rows ride along):");
    for env in envs.iter().filter(|e| {
        matches!(e.kind(), EnvKind::Container)
            || matches!(e.kind(), EnvKind::VmKvm | EnvKind::VmTcg)
    }) {
        for mtu in vmbench::ids::net_path::MTU_CHOICES {
            let choice = MtuChoice {
                mtu: Some(mtu),
                headline: Some(mtu),
            };
            ok &= compare(
                env.as_ref(),
                choice,
                reps.div_ceil(2),
                &place,
                kit.as_ref(),
                files,
            );
        }
    }
    if !ok {
        println!("\nnetwork_reference: at least one path missed its target");
        std::process::exit(1);
    }
}

/// The bench guest's parts, when a VM environment can run here.
fn guest_kit(
    binary: &vmbench::results::BinaryInfo,
    workloads: &[Workload],
    data: &Path,
    kind: EnvKind,
) -> Option<GuestKit> {
    let mut host = vmbench::session::host_facts();
    let config = vmbench::config::RunConfig {
        workloads: workloads.to_vec(),
        data_dir: data.to_path_buf(),
        ..Default::default()
    };
    let cache = vmbench::cache::cache_dir();
    let vm = vmbench::env::vm::prepare(binary, &config, &cache, data, &mut host)
        .map_err(|e| println!("skip the bench guest: {}", vmbench::error_chain(&e)))
        .ok()?;
    let initrd = guest::initramfs(&vm, &binary.path, data)
        .map_err(|e| println!("skip the bench guest: {e}"))
        .ok()?;
    let accel = match kind {
        EnvKind::VmKvm => Accel::Kvm,
        _ => Accel::Tcg,
    };
    Some(GuestKit { vm, accel, initrd })
}
