//! The isolation spectrum as one picture: environments from least to most isolated, top to
//! bottom, with two costs side by side on log scales: startup and one system call.

use super::{chart_err, env_color, log_range, ChartError};
use crate::report::lang::Lang;
use crate::report::spectrum::SpectrumRow;
use plotters::prelude::*;

/// One panel: log-scale horizontal bars of `value` per row, with the value printed beside.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    rows: &[SpectrumRow],
    title: &str,
    x_desc: &str,
    labels: bool,
    value: fn(&SpectrumRow) -> Option<f64>,
) -> Result<(), ChartError> {
    let err = chart_err("spectrum");
    let n = rows.len().max(1);
    let range = log_range(rows.iter().filter_map(value));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(if labels { 250 } else { 10 })
        .build_cartesian_2d(range.clone().log_scale(), -0.5f64..(n as f64 - 0.5))
        .map_err(&err)?;
    let names: Vec<String> = rows
        .iter()
        .map(|r| {
            if labels && r.tier.name() != r.env.name() {
                format!("{} · {}", r.tier.name(), r.env)
            } else if labels {
                r.env.to_string()
            } else {
                String::new()
            }
        })
        .collect();
    super::category_mesh(&mut chart, "spectrum", x_desc, "", &names)?;
    for (i, r) in rows.iter().enumerate() {
        let Some(v) = value(r) else { continue };
        let y = (n - 1 - i) as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(range.start, y - 0.32), (v, y + 0.32)],
                env_color(r.env).filled(),
            )))
            .map_err(&err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                crate::report::format::num(v),
                (v, y + 0.1),
                ("sans-serif", 13),
            )))
            .map_err(&err)?;
    }
    Ok(())
}

/// Draws the spectrum as an SVG string.
pub fn draw(rows: &[SpectrumRow], lang: Lang) -> Result<String, ChartError> {
    let err = chart_err("spectrum");
    let mut svg = String::new();
    {
        let height = (120 + 36 * rows.len().max(1)) as u32;
        let root = SVGBackend::with_string(&mut svg, (1000, height.max(240))).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let (left, right) = root.split_horizontally(620);
        panel(
            &left,
            rows,
            super::tr(lang, "Startup: launch to ready"),
            super::tr(lang, "ms (log scale)"),
            true,
            |r| r.startup_ms,
        )?;
        panel(
            &right,
            rows,
            super::tr(lang, "One system call"),
            super::tr(lang, "ns per call (log scale)"),
            false,
            |r| r.syscall_ns,
        )?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
