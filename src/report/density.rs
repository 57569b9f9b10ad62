//! The density section: per environment (and KSM setting), memory used on the host and time to
//! all-ready against the number of instances alive at once, the marginal cost of one more
//! instance with its 95% CI, and the page-cache sharing of the workload binary.

use crate::ids::EnvKind;
use crate::results::{DensityStep, Results};
use serde::Serialize;

const MIB: f64 = 1048576.0;

/// One count of one series.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Instances alive at once.
    pub count: u32,
    /// Host memory used (fall of `MemAvailable`), MiB.
    pub host_used_mib: f64,
    /// Rise of `Committed_AS` (memory promised, touched or not), MiB.
    pub committed_mib: f64,
    /// Sum of the instances' PSS, MiB.
    pub pss_mib: f64,
    /// Sum of the instances' cgroup charges, MiB (containers).
    pub cgroup_mib: Option<f64>,
    /// First launch to last ready, milliseconds.
    pub all_ready_ms: f64,
    /// Median of the instances' own startups, milliseconds.
    pub startup_ms: f64,
    /// PSS of the workload binary's pages per instance, KiB.
    pub binary_pss_kib: Option<f64>,
    /// The binary's bytes inside each guest's RAM, KiB (VMs).
    pub binary_in_guest_kib: Option<f64>,
    /// PSS of the instance process's executable per instance, KiB.
    pub exe_pss_kib: Option<f64>,
    /// Guest `MemTotal`, MiB (VMs).
    pub guest_total_mib: Option<f64>,
    /// Memory KSM merged away, MiB.
    pub ksm_saved_mib: Option<f64>,
    /// Collectors' CPU over the step, share of one core.
    pub collector_fraction: Option<f64>,
}

/// The slope of a figure against the count: what one more instance costs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Slope {
    /// MiB per instance.
    pub mib: f64,
    /// 95% CI (at least three counts).
    pub ci: Option<(f64, f64)>,
}

/// One environment under one KSM setting.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// Environment.
    pub env: EnvKind,
    /// KSM setting, for VMs on a host with KSM.
    pub ksm: Option<bool>,
    /// Name in charts and tables.
    pub label: String,
    /// Its counts, increasing.
    pub points: Vec<Point>,
    /// Host memory per added instance.
    pub marginal: Option<Slope>,
    /// PSS per added instance.
    pub marginal_pss: Option<Slope>,
}

/// The density section of a run.
#[derive(Debug, Clone, Serialize)]
pub struct DensityView {
    /// Series in run order.
    pub series: Vec<Series>,
    /// Sweeps that stopped early, with why.
    pub stopped: Vec<(EnvKind, String)>,
    /// Whether the host has KSM.
    pub ksm_available: bool,
}

/// Two-sided 95% Student t quantile for `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const TABLE: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    match df {
        0 => f64::NAN,
        1..=10 => TABLE[df - 1],
        11..=30 => 2.1,
        _ => 1.96,
    }
}

/// Least-squares slope of `y` on `x` with its 95% CI (three points or more); with one
/// point, `y / x`.
pub fn slope(points: &[(f64, f64)]) -> Option<Slope> {
    match points {
        [] => None,
        [(x, y)] => (*x > 0.0).then(|| Slope {
            mib: y / x,
            ci: None,
        }),
        _ => {
            let n = points.len() as f64;
            let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
            let my = points.iter().map(|p| p.1).sum::<f64>() / n;
            let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
            if sxx == 0.0 {
                return None;
            }
            let b = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
            let ci = (points.len() > 2).then(|| {
                let a = my - b * mx;
                let ssr: f64 = points.iter().map(|p| (p.1 - a - b * p.0).powi(2)).sum();
                let se = (ssr / (n - 2.0) / sxx).sqrt();
                let h = t95(points.len() - 2) * se;
                (b - h, b + h)
            });
            Some(Slope { mib: b, ci })
        }
    }
}

fn median(xs: &[f64]) -> f64 {
    crate::stats::median(xs).unwrap_or(f64::NAN)
}

fn point(s: &DensityStep) -> Point {
    let mib = |b: u64| b as f64 / MIB;
    Point {
        count: s.count,
        host_used_mib: s.host_used_bytes() as f64 / MIB,
        committed_mib: (s.committed.1 as f64 - s.committed.0 as f64) / MIB,
        pss_mib: mib(s.pss_bytes),
        cgroup_mib: s.cgroup_bytes.map(mib),
        all_ready_ms: s.all_ready_ms,
        startup_ms: median(&s.startup_ms),
        binary_pss_kib: s.binary_pss_bytes.map(|b| b / 1024.0),
        binary_in_guest_kib: s.binary_in_guest_bytes.map(|b| b as f64 / 1024.0),
        exe_pss_kib: s.exe_pss_bytes.map(|b| b / 1024.0),
        guest_total_mib: s.guest_mem_total_bytes.map(mib),
        ksm_saved_mib: s.ksm_saved_bytes.map(mib),
        collector_fraction: s.collector_fraction,
    }
}

impl DensityView {
    /// The view of a run's density record, when it has one.
    pub fn of(results: &Results) -> Option<DensityView> {
        let record = results.density.as_ref()?;
        let mut series: Vec<Series> = Vec::new();
        for s in &record.steps {
            let at = series
                .iter()
                .position(|x| x.env == s.env && x.ksm == s.ksm)
                .unwrap_or_else(|| {
                    let label = match s.ksm {
                        Some(true) => format!("{} (KSM on)", s.env),
                        Some(false) => format!("{} (KSM off)", s.env),
                        None => s.env.to_string(),
                    };
                    series.push(Series {
                        env: s.env,
                        ksm: s.ksm,
                        label,
                        points: Vec::new(),
                        marginal: None,
                        marginal_pss: None,
                    });
                    series.len() - 1
                });
            series[at].points.push(point(s));
        }
        for x in &mut series {
            x.points.sort_by_key(|p| p.count);
            let xy = |f: fn(&Point) -> f64| -> Vec<(f64, f64)> {
                x.points.iter().map(|p| (p.count as f64, f(p))).collect()
            };
            x.marginal = slope(&xy(|p| p.host_used_mib));
            x.marginal_pss = slope(&xy(|p| p.pss_mib));
        }
        Some(DensityView {
            series,
            stopped: record.stopped.clone(),
            ksm_available: record.ksm_available,
        })
    }
}

/// A slope as text: `12.3 MiB [10.1, 14.5]`.
pub fn slope_text(s: Option<Slope>) -> String {
    match s {
        None => "—".into(),
        Some(Slope { mib, ci: None }) => format!("{mib:.1} MiB"),
        Some(Slope {
            mib,
            ci: Some((lo, hi)),
        }) => format!("{mib:.1} MiB [{lo:.1}, {hi:.1}]"),
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.digits$}"))
}

/// The terminal summary of a sweep.
pub fn terminal(view: &DensityView) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for x in &view.series {
        let _ = writeln!(
            s,
            "density: {} — one more instance costs {} of host memory, {} of PSS",
            x.label,
            slope_text(x.marginal),
            slope_text(x.marginal_pss)
        );
        let _ = writeln!(
            s,
            "  {:>5} {:>12} {:>12} {:>10} {:>10} {:>12} {:>12}",
            "N", "all ready ms", "startup ms", "host MiB", "PSS MiB", "binary KiB", "KSM MiB"
        );
        for p in &x.points {
            let _ = writeln!(
                s,
                "  {:>5} {:>12.1} {:>12.1} {:>10.1} {:>10.1} {:>12} {:>12}",
                p.count,
                p.all_ready_ms,
                p.startup_ms,
                p.host_used_mib,
                p.pss_mib,
                opt(p.binary_pss_kib.or(p.binary_in_guest_kib), 0),
                opt(p.ksm_saved_mib, 1)
            );
        }
    }
    for (env, why) in &view.stopped {
        let _ = writeln!(s, "density: {env} stopped early: {why}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marginal_cost_is_the_slope_with_its_interval() {
        let exact = slope(&[(1.0, 12.0), (2.0, 22.0), (4.0, 42.0)]).unwrap();
        assert!((exact.mib - 10.0).abs() < 1e-9);
        let (lo, hi) = exact.ci.unwrap();
        assert!((hi - lo).abs() < 1e-6, "a perfect line has no width");
        let noisy = slope(&[(1.0, 10.0), (2.0, 25.0), (4.0, 38.0), (8.0, 85.0)]).unwrap();
        let (lo, hi) = noisy.ci.unwrap();
        assert!(lo < noisy.mib && noisy.mib < hi && hi - lo > 1.0);
        assert!(slope(&[(2.0, 10.0), (4.0, 20.0)]).unwrap().ci.is_none());
        assert_eq!(slope(&[(4.0, 10.0)]).unwrap().mib, 2.5);
        assert!(slope(&[]).is_none());
    }
}
