//! The network path for real: net-rr and net-stream with the peer on the host, through the
//! native loopback, a veth and a bridge with DNAT for namespace containers (builtin and crun),
//! a tap with virtio-net and slirp for the TCG guest; every path recorded, only link-local
//! addresses used, and nothing (interfaces, namespaces, NAT rules, QEMU) left behind after a
//! clean run, a Ctrl-C, or a SIGKILL followed by the next run's clean-up.

mod common;

use serial_test::serial;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use vmbench::env::EnvKind;
use vmbench::net::NetPath;
use vmbench::results::Results;
use vmbench_workload::Workload;

fn net_capable(test: &str, vm: bool) -> bool {
    let tools = ["ip", "iptables"]
        .iter()
        .all(|t| vmbench::tool::which(t).is_some());
    let qemu = !vm || vmbench::env::vm::find_qemu(None).is_ok();
    let crun = vmbench::tool::which("crun").is_some();
    common::capability(
        test,
        common::is_root(),
        "needs root (namespaces, veths, NAT)",
    ) && common::capability(
        test,
        tools,
        "ip or iptables missing (apt-get install iproute2 iptables)",
    ) && common::capability(test, crun, "crun missing (apt-get install crun)")
        && common::capability(
            test,
            qemu,
            "qemu-system-x86_64 missing (apt-get install qemu-system-x86)",
        )
}

fn background(args: &[&str], out: &Path) -> std::process::Child {
    common::process()
        .arg("run")
        .args(args)
        .args(["--quiet", "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the run with `pid` has wired something whose description passes `is`.
fn wait_for_wiring(pid: u32, what: &str, is: impl Fn(&str) -> bool) {
    let start = Instant::now();
    while !vmbench::net::leftovers()
        .iter()
        .any(|l| l.owner == pid as i32 && is(&l.what))
    {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "run {pid} never wired a {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts the run with `pid` left nothing: processes, cgroups, files, links, rules.
fn assert_nothing_left(pid: u32) {
    let left = common::settled_leftovers(pid);
    assert!(left.is_empty(), "run {pid} left {left:?}");
}

#[test]
#[serial]
fn every_path_is_measured_and_recorded_and_nothing_is_left() {
    let test = "every_path_is_measured_and_recorded_and_nothing_is_left";
    if !net_capable(test, true) {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("net.json");
    // The issue's own command.
    let (pid, run) = common::run_to_end(
        "run",
        &[
            "--env",
            "native,container,container-crun,vm",
            "--workload",
            "net-rr,net-stream",
            "--reps",
            "5",
        ],
        &out,
    );
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    let r = Results::load(&out).unwrap();
    let vm = *r
        .config
        .envs
        .iter()
        .find(|e| e.family() == vmbench::ids::Family::Vm)
        .expect("a VM ran");
    for (env, paths) in [
        (EnvKind::Native, vec![NetPath::Loopback]),
        (EnvKind::Container, vec![NetPath::Veth, NetPath::BridgeDnat]),
        (
            EnvKind::ContainerCrun,
            vec![NetPath::Veth, NetPath::BridgeDnat],
        ),
        (vm, vm.net_paths(vmbench::net::vhost_available()).to_vec()),
    ] {
        for w in [Workload::NetRr, Workload::NetStream] {
            let trials: Vec<_> = r
                .measured()
                .filter(|t| t.env == env && t.workload == w)
                .collect();
            assert_eq!(trials.len(), 5, "{env} {w}");
            for t in trials {
                assert_eq!(t.error, None, "{env} {w} rep {}", t.rep);
                let record = t.net.as_ref().expect("the paths are recorded");
                let got: Vec<NetPath> = record.paths.iter().map(|p| p.path).collect();
                assert_eq!(got, paths, "{env} {w}");
                for p in &record.paths {
                    let ip: std::net::SocketAddr = p.connect.parse().unwrap();
                    let std::net::IpAddr::V4(v4) = ip.ip() else {
                        panic!("IPv4 expected: {}", p.connect)
                    };
                    assert!(
                        v4.is_loopback() || v4.is_link_local(),
                        "{} is not link-local",
                        p.connect
                    );
                    let names: &[&str] = match w {
                        Workload::NetRr => &["round_trip", "round_trip_p99"],
                        _ => &["stream_in", "stream_out"],
                    };
                    for name in names {
                        let name = format!("{name}{}", p.metric_suffix);
                        let m = t.metrics.iter().find(|m| m.name == name);
                        let v = m.unwrap_or_else(|| panic!("{env} {w}: no {name}")).value;
                        assert!(v.is_finite() && v > 0.0, "{env} {w} {name} = {v}");
                    }
                }
                if w == Workload::NetRr {
                    let p50 = t.metrics[0].value;
                    let p99 = t
                        .metrics
                        .iter()
                        .find(|m| m.name == "round_trip_p99")
                        .unwrap();
                    assert!(p99.value >= p50, "p99 {} below p50 {p50}", p99.value);
                }
            }
        }
    }
    let html = common::rendered(&[&out], &dir.path().join("net.html"));
    assert!(html.contains("Network path"));
    for label in ["loopback", "veth", "bridge+dnat", "slirp", "Felter"] {
        assert!(html.contains(label), "the network section lacks {label}");
    }
    assert_nothing_left(pid);
}

#[test]
#[serial]
fn an_mtu_sweep_sets_each_link_names_its_figures_and_times_both_placements() {
    let test = "an_mtu_sweep_sets_each_link_names_its_figures_and_times_both_placements";
    if !net_capable(test, true) {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("mtu.json");
    let (pid, run) = common::run_to_end(
        "run",
        &[
            "--env",
            "native,container,vm-tcg",
            "--workload",
            "net-rr,net-stream",
            "--size",
            "small",
            "--mtu",
            "9000,65520",
            "--reps",
            "2",
            "--cpus",
            "1",
        ],
        &out,
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r = Results::load(&out).unwrap();
    assert_eq!(r.config.mtus, [9000, 65520]);
    for t in r.measured() {
        assert_eq!(t.error, None, "{} {} rep {}", t.env, t.workload, t.rep);
        let record = t.net.as_ref().expect("the paths are recorded");
        // Repetitions rotate through the MTUs, warm-ups counted; the headline's figures keep
        // their names.
        let choice = vmbench::net::MtuChoice::of_rep(&[9000, 65520], t.rep);
        let at = choice.mtu.unwrap();
        assert_eq!(record.instance_cpus.as_deref(), Some(&[1usize][..]));
        assert_eq!(
            record.placement,
            Some(vmbench::results::Placement::CrossCpu)
        );
        for p in &record.paths {
            let (mtu, mtu_suffix) = match p.path {
                NetPath::Loopback => (65536, ""),
                NetPath::Slirp => (1500, ""),
                _ if at == 9000 => (at, ""),
                _ => (at, "_mtu65520"),
            };
            assert_eq!(p.mtu, Some(mtu), "{} {} {}", t.env, p.path, t.rep);
            let suffix = format!("{}{mtu_suffix}", p.path.metric_suffix());
            assert_eq!(p.metric_suffix, suffix, "{} {}", t.env, p.path);
            let names: &[&str] = match t.workload {
                Workload::NetRr => &["round_trip", "round_trip_same_cpu"],
                _ => &["stream_in", "stream_out"],
            };
            for name in names {
                let name = format!("{name}{suffix}");
                let m = t.metrics.iter().find(|m| m.name == name);
                let v = m
                    .unwrap_or_else(|| panic!("{} {}: no {name}", t.env, t.workload))
                    .value;
                assert!(v.is_finite() && v > 0.0, "{} {name} = {v}", t.env);
            }
        }
    }
    let html = common::rendered(&[&out], &dir.path().join("mtu.html"));
    for cell in [
        "veth · MTU 9000",
        "veth · MTU 65520",
        "MTU 65520",
        "peer on the instance",
    ] {
        assert!(html.contains(cell), "the network section lacks {cell}");
    }
    assert_nothing_left(pid);
}

#[test]
#[serial]
fn ctrl_c_during_a_wired_guest_removes_its_tap_and_the_containers_wiring() {
    let test = "ctrl_c_during_a_wired_guest_removes_its_tap_and_the_containers_wiring";
    if !net_capable(test, true) {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("c.json");
    let mut child = background(
        &[
            "--env",
            "container,vm",
            "--workload",
            "net-stream",
            "--reps",
            "3",
            "--warmup",
            "0",
        ],
        &out,
    );
    let pid = child.id();
    wait_for_wiring(pid, "NAT rule", |w| w.starts_with("NAT rule"));
    // A tap's name ends in `t`: the guest is being wired or runs.
    wait_for_wiring(pid, "tap", |w| {
        w.starts_with("interface") && w.ends_with('t')
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1));
    assert_nothing_left(pid);
}

#[test]
#[serial]
fn a_killed_runs_wiring_is_listed_by_doctor_and_removed_by_clean() {
    let test = "a_killed_runs_wiring_is_listed_by_doctor_and_removed_by_clean";
    if !net_capable(test, false) {
        return;
    }
    let dir = common::scratch();
    let mut child = background(
        &[
            "--env",
            "container",
            "--workload",
            "net-rr",
            "--reps",
            "20",
            "--warmup",
            "0",
        ],
        &dir.path().join("k.json"),
    );
    let pid = child.id();
    wait_for_wiring(pid, "NAT rule", |w| w.starts_with("NAT rule"));
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<String> = common::leftovers(pid)
        .into_iter()
        .filter(|l| l.contains("interface") || l.contains("NAT") || l.contains("namespace"))
        .collect();
    assert!(left.len() >= 3, "the killed run's wiring: {left:?}");
    let doctor = common::vmbench().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    for what in ["NAT rule", "network namespace", "interface vmb"] {
        assert!(
            text.contains(what),
            "doctor does not list the {what}: {text}"
        );
    }
    let clean = common::vmbench().arg("clean").output().unwrap();
    assert!(clean.status.success());
    assert_nothing_left(pid);
}

#[test]
fn environments_without_a_wired_path_skip_network_workloads_with_the_reason() {
    for kind in [
        EnvKind::ContainerDocker,
        EnvKind::ContainerPodman,
        EnvKind::ContainerGvisor,
        EnvKind::VmTcgSnapshot,
    ] {
        let why = vmbench::env::wired(kind, Workload::NetRr).unwrap_err();
        assert!(why.contains("net-rr needs a network path"), "{kind}: {why}");
        assert!(vmbench::env::wired(kind, Workload::CpuInt).is_ok());
    }
    for kind in [
        EnvKind::Native,
        EnvKind::Container,
        EnvKind::ContainerRunc,
        EnvKind::VmTcg,
    ] {
        assert!(
            vmbench::env::wired(kind, Workload::NetStream).is_ok(),
            "{kind}"
        );
    }
}

#[test]
#[serial]
fn a_warm_instance_serves_every_run_on_its_one_listener() {
    let test = "a_warm_instance_serves_every_run_on_its_one_listener";
    if !net_capable(test, false) {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("w.json");
    let run = common::vmbench()
        .args([
            "run",
            "--env",
            "native,container",
            "--workload",
            "net-rr,net-stream",
        ])
        .args(["--mode", "warm", "--reps", "3", "--warmup", "1"])
        .args([
            "--fixed-size",
            "--size",
            "small",
            "--timeout",
            "60",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r = Results::load(&out).unwrap();
    for env in [EnvKind::Native, EnvKind::Container] {
        for w in [Workload::NetRr, Workload::NetStream] {
            let reps: Vec<u32> = r
                .measured()
                .filter(|t| t.env == env && t.workload == w)
                .inspect(|t| assert_eq!(t.error, None, "{env} {w} rep {}", t.rep))
                .inspect(|t| assert!(t.metrics[0].value > 0.0 && t.net.is_some()))
                .map(|t| t.rep)
                .collect();
            assert_eq!(
                reps,
                [1, 2, 3],
                "{env} {w}: one trial per run of the instance"
            );
        }
    }
}
