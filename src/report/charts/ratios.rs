//! Overhead per workload, normalised to native: a cost factor (how many times worse than
//! native; 1 = the same) with the 95% CI as whiskers, one row per workload and environment.

use super::{chart_err, env_color, log_range, ChartError};
use crate::ids::EnvKind;
use crate::report::lang::Lang;
use crate::report::model::WorkloadView;
use plotters::prelude::*;
use vmbench_workload::Better;

/// One row of the chart: label, environment, cost factor and its interval.
pub fn rows(workloads: &[WorkloadView]) -> Vec<(String, EnvKind, f64, f64, f64)> {
    let mut out = Vec::new();
    for w in workloads {
        for r in &w.rows {
            let Some(ratio) = r.ratio else { continue };
            // A higher-is-better metric costs native/env; a lower-is-better one env/native.
            let (value, lo, hi) = match (w.better, ratio.ci) {
                (Better::Higher, Some(ci)) => (1.0 / ratio.value, 1.0 / ci.hi, 1.0 / ci.lo),
                (Better::Higher, None) => (1.0 / ratio.value, 1.0 / ratio.value, 1.0 / ratio.value),
                (Better::Lower, Some(ci)) => (ratio.value, ci.lo, ci.hi),
                (Better::Lower, None) => (ratio.value, ratio.value, ratio.value),
            };
            out.push((format!("{} / {}", w.name, r.env), r.env, value, lo, hi));
        }
    }
    out
}

/// Draws the chart as an SVG string.
pub fn draw(workloads: &[WorkloadView], lang: Lang) -> Result<String, ChartError> {
    let err = chart_err("overhead");
    let rows = rows(workloads);
    let height = (90 + 26 * rows.len().max(1)) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, height.max(200))).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let range = log_range(rows.iter().flat_map(|r| [r.3, r.4, 1.0]));
        let n = rows.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                super::tr(lang, "Cost relative to native (1 = same, right = worse)"),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(210)
            .build_cartesian_2d(range.log_scale(), -0.5f64..(n as f64 - 0.5))
            .map_err(&err)?;
        let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        super::category_mesh(
            &mut chart,
            "overhead",
            super::tr(lang, "cost factor vs native (log scale; whiskers: 95% CI)"),
            super::tr(lang, "workload / environment"),
            &labels,
        )?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(1.0, -0.5), (1.0, n as f64 - 0.5)],
                BLACK.stroke_width(1),
            )))
            .map_err(&err)?;
        for (i, (_, env, value, lo, hi)) in rows.iter().enumerate() {
            let color = env_color(*env);
            let y = (n - 1 - i) as f64;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(*lo, y), (*hi, y)],
                    color.stroke_width(2),
                )))
                .map_err(&err)?;
            for x in [*lo, *hi] {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, y - 0.2), (x, y + 0.2)],
                        color.stroke_width(2),
                    )))
                    .map_err(&err)?;
            }
            chart
                .draw_series(std::iter::once(Circle::new((*value, y), 5, color.filled())))
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
