//! Exporters: one per format behind one trait, each rendering the same report model.

use super::model::Report;
use super::notes::Lang;

/// Errors rendering a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A chart could not be drawn.
    #[error(transparent)]
    Chart(#[from] super::charts::ChartError),
    /// The HTML template failed.
    #[error("cannot render the report template")]
    Template(#[from] minijinja::Error),
    /// CSV writing failed.
    #[error("cannot write CSV")]
    Csv(#[from] csv::Error),
    /// JSON writing failed.
    #[error("cannot write JSON")]
    Json(#[from] serde_json::Error),
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Self-contained HTML with inline SVG charts.
    Html,
    /// Markdown tables, for papers and slides.
    Md,
    /// One CSV row per workload and environment.
    Csv,
    /// The report model as JSON.
    Json,
}

impl Format {
    /// Parses `html`, `md`, `csv` or `json`.
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "html" => Ok(Format::Html),
            "md" | "markdown" => Ok(Format::Md),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!(
                "unknown format '{s}': expected html, md, csv or json"
            )),
        }
    }
}

/// Renders a report in one format.
pub trait Exporter {
    /// The rendered document.
    fn render(&self, report: &Report, lang: Lang) -> Result<String, ReportError>;
}

/// The exporter for a format.
pub fn exporter(format: Format) -> Box<dyn Exporter> {
    match format {
        Format::Html => Box::new(super::html::Html),
        Format::Md => Box::new(super::markdown::Markdown),
        Format::Csv => Box::new(super::csv::Csv),
        Format::Json => Box::new(Json),
    }
}

/// The report model as pretty JSON.
pub struct Json;

impl Exporter for Json {
    fn render(&self, report: &Report, _lang: Lang) -> Result<String, ReportError> {
        let mut value = serde_json::to_value(report)?;
        // The full records are in the results files; the export carries the computed figures.
        if let Some(runs) = value.get_mut("runs").and_then(|r| r.as_array_mut()) {
            for run in runs {
                if let Some(obj) = run.as_object_mut() {
                    obj.remove("results");
                    obj.remove("timelines");
                }
            }
        }
        Ok(serde_json::to_string_pretty(&value)? + "\n")
    }
}

/// A number with sensible precision for tables.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// A ratio with its interval, `1.012× [0.998, 1.030]`.
pub fn ratio_text(r: &crate::stats::Ratio) -> String {
    match r.ci {
        Some(ci) => format!("{:.3}× [{:.3}, {:.3}]", r.value, ci.lo, ci.hi),
        None => format!("{:.3}×", r.value),
    }
}

/// Bytes in MiB with one decimal.
pub fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}
