//! The exporter interface: one exporter per format renders the same report model.

use super::lang::Lang;
use super::model::Report;

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

    /// The format a file name's extension implies (HTML when it implies none).
    pub fn of_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("md") => Format::Md,
            Some("csv") => Format::Csv,
            Some("json") => Format::Json,
            _ => Format::Html,
        }
    }
}

/// Renders a report in one format.
pub trait Exporter {
    /// The rendered document.
    fn render(&self, report: &Report, lang: Lang) -> Result<String, ReportError>;
}
