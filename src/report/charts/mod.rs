//! Charts as inline SVG (plotters): one chart type per file, each with a title, axis labels
//! with units, and a caption written by the HTML report beside it.

pub mod bars;
pub mod density;
pub mod footprint;
pub mod image;
pub mod ratios;
pub mod spectrum;
pub mod start_split;
pub mod startup;
pub mod timeline;

use crate::ids::EnvKind;
use crate::report::lang::Lang;
use plotters::style::RGBColor;

/// Chart width and height in pixels (SVG user units).
pub const SIZE: (u32, u32) = (900, 420);

/// A stable colour per environment, the same in every chart.
pub fn env_color(env: EnvKind) -> RGBColor {
    let (r, g, b) = env.colour();
    RGBColor(r, g, b)
}

/// A chart's words in `lang`: English as written, Korean from this table (an English text
/// without an entry stays English).
pub fn tr(lang: Lang, en: &'static str) -> &'static str {
    if lang == Lang::En {
        return en;
    }
    match en {
        "environment" => "환경",
        "Startup: launch to ready (host-measured)" => "시작 시간: 실행부터 ready까지 (호스트 측정)",
        "startup time (ms, log scale)" => "시작 시간 (ms, 로그 눈금)",
        "milliseconds from launch to ready" => "실행부터 ready까지 (ms)",
        "Where the start goes (median ms)" => "시작 시간은 어디에 쓰이나 (중앙값 ms)",
        "Startup: launch to ready" => "시작 시간: 실행부터 ready까지",
        "ms (log scale)" => "ms (로그 눈금)",
        "One system call" => "시스템 콜 한 번",
        "ns per call (log scale)" => "호출당 ns (로그 눈금)",
        "Cost relative to native (1 = same, right = worse)" => {
            "네이티브 대비 비용 (1 = 같음, 오른쪽 = 느림)"
        }
        "cost factor vs native (log scale; whiskers: 95% CI)" => {
            "네이티브 대비 배수 (로그 눈금, 수염: 95% 신뢰구간)"
        }
        "workload / environment" => "워크로드 / 환경",
        "CPU used by the instance" => "인스턴스가 쓴 CPU",
        "Resident memory of the instance process" => "인스턴스 프로세스의 상주 메모리",
        "CPU (cores)" => "CPU (코어)",
        "time since launch (s)" => "실행 후 시간 (s)",
        "Memory per instance (median peak)" => "인스턴스당 메모리 (최대값의 중앙값)",
        "memory (MiB)" => "메모리 (MiB)",
        "process RSS" => "프로세스 RSS",
        "cgroup charge" => "cgroup 사용량",
        "guest RAM" => "게스트 RAM",
        "Bytes on disk per instance" => "인스턴스당 디스크 용량",
        "Memory the instances hold, all alive" => "모두 살아 있을 때 인스턴스들이 차지한 메모리",
        "instances alive at once" => "동시에 살아 있는 인스턴스 수",
        "MiB, sum of PSS (log scale)" => "MiB, PSS 합 (로그 눈금)",
        "Time until all instances are ready" => "모든 인스턴스가 ready가 될 때까지의 시간",
        "size on disk (MB)" => "디스크 용량 (MB)",
        _ => en,
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
