//! JSON export: the report model's computed figures (the full records are in the results files).

use super::export::{Exporter, ReportError};
use super::lang::Lang;
use super::model::Report;

/// The report model as pretty JSON.
pub struct Json;

impl Exporter for Json {
    fn render(&self, report: &Report, _lang: Lang) -> Result<String, ReportError> {
        let mut value = serde_json::to_value(report)?;
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
