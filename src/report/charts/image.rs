//! What one instance needs on disk: the container image (a rootfs holding only the static
//! workload binary) against the guest kernel plus its initramfs.

use super::{chart_err, env_color, ChartError};
use plotters::prelude::*;

/// Draws the chart as an SVG string from (env, bytes, what).
pub fn draw(footprints: &[(String, u64, String)]) -> Result<String, ChartError> {
    let err = chart_err("image footprint");
    let mut svg = String::new();
    {
        let height = (110 + 40 * footprints.len().max(1)) as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let n = footprints.len().max(1);
        let max = footprints
            .iter()
            .map(|f| f.1 as f64 / 1e6)
            .fold(1.0f64, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption("Bytes on disk per instance", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(150)
            .build_cartesian_2d(0f64..max, -0.5f64..(n as f64 - 0.5))
            .map_err(&err)?;
        let labels: Vec<String> = footprints.iter().map(|f| f.0.clone()).collect();
        chart
            .configure_mesh()
            .x_desc("size on disk (MB)")
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
            .draw_series(footprints.iter().enumerate().map(|(i, (env, bytes, _))| {
                Rectangle::new(
                    [
                        (0.0, (n - 1 - i) as f64 - 0.3),
                        (*bytes as f64 / 1e6, (n - 1 - i) as f64 + 0.3),
                    ],
                    env_color(env).filled(),
                )
            }))
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
