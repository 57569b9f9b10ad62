//! Startup distribution per environment: every cold trial as a point, with the box of its
//! quartiles, on a log scale (native starts in a millisecond, a TCG guest in seconds).

use super::{chart_err, env_color, log_range, ChartError, SIZE};
use crate::report::lang::Lang;
use crate::report::model::StartupView;
use plotters::prelude::*;

/// Draws the chart as an SVG string.
pub fn draw(views: &[StartupView], lang: Lang) -> Result<String, ChartError> {
    let err = chart_err("startup");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let range = log_range(views.iter().flat_map(|v| v.values_ms.iter().copied()));
        let n = views.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                super::tr(lang, "Startup: launch to ready (host-measured)"),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(130)
            .build_cartesian_2d(range.log_scale(), -0.5f64..(n as f64 - 0.5))
            .map_err(&err)?;
        let labels: Vec<String> = views.iter().map(|v| v.env.to_string()).collect();
        super::category_mesh(
            &mut chart,
            "startup",
            super::tr(lang, "startup time (ms, log scale)"),
            super::tr(lang, "environment"),
            &labels,
        )?;
        for (i, v) in views.iter().enumerate() {
            let color = env_color(v.env);
            let y = (n - 1 - i) as f64;
            let q1 = crate::stats::percentile(&v.values_ms, 25.0).unwrap_or(v.summary.median);
            let q3 = crate::stats::percentile(&v.values_ms, 75.0).unwrap_or(v.summary.median);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(q1, y - 0.3), (q3, y + 0.3)],
                    color.mix(0.25).filled(),
                )))
                .map_err(&err)?;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(v.summary.median, y - 0.35), (v.summary.median, y + 0.35)],
                    color.stroke_width(3),
                )))
                .map_err(&err)?;
            chart
                .draw_series(v.values_ms.iter().enumerate().map(|(k, x)| {
                    let jitter = ((k * 37 % 17) as f64 / 17.0 - 0.5) * 0.4;
                    Circle::new((*x, y + jitter), 3, color.filled())
                }))
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
