//! CPU and memory over time per environment, from the collector's samples: CPU in cores used
//! (1.0 = one core busy) and resident memory of the instance process.

use super::{chart_err, env_color, ChartError, SIZE};
use crate::report::lang::Lang;
use crate::report::model::Timeline;
use plotters::prelude::*;

/// Draws the two panels (CPU, RSS) as one SVG string.
pub fn draw(timelines: &[Timeline], lang: Lang) -> Result<String, ChartError> {
    let tr = |en| super::tr(lang, en);
    let err = chart_err("timeline");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let (top, bottom) = root.split_vertically(280);
        let t_max = timelines
            .iter()
            .flat_map(|t| t.points.iter().map(|p| p.0))
            .fold(0.1f64, f64::max);
        let cpu_max = timelines
            .iter()
            .flat_map(|t| t.points.iter().map(|p| p.1))
            .fold(1.0f64, f64::max)
            * 1.1;
        let rss_max = timelines
            .iter()
            .flat_map(|t| t.points.iter().map(|p| p.2))
            .fold(1.0f64, f64::max)
            * 1.1;
        let workload = timelines.first().map_or("", |t| t.workload.name());
        let cpu_title = format!("{} ({workload})", tr("CPU used by the instance"));
        let rss_title = format!(
            "{} ({workload})",
            tr("Resident memory of the instance process")
        );
        for (area, title, y_desc, y_max, pick) in [
            (&top, cpu_title.as_str(), tr("CPU (cores)"), cpu_max, 1usize),
            (&bottom, rss_title.as_str(), "RSS (MiB)", rss_max, 2usize),
        ] {
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..t_max, 0f64..y_max)
                .map_err(&err)?;
            chart
                .configure_mesh()
                .x_desc(tr("time since launch (s)"))
                .y_desc(y_desc)
                .draw()
                .map_err(&err)?;
            for t in timelines {
                let color = env_color(t.env);
                chart
                    .draw_series(LineSeries::new(
                        t.points
                            .iter()
                            .map(|p| (p.0, if pick == 1 { p.1 } else { p.2 })),
                        color.stroke_width(2),
                    ))
                    .map_err(&err)?
                    .label(t.env.to_string())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}
