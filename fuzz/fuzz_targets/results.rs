//! A results file travels between people: any bytes must load or give an error, never panic,
//! through both loaders (whole, and streamed with samples thinned for a report).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use vmbench::results::Results;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.json");
    let whole = Results::from_bytes(path, data);
    let _ = vmbench::results::thin::with_limit(4, || {
        Results::load_streaming(path, || Ok(std::io::Cursor::new(data)))
    });
    if let Ok(results) = whole {
        let report = vmbench::report::model::Report::build(&[("f".into(), results)], None, 0.03);
        let _ = vmbench::report::terminal::render(&report.runs[0]);
    }
});
