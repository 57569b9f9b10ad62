//! Charts as inline SVG (plotters): one chart type per file, each with a title, axis labels
//! with units, and a caption written by the HTML report beside it.

pub mod bars;
pub mod footprint;
pub mod image;
pub mod ratios;
pub mod spectrum;
pub mod start_split;
pub mod startup;
pub mod timeline;

use crate::ids::EnvKind;
use plotters::style::RGBColor;

/// Chart width and height in pixels (SVG user units).
pub const SIZE: (u32, u32) = (900, 420);

/// A stable colour per environment, the same in every chart.
pub fn env_color(env: EnvKind) -> RGBColor {
    match env {
        EnvKind::Native => RGBColor(55, 126, 34),
        EnvKind::Container => RGBColor(31, 119, 180),
        EnvKind::ContainerCrun => RGBColor(23, 190, 207),
        EnvKind::ContainerRunc => RGBColor(148, 103, 189),
        EnvKind::ContainerPodman => RGBColor(140, 86, 75),
        EnvKind::ContainerGvisor => RGBColor(188, 189, 34),
        EnvKind::ContainerDocker => RGBColor(227, 119, 194),
        EnvKind::VmKvm => RGBColor(255, 127, 14),
        EnvKind::VmTcg => RGBColor(214, 39, 40),
    }
}

/// Error drawing a chart (plotters' errors are rendered as text).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the {chart} chart: {message}")]
pub struct ChartError {
    /// Which chart.
    pub chart: &'static str,
    /// What plotters said.
    pub message: String,
}

/// Converts a plotters error.
pub fn chart_err<E: std::fmt::Debug>(chart: &'static str) -> impl Fn(E) -> ChartError {
    move |e| ChartError {
        chart,
        message: format!("{e:?}"),
    }
}

/// Draws the mesh of a chart whose y axis lists categories, the first at the top (bars and
/// points are placed at y = n - 1 - index).
pub fn category_mesh<X>(
    chart: &mut plotters::chart::ChartContext<
        '_,
        plotters::backend::SVGBackend<'_>,
        plotters::coord::cartesian::Cartesian2d<X, plotters::coord::types::RangedCoordf64>,
    >,
    chart_name: &'static str,
    x_desc: &str,
    y_desc: &str,
    labels: &[String],
) -> Result<(), ChartError>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>
        + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let n = labels.len().max(1);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_label_formatter(&|x| crate::report::format::tick(*x))
        .y_desc(y_desc)
        .y_labels(n)
        .y_label_formatter(&|y| {
            labels
                .get(n.saturating_sub(1 + y.round().max(0.0) as usize))
                .cloned()
                .unwrap_or_default()
        })
        .draw()
        .map_err(chart_err(chart_name))
}

/// A log-scale range that holds every value with some margin.
pub fn log_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return 0.1..10.0;
    }
    let lo = 10f64.powf(lo.log10().floor());
    let hi = 10f64.powf((hi * 1.0001).log10().ceil());
    lo..hi.max(lo * 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ranges_cover_decades() {
        assert_eq!(log_range([0.8, 1500.0].into_iter()), 0.1..10_000.0);
        assert_eq!(log_range([5.0].into_iter()), 1.0..10.0);
        assert_eq!(log_range(std::iter::empty()), 0.1..10.0);
    }
}
