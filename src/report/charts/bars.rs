//! Horizontal bars by category (one colour per environment): the shape shared by the memory
//! and image footprint charts.

use super::{chart_err, env_color, ChartError};
use crate::ids::EnvKind;
use crate::report::lang::Lang;
use plotters::prelude::*;

/// One bar: label on the axis, environment (for its colour), value.
pub type Bar = (String, EnvKind, f64);

/// Draws labelled horizontal bars, first bar at the top, as an SVG string.
pub fn draw(
    chart_name: &'static str,
    title: &str,
    x_desc: &str,
    bars: &[Bar],
    lang: Lang,
) -> Result<String, ChartError> {
    let err = chart_err(chart_name);
    let mut svg = String::new();
    {
        let height = (110 + 34 * bars.len().max(1)) as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height.max(220))).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let n = bars.len().max(1);
        let max = bars.iter().map(|b| b.2).fold(f64::MIN_POSITIVE, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(200)
            .build_cartesian_2d(0f64..max, -0.5f64..(n as f64 - 0.5))
            .map_err(&err)?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        super::category_mesh(
            &mut chart,
            chart_name,
            x_desc,
            super::tr(lang, "environment"),
            &labels,
        )?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, env, v))| {
                let y = (n - 1 - i) as f64;
                Rectangle::new([(0.0, y - 0.32), (*v, y + 0.32)], env_color(*env).filled())
            }))
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
