//! `vmbench list`: the workloads with their headline metric, and the environments with
//! whether this host can run each.

use super::Ending;
use crate::env::{self, EnvKind};
use crate::results::HostInfo;
use std::fmt::Write;
use vmbench_workload::{Better, Size, Workload};

/// Prints the list.
pub fn execute() -> anyhow::Result<Ending> {
    print!("{}", render(&crate::session::host_facts()));
    Ok(Ending::Success)
}

/// The `list` output: workloads then environments.
pub fn render(host: &HostInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "workloads (headline metric, unit, better direction; default size):"
    );
    for w in Workload::ALL {
        let h = w.headline();
        let better = if h.better == Better::Higher {
            "higher"
        } else {
            "lower"
        };
        let _ = writeln!(
            s,
            "  {:<13} {:<16} {:<11} {:<7} {}",
            w.name(),
            h.name,
            h.unit,
            better,
            w.describe(Size::Default)
        );
    }
    let _ = writeln!(s, "environments:");
    for &kind in EnvKind::ALL {
        let state = match env::availability(kind, host) {
            Ok(detail) => format!("available: {detail}"),
            Err(why) => format!("unavailable: {why}"),
        };
        let _ = writeln!(
            s,
            "  {:<15} {}\n  {:<15} {state}",
            kind.name(),
            kind.describe(),
            ""
        );
    }
    let _ = writeln!(
        s,
        "  {:<15} the best VM accelerator this host can use (vm-kvm, else vm-tcg)",
        "vm"
    );
    s
}
