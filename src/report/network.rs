//! The network path: round-trip latency (net-rr) and stream throughput (net-stream) between the
//! host and each environment, one row per environment and path, each with its ratio to the
//! native loopback and the verdict of the one rule (see [`crate::stats::verdict`]).

use crate::ids::{EnvKind, NetMetric, NetPath};
use crate::results::Results;
use crate::stats::{self, Ratio, Verdict};
use serde::Serialize;
use vmbench_workload::{Better, Workload};

/// One figure of a path: its median over the measured trials, and its comparison with native.
#[derive(Debug, Clone, Serialize)]
pub struct PathFigure {
    /// Trials that measured it.
    pub n: usize,
    /// Median value.
    pub median: f64,
    /// Ratio to native's loopback, with its CI.
    pub ratio: Option<Ratio>,
    /// What the ratio says.
    pub verdict: Option<Verdict>,
}

/// One environment's path.
#[derive(Debug, Clone, Serialize)]
pub struct PathRow {
    /// The environment.
    pub env: EnvKind,
    /// The path.
    pub path: NetPath,
    /// The path's link MTU in these trials, when recorded.
    pub mtu: Option<u32>,
    /// Median round trip (p50 of each trial's histogram), µs.
    pub rtt: Option<PathFigure>,
    /// Median of each trial's p99 round trip, µs.
    pub rtt_p99: Option<f64>,
    /// Median round trip with the peer moved onto the instance's CPU, µs.
    pub rtt_same_cpu: Option<f64>,
    /// Stream host → instance, Gbit/s.
    pub stream_in: Option<PathFigure>,
    /// Stream instance → host, Gbit/s.
    pub stream_out: Option<PathFigure>,
}

/// The section: every path the run measured.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkView {
    /// Rows in run order, each environment's headline path first.
    pub rows: Vec<PathRow>,
}

/// One path as `env`'s trials recorded it: the path, its metric suffix, its MTU.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    path: NetPath,
    suffix: String,
    mtu: Option<u32>,
}

/// (rep, value) of `metric` with `suffix` in the successful measured trials of `w` in `env`.
fn values(
    results: &Results,
    w: Workload,
    env: EnvKind,
    metric: NetMetric,
    suffix: &str,
) -> Vec<(u32, f64)> {
    let name = metric.with_suffix(suffix);
    results
        .succeeded(env)
        .filter(|t| t.workload == w)
        .filter_map(|t| {
            let m = t.metrics.iter().find(|m| m.name == name)?;
            Some((t.rep, m.value))
        })
        .collect()
}

/// The paths `env`'s trials recorded, headline first, each MTU of a sweep after its path's
/// headline: what the run's host wired (vhost-net or not), not what the host rendering the
/// report would wire.
fn recorded_paths(results: &Results, env: EnvKind) -> Vec<Recorded> {
    let mut out: Vec<Recorded> = Vec::new();
    for net in results
        .measured()
        .filter(|t| t.env == env)
        .filter_map(|t| t.net.as_ref())
    {
        for p in &net.paths {
            if !out.iter().any(|r| r.suffix == p.metric_suffix) {
                out.push(Recorded {
                    path: p.path,
                    suffix: p.metric_suffix.clone(),
                    mtu: p.mtu,
                });
            }
        }
    }
    let order: Vec<NetPath> = out.iter().fold(Vec::new(), |mut seen, r| {
        if !seen.contains(&r.path) {
            seen.push(r.path);
        }
        seen
    });
    let swept = |r: &Recorded| r.suffix.contains("_mtu");
    out.sort_by_key(|r| {
        let path = order.iter().position(|p| *p == r.path);
        (path, swept(r), r.mtu)
    });
    out
}

/// A figure of `xs` (rep, value) with its paired ratio to `native`'s and its verdict.
pub(super) fn figure(
    xs: &[(u32, f64)],
    native: &[(u32, f64)],
    better: Better,
    margin: f64,
) -> Option<PathFigure> {
    let plain: Vec<f64> = xs.iter().map(|(_, x)| *x).collect();
    let median = stats::median(&plain)?;
    let ratio = (!native.is_empty())
        .then(|| stats::paired_ratio(xs, native))
        .flatten();
    Some(PathFigure {
        n: xs.len(),
        median,
        verdict: ratio.map(|r| stats::verdict(&r, better, margin)),
        ratio,
    })
}

impl NetworkView {
    /// The section of `results`, when it measured a network path.
    pub fn of(results: &Results, envs: &[EnvKind], margin: f64) -> Option<NetworkView> {
        let mut rows = Vec::new();
        let native = |w, metric| values(results, w, EnvKind::Native, metric, "");
        let (rtt0, in0, out0) = (
            native(Workload::NetRr, NetMetric::RoundTrip),
            native(Workload::NetStream, NetMetric::StreamIn),
            native(Workload::NetStream, NetMetric::StreamOut),
        );
        for &env in envs {
            // Native is the baseline: its row has no ratio.
            let base = |xs: &[(u32, f64)]| {
                if env == EnvKind::Native {
                    Vec::new()
                } else {
                    xs.to_vec()
                }
            };
            let (rtt0, in0, out0) = (base(&rtt0), base(&in0), base(&out0));
            for recorded in recorded_paths(results, env) {
                let of = |w, metric| values(results, w, env, metric, &recorded.suffix);
                let rtt = of(Workload::NetRr, NetMetric::RoundTrip);
                let plain = |metric| -> Option<f64> {
                    let xs: Vec<f64> = of(Workload::NetRr, metric)
                        .into_iter()
                        .map(|(_, x)| x)
                        .collect();
                    stats::median(&xs)
                };
                let row = PathRow {
                    env,
                    path: recorded.path,
                    mtu: recorded.mtu,
                    rtt: figure(&rtt, &rtt0, Better::Lower, margin),
                    rtt_p99: plain(NetMetric::RoundTripP99),
                    rtt_same_cpu: plain(NetMetric::RoundTripSameCpu),
                    stream_in: figure(
                        &of(Workload::NetStream, NetMetric::StreamIn),
                        &in0,
                        Better::Higher,
                        margin,
                    ),
                    stream_out: figure(
                        &of(Workload::NetStream, NetMetric::StreamOut),
                        &out0,
                        Better::Higher,
                        margin,
                    ),
                };
                if row.rtt.is_some() || row.stream_in.is_some() {
                    rows.push(row);
                }
            }
        }
        (!rows.is_empty()).then_some(NetworkView { rows })
    }

    /// The row of `env`'s `path` at its headline MTU, when measured.
    pub fn row(&self, env: EnvKind, path: NetPath) -> Option<&PathRow> {
        self.rows.iter().find(|r| r.env == env && r.path == path)
    }

    /// Whether a run swept `--mtu`: some path has rows at several MTUs.
    pub fn swept(&self) -> bool {
        self.rows.iter().enumerate().any(|(i, a)| {
            self.rows[..i]
                .iter()
                .any(|b| b.env == a.env && b.path == a.path && b.mtu != a.mtu)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Trial;
    use vmbench_workload::Metric;

    fn trial(env: EnvKind, w: Workload, rep: u32, metrics: &[(&str, f64)]) -> Trial {
        let mut t = Trial::new(env, w, rep, false);
        t.net = w.crosses_network().then(|| crate::results::NetRecord {
            paths: env
                .net_paths(false)
                .iter()
                .map(|&path| crate::results::NetPathRecord {
                    path,
                    connect: "127.0.0.1:7399".into(),
                    instance: String::new(),
                    host_link: None,
                    metric_suffix: path.metric_suffix().into(),
                    mtu: None,
                })
                .collect(),
            peer_cpus: vec![0],
            instance_cpus: None,
            placement: None,
        });
        t.metrics = metrics
            .iter()
            .map(|(name, value)| Metric {
                name: name.to_string(),
                value: *value,
                unit: "us".into(),
                better: Better::Lower,
            })
            .collect();
        t
    }

    #[test]
    fn each_path_is_compared_with_the_native_loopback() {
        let mut r = crate::results::tests::sample_results();
        r.trials.clear();
        r.warmup_trials.clear();
        for rep in 0..5 {
            let jitter = rep as f64 * 0.1;
            r.trials.push(trial(
                EnvKind::Native,
                Workload::NetRr,
                rep,
                &[("round_trip", 40.0 + jitter)],
            ));
            r.trials.push(trial(
                EnvKind::Container,
                Workload::NetRr,
                rep,
                &[
                    ("round_trip", 44.0 + jitter),
                    ("round_trip_p99", 90.0),
                    ("round_trip_dnat", 60.0 + jitter),
                ],
            ));
        }
        let mut failed = trial(
            EnvKind::Container,
            Workload::NetRr,
            5,
            &[("round_trip", 1.0)],
        );
        failed.error = Some("the host's network peer: broken".into());
        r.trials.push(failed);
        let view = NetworkView::of(&r, &[EnvKind::Native, EnvKind::Container], 0.03).unwrap();
        assert_eq!(
            view.rows.len(),
            3,
            "native loopback, container veth and bridge+dnat"
        );
        let native = view.row(EnvKind::Native, NetPath::Loopback).unwrap();
        assert!(
            native.rtt.as_ref().unwrap().ratio.is_none(),
            "native is the baseline"
        );
        let veth = view.row(EnvKind::Container, NetPath::Veth).unwrap();
        let fig = veth.rtt.as_ref().unwrap();
        assert_eq!(fig.n, 5, "the failed trial is left out");
        assert!((fig.ratio.unwrap().value - 1.1).abs() < 0.01);
        assert!(matches!(fig.verdict, Some(Verdict::Worse { .. })));
        assert_eq!(veth.rtt_p99, Some(90.0));
        let dnat = view.row(EnvKind::Container, NetPath::BridgeDnat).unwrap();
        assert!((dnat.rtt.as_ref().unwrap().ratio.unwrap().value - 1.5).abs() < 0.01);
        assert!(dnat.stream_in.is_none());
        let cells = super::super::format::network_cells(&view, super::super::lang::Lang::En);
        assert_eq!(cells[2][1], "bridge+dnat");
        assert!(
            cells[2][2].contains("1.5") && cells[2][2].contains("worse"),
            "{}",
            cells[2][2]
        );
        assert_eq!(cells[2][4], "—");
    }

    #[test]
    fn rows_follow_the_paths_the_run_recorded_not_this_hosts() {
        let mut r = crate::results::tests::sample_results();
        r.trials.clear();
        r.warmup_trials.clear();
        let mut t = trial(EnvKind::VmTcg, Workload::NetRr, 0, &[("round_trip", 90.0)]);
        t.net = Some(crate::results::NetRecord {
            paths: vec![crate::results::NetPathRecord {
                path: NetPath::TapVirtioVhost,
                connect: "169.254.16.2:7399".into(),
                instance: String::new(),
                host_link: Some("vmb00000100t".into()),
                metric_suffix: String::new(),
                mtu: None,
            }],
            peer_cpus: vec![0],
            instance_cpus: None,
            placement: None,
        });
        r.trials.push(t);
        let view = NetworkView::of(&r, &[EnvKind::VmTcg], 0.03).unwrap();
        let paths: Vec<NetPath> = view.rows.iter().map(|r| r.path).collect();
        assert_eq!(paths, [NetPath::TapVirtioVhost]);
    }

    #[test]
    fn a_swept_mtu_gives_each_settable_path_a_row_per_mtu_headline_first() {
        let mut r = crate::results::tests::sample_results();
        r.trials.clear();
        r.warmup_trials.clear();
        let mtus = [1500, 9000, 65520];
        for rep in 0..6 {
            let choice = crate::net::MtuChoice::of_rep(&mtus, rep);
            let at = choice.mtu.unwrap();
            let veth = NetPath::Veth.mtu_suffix(choice.mtu, choice.headline);
            let dnat = format!("_dnat{veth}");
            // The figures grow with the MTU, so each row can be told from the others.
            let rtt = 20.0 + f64::from(at) / 1000.0;
            let mut t = trial(
                EnvKind::Container,
                Workload::NetRr,
                rep,
                &[
                    (&format!("round_trip{veth}"), rtt),
                    (&format!("round_trip_same_cpu{veth}"), rtt / 4.0),
                    (&format!("round_trip{dnat}"), rtt + 1.0),
                ],
            );
            for (p, suffix) in t.net.as_mut().unwrap().paths.iter_mut().zip([&veth, &dnat]) {
                p.metric_suffix = suffix.clone();
                p.mtu = Some(at);
            }
            r.trials.push(t);
        }
        let view = NetworkView::of(&r, &[EnvKind::Container], 0.03).unwrap();
        assert!(view.swept());
        let rows: Vec<(NetPath, Option<u32>, f64)> = view
            .rows
            .iter()
            .map(|r| (r.path, r.mtu, r.rtt.as_ref().unwrap().median))
            .collect();
        assert_eq!(
            rows,
            [
                (NetPath::Veth, Some(1500), 21.5),
                (NetPath::Veth, Some(9000), 29.0),
                (NetPath::Veth, Some(65520), 85.52),
                (NetPath::BridgeDnat, Some(1500), 22.5),
                (NetPath::BridgeDnat, Some(9000), 30.0),
                (NetPath::BridgeDnat, Some(65520), 86.52),
            ]
        );
        assert_eq!(view.rows[1].rtt_same_cpu, Some(29.0 / 4.0));
        let cells = super::super::format::network_cells(&view, super::super::lang::Lang::En);
        assert_eq!(cells[1][1], "veth · MTU 9000");
    }

    #[test]
    fn a_run_without_network_workloads_has_no_section() {
        let mut r = crate::results::tests::sample_results();
        r.trials.clear();
        r.warmup_trials.clear();
        r.trials.push(trial(
            EnvKind::Native,
            Workload::CpuInt,
            0,
            &[("int_ops", 1.0)],
        ));
        assert!(NetworkView::of(&r, &[EnvKind::Native], 0.03).is_none());
    }
}
