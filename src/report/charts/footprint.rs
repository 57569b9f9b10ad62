//! Memory one instance costs, seen from the host: the instance process's peak RSS (the
//! workload, the container's PID 1, the runtime, or QEMU), and for a VM the RAM its guest
//! kernel manages, side by side.

use super::{chart_err, env_color, ChartError, SIZE};
use crate::report::model::MemoryView;
use plotters::prelude::*;

/// Bars: (label, env, MiB).
pub fn bars(views: &[MemoryView]) -> Vec<(String, String, f64)> {
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let mut out = Vec::new();
    for v in views {
        out.push((
            format!("{}: process RSS", v.env),
            v.env.clone(),
            mib(v.process_peak_rss_bytes),
        ));
        if let Some(c) = v.cgroup_peak_bytes {
            out.push((format!("{}: cgroup charge", v.env), v.env.clone(), mib(c)));
        }
        if let Some(g) = v.guest_mem_total_bytes {
            out.push((format!("{}: guest RAM", v.env), v.env.clone(), mib(g)));
        }
    }
    out
}

/// Draws the chart as an SVG string.
pub fn draw(views: &[MemoryView]) -> Result<String, ChartError> {
    let err = chart_err("memory footprint");
    let bars = bars(views);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let n = bars.len().max(1);
        let max = bars.iter().map(|b| b.2).fold(1.0f64, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption("Memory per instance (median peak)", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(200)
            .build_cartesian_2d(0f64..max, -0.5f64..(n as f64 - 0.5))
            .map_err(&err)?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .x_desc("memory (MiB)")
            .y_desc("environment")
            .y_labels(n)
            .y_label_formatter(&|y| {
                labels
                    .get(n.saturating_sub(1 + y.round().max(0.0) as usize))
                    .cloned()
                    .unwrap_or_default()
            })
            .draw()
            .map_err(&err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, env, v))| {
                Rectangle::new(
                    [
                        (0.0, (n - 1 - i) as f64 - 0.35),
                        (*v, (n - 1 - i) as f64 + 0.35),
                    ],
                    env_color(env).filled(),
                )
            }))
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
