//! Boots one host-matrix guest (a TCG guest shaped like a KVM host or a pure cgroup v2 host,
//! over this host's root) and runs a shell script in it as root; the script's files land in
//! the share folder. `scripts/make-sample --kvm-nested` uses it; `tests/hosts.rs` checks the
//! matrix itself.
//!
//!   cargo run --release --example host-matrix -- kvm script.sh ./share [--timeout 7200]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use vmbench::matrix::{Guest, Shape};

/// Runs a script inside a host-matrix guest.
#[derive(Parser)]
struct Args {
    /// The kind of host: kvm or cgroup2.
    #[arg(value_parser = parse_shape)]
    shape: Shape,
    /// The shell script the guest runs (as root, in the host's root with a tmpfs overlay).
    script: PathBuf,
    /// The writable folder shared with the guest, mounted at the same path inside.
    share: PathBuf,
    /// Seconds the whole guest may take.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    /// Guest RAM in MiB.
    #[arg(long, default_value_t = 4096)]
    memory: u64,
}

fn parse_shape(s: &str) -> Result<Shape, String> {
    use strum::VariantArray;
    Shape::VARIANTS
        .iter()
        .copied()
        .find(|v| v.to_string() == s)
        .ok_or_else(|| format!("unknown shape {s}: use kvm or cgroup2"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let fail = |what: String| {
        eprintln!("host-matrix: {what}");
        ExitCode::from(2)
    };
    let script = match std::fs::read_to_string(&args.script) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot read {}: {e}", args.script.display())),
    };
    let share = match std::fs::create_dir_all(&args.share).and_then(|()| args.share.canonicalize())
    {
        Ok(p) => p,
        Err(e) => {
            return fail(format!(
                "cannot use {} as the share: {e}",
                args.share.display()
            ))
        }
    };
    let cache = vmbench::cache::cache_dir();
    let kernel = match vmbench::env::vm::kernel::ensure(None, &cache) {
        Ok(k) => k,
        Err(e) => return fail(format!("guest kernel: {e}")),
    };
    let qemu = match vmbench::env::vm::find_qemu(None) {
        Ok(q) => q,
        Err(e) => return fail(format!("{e}")),
    };
    let guest = Guest {
        shape: args.shape,
        kernel: &kernel,
        qemu: &qemu,
        share: &share,
        script: &script,
        memory_mib: args.memory,
        timeout: Duration::from_secs(args.timeout),
    };
    match vmbench::matrix::run(&guest) {
        Ok(done) => {
            eprintln!(
                "host-matrix: the {} guest finished in {:.0} s, its script exited {:?}",
                args.shape,
                done.took.as_secs_f64(),
                done.script_status
            );
            match done.script_status {
                Some(0) => ExitCode::SUCCESS,
                _ => {
                    eprintln!("{}", done.tail(100));
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => fail(format!("{e}")),
    }
}
