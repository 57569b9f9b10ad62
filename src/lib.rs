//! vmbench: what does isolation cost? The same static workload runs natively, in containers
//! and in virtual machines; vmbench measures startup, throughput, CPU and memory side by side.

#![recursion_limit = "256"]

pub mod atomic;
pub mod cache;
pub mod cli;
pub mod collector;
pub mod commands;
pub mod config;
pub mod density;
pub mod doctor;
pub mod env;
pub mod fleet;
pub mod host;
pub mod ids;
pub mod interrupt;
pub mod net;
pub mod noise;
pub mod owner;
pub mod pinning;
pub mod plan;
pub mod progress;
pub mod report;
pub mod results;
pub mod runner;
pub mod session;
pub mod sizing;
pub mod state;
pub mod stats;
pub mod tool;
pub mod units;
pub mod workload_bin;

/// A mistake in what the user asked for: exit status 2 with a one-line message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Current time, RFC 3339, UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An error and its causes on one line, `outer: inner: ...`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}
