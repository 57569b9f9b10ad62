//! Replays the fuzzers' corpora (`fuzz/corpus`, grown by `cargo fuzz`; see `fuzz/`) through the
//! same code the fuzz targets drive: an instance's output, a results file and a fleet pod's
//! log are untrusted, and no input of any may panic or grow without bound.

use std::path::Path;
use vmbench::results::Results;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let files: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert!(files.len() >= 3, "{} holds a corpus", dir.display());
    files
}

#[test]
fn every_protocol_input_gives_a_bounded_record() {
    for input in corpus("protocol") {
        let seen = vmbench::env::watch::observe_bytes(&input);
        assert!(seen.errors.len() <= 20);
        assert!(seen.noise.len() <= 30);
        assert!(seen.results.len() <= vmbench::env::watch::MAX_EVENTS);
    }
}

#[test]
fn every_results_input_loads_or_is_refused() {
    let mut loaded = 0;
    for input in corpus("results") {
        let path = Path::new("corpus.json");
        let whole = Results::from_bytes(path, &input);
        let _ = vmbench::results::thin::with_limit(4, || {
            Results::load_streaming(path, || Ok(std::io::Cursor::new(&input)))
        });
        if let Ok(results) = whole {
            loaded += 1;
            let report =
                vmbench::report::model::Report::build(&[("c".into(), results)], None, 0.03);
            let _ = vmbench::report::terminal::render(&report.runs[0]);
        }
    }
    assert!(loaded >= 1, "the corpus holds a valid results file");
}

#[test]
fn every_pod_log_gives_its_block_or_an_error() {
    let mut decoded = 0;
    for input in corpus("podlog") {
        let log = String::from_utf8_lossy(&input);
        if let Ok(block) = vmbench::fleet::transport::decode(&log) {
            decoded += 1;
            assert!(block.json.len() <= 512 << 20);
            let _ = Results::from_bytes(Path::new("pod"), &block.json);
        }
    }
    assert!(decoded >= 1, "the corpus holds a good block");
}
