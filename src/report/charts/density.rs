//! Density: the memory the instances hold (their PSS summed) and the time until all are
//! ready, against how many are alive at once, one line per environment (and KSM setting).

use super::{chart_err, env_color, ChartError, SIZE};
use crate::report::density::Series;
use crate::report::lang::Lang;
use plotters::prelude::*;

/// Draws the two panels (memory, all-ready time) as one SVG string. Memory is PSS on a log
/// scale: a container's MiB and a guest's hundreds stay readable on one axis, and PSS counts
/// a shared page once across its sharers (the fall of MemAvailable, in the table, is the
/// host's view but moves with everything else on the host).
pub fn draw(series: &[Series], lang: Lang) -> Result<String, ChartError> {
    let err = chart_err("density");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let (top, bottom) = root.split_vertically(300);
        memory_panel(&top, series, lang)?;
        ready_panel(&bottom, series, lang)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// The upper panel: the sum of the instances' PSS per count, one line per series (KSM on
/// paler), with the legend.
fn memory_panel(area: &Area, series: &[Series], lang: Lang) -> Result<(), ChartError> {
    let tr = |en| super::tr(lang, en);
    let err = chart_err("density");
    let points = || series.iter().flat_map(|s| s.points.iter());
    let n_max = points().map(|p| p.count as i32).max().unwrap_or(1) + 1;
    let mem = super::log_range(points().map(|p| p.pss_mib.max(0.1)));
    let mut chart = ChartBuilder::on(area)
        .caption(
            tr("Memory the instances hold, all alive"),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0i32..n_max, mem.log_scale())
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc(tr("instances alive at once"))
        .y_desc(tr("MiB, sum of PSS (log scale)"))
        .draw()
        .map_err(&err)?;
    for s in series {
        let color = env_color(s.env);
        let style = if s.ksm == Some(true) {
            ShapeStyle::from(color.mix(0.5)).stroke_width(2)
        } else {
            color.stroke_width(2)
        };
        let xy: Vec<(i32, f64)> = s
            .points
            .iter()
            .map(|p| (p.count as i32, p.pss_mib.max(0.1)))
            .collect();
        chart
            .draw_series(LineSeries::new(xy.clone(), style))
            .map_err(&err)?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        chart
            .draw_series(xy.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(&err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(&err)?;
    Ok(())
}

/// The lower panel: the time until every instance of a step was ready, per count.
fn ready_panel(area: &Area, series: &[Series], lang: Lang) -> Result<(), ChartError> {
    let tr = |en| super::tr(lang, en);
    let err = chart_err("density");
    let points = || series.iter().flat_map(|s| s.points.iter());
    let n_max = points().map(|p| p.count as i32).max().unwrap_or(1) + 1;
    let ready = super::log_range(points().map(|p| p.all_ready_ms.max(0.1)));
    let mut chart = ChartBuilder::on(area)
        .caption(tr("Time until all instances are ready"), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0i32..n_max, ready.log_scale())
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc(tr("instances alive at once"))
        .y_desc(tr("ms (log scale)"))
        .draw()
        .map_err(&err)?;
    for s in series {
        let color = env_color(s.env);
        let xy: Vec<(i32, f64)> = s
            .points
            .iter()
            .map(|p| (p.count as i32, p.all_ready_ms.max(0.1)))
            .collect();
        chart
            .draw_series(LineSeries::new(xy.clone(), color.stroke_width(2)))
            .map_err(&err)?;
        chart
            .draw_series(xy.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(&err)?;
    }
    Ok(())
}
