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
pub mod error;
pub mod fleet;
pub mod host;
pub mod ids;
pub mod input;
pub mod interrupt;
pub mod matrix;
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

pub use error::{error_chain, UsageError};

/// Current time, RFC 3339, UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
