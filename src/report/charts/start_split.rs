//! Where a container's start goes: one stacked bar per environment, its startup phases as
//! consecutive segments (clone, cgroup, mounts and exec for vmbench's own container; the
//! runtime's exec for runc and crun; the engine creating the container and the runtime starting
//! it for Podman and Docker), each labelled where it is wide enough.

use super::{chart_err, env_color, ChartError};
use crate::report::lang::Lang;
use crate::report::model::StartSplit;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Draws the chart as an SVG string.
pub fn draw(splits: &[StartSplit], lang: Lang) -> Result<String, ChartError> {
    let err = chart_err("start split");
    let mut svg = String::new();
    {
        let n = splits.len().max(1);
        let height = (120 + 46 * n) as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height.max(220))).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let max = splits.iter().map(|s| s.median_ms).fold(0.1, f64::max) * 1.05;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                super::tr(lang, "Where the start goes (median ms)"),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(150)
            .build_cartesian_2d(0f64..max, -0.5f64..(n as f64 - 0.5))
            .map_err(&err)?;
        let labels: Vec<String> = splits.iter().map(|s| s.env.to_string()).collect();
        super::category_mesh(
            &mut chart,
            "start split",
            super::tr(lang, "milliseconds from launch to ready"),
            super::tr(lang, "environment"),
            &labels,
        )?;
        for (i, split) in splits.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let base = env_color(split.env);
            let mut at = 0.0;
            for (k, (name, ms)) in split.segments.iter().enumerate() {
                let shade = if k % 2 == 0 {
                    base.mix(1.0)
                } else {
                    base.mix(0.55)
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(at, y - 0.34), (at + ms, y + 0.34)],
                        shade.filled(),
                    )))
                    .map_err(&err)?;
                if *ms > max * 0.08 {
                    let style = TextStyle::from(("sans-serif", 12).into_font())
                        .color(&WHITE)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    chart
                        .draw_series(std::iter::once(Text::new(
                            name.replace('_', " "),
                            (at + ms / 2.0, y),
                            style,
                        )))
                        .map_err(&err)?;
                }
                at += ms;
            }
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
