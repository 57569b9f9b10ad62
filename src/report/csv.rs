//! CSV export: one row per run, workload and environment.

use super::export::{Exporter, ReportError};
use super::format::{change_words, verdict_words};
use super::lang::Lang;
use super::model::Report;
use crate::stats::Verdict;

/// CSV exporter.
pub struct Csv;

impl Exporter for Csv {
    fn render(&self, report: &Report, lang: Lang) -> Result<String, ReportError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "run",
            "workload",
            "metric",
            "unit",
            "better",
            "env",
            "n",
            "median",
            "ci_lo",
            "ci_hi",
            "ratio_vs_native",
            "ratio_ci_lo",
            "ratio_ci_hi",
            "ratio_vs_baseline",
            "baseline_verdict",
            "failed",
            "verdict",
            "verdict_words",
            "converged",
            "noisy_trials",
            "accel_note",
        ])?;
        let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        for run in &report.runs {
            for wl in &run.workloads {
                for r in &wl.rows {
                    let better = if wl.better == vmbench_workload::Better::Higher {
                        "higher"
                    } else {
                        "lower"
                    };
                    w.write_record([
                        run.label.clone(),
                        wl.name.name().to_string(),
                        wl.metric.clone(),
                        wl.unit.clone(),
                        better.to_string(),
                        r.env.name().to_string(),
                        r.n.to_string(),
                        r.median.to_string(),
                        opt(r.ci.map(|c| c.lo)),
                        opt(r.ci.map(|c| c.hi)),
                        opt(r.ratio.map(|x| x.value)),
                        opt(r.ratio.and_then(|x| x.ci).map(|c| c.lo)),
                        opt(r.ratio.and_then(|x| x.ci).map(|c| c.hi)),
                        opt(r.baseline.as_ref().map(|c| c.ratio.value)),
                        r.baseline
                            .as_ref()
                            .map(|c| change_words(c.verdict, wl.better, lang))
                            .unwrap_or_default(),
                        r.failed.to_string(),
                        r.verdict.map(kind).unwrap_or_default(),
                        r.verdict
                            .map(|v| verdict_words(v, wl.better, lang))
                            .unwrap_or_default(),
                        r.converged.map(|c| c.to_string()).unwrap_or_default(),
                        r.noisy.to_string(),
                        run.nested_kvm
                            .as_ref()
                            .filter(|_| r.env.accel() == Some(crate::ids::Accel::Kvm))
                            .map(|n| super::format::nested_kvm_words(n, lang))
                            .unwrap_or_default(),
                    ])?;
                }
            }
        }
        let bytes = w
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The verdict's kind, as in the JSON export.
fn kind(v: Verdict) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j["kind"].as_str().map(String::from))
        .unwrap_or_default()
}
