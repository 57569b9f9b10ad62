//! Reports rendered from results records: they only read, never measure. The model is computed
//! once; one exporter per format (an open set, behind one trait) and the terminal summary
//! render it; charts and lecture notes feed the HTML one.

pub mod charts;
pub mod csv;
pub mod export;
pub mod format;
pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod notes;
pub mod terminal;

use export::{Exporter, Format};

/// The exporter for a format.
pub fn exporter(format: Format) -> Box<dyn Exporter> {
    match format {
        Format::Html => Box::new(html::Html),
        Format::Md => Box::new(markdown::Markdown),
        Format::Csv => Box::new(csv::Csv),
        Format::Json => Box::new(json::Json),
    }
}
