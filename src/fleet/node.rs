//! `vmbench fleet node`: what each pod of a fleet Job runs. It joins the host's cgroup
//! namespace (so the host's cgroup tree, mounted at `/sys/fs/cgroup`, is the one its own
//! `/proc/self/cgroup` names), runs the suite like `vmbench run`, labels the results with the
//! node and pod, and prints them between markers for `vmbench fleet collect`.

use super::FleetError;
use crate::results::{FleetRecord, Results};
use crate::session::{self, Ending};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The pod's facts, from the environment the manifest sets (the downward API).
pub fn record_from_env(host_cgroupns: bool) -> Result<FleetRecord, FleetError> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let node = var("VMBENCH_NODE")
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .map(|h| h.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    super::check_node_name(&node)?;
    Ok(FleetRecord {
        node,
        pod: var("VMBENCH_POD"),
        namespace: var("VMBENCH_NAMESPACE"),
        index: var("JOB_COMPLETION_INDEX").and_then(|i| i.parse().ok()),
        image: var("VMBENCH_IMAGE"),
        host_cgroupns,
    })
}

/// Joins the cgroup namespace of PID 1 (or of `VMBENCH_HOST_PID`) when it is not this
/// process's own: with `hostPID`, PID 1 is the node's init, and its namespace is the one whose
/// paths the host's cgroup tree uses. Returns whether it joined.
pub fn join_host_cgroupns() -> Result<bool, FleetError> {
    let pid = std::env::var("VMBENCH_HOST_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1);
    let path = format!("/proc/{pid}/ns/cgroup");
    let ino = |p: &str| std::fs::metadata(p).map(|m| m.ino());
    let own = ino("/proc/self/ns/cgroup").map_err(|e| FleetError::Cgroupns(e.to_string()))?;
    let host = match ino(&path) {
        Ok(host) => host,
        Err(e) => {
            // Without hostPID PID 1 is the pod's own; on some sandboxed hosts the node's init
            // hides its namespaces. Either way the run stays where it is, and says so.
            eprintln!(
                "vmbench fleet: cannot see {path} ({e}): staying in this cgroup namespace; on cgroup v2 nodes instances may not enter their cgroups (run with hostPID, as the manifest does)"
            );
            return Ok(false);
        }
    };
    if own == host {
        return Ok(false);
    }
    let ns = std::fs::File::open(&path)
        .map_err(|e| FleetError::Cgroupns(format!("open {path}: {e}")))?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWCGROUP)
        .map_err(|e| FleetError::Cgroupns(format!("setns: {e}")))?;
    Ok(true)
}

/// Runs the suite on this node and prints its results block on standard output.
pub fn execute(args: &crate::cli::RunArgs) -> anyhow::Result<Ending> {
    let joined = join_host_cgroupns()?;
    let record = record_from_env(joined)?;
    eprintln!(
        "vmbench fleet: node {}{}",
        record.node,
        if joined {
            ", in the host's cgroup namespace"
        } else {
            ""
        }
    );
    let host = session::host_facts();
    let mut request = session::configure::run(args, &host)?;
    if args.out.is_none() {
        request.out = session::configure::default_out("fleet");
    }
    let progress = crate::progress::Progress::new(args.quiet);
    let results = session::run(&request, host, &progress)?;
    progress.finish();
    let view = crate::report::model::RunView::build(
        &record.node,
        &results,
        None,
        results.config.equivalence_pct / 100.0,
    );
    eprint!("{}", crate::report::terminal::render(&view));
    let (ending, line) = session::ending(&results, &request.out);
    if let Some(line) = line {
        eprintln!("{line}");
    }
    let json = label(&request.out, record)?;
    let mut out = std::io::stdout().lock();
    out.write_all(super::transport::encode(&json, &view.label).as_bytes())?;
    out.flush()?;
    Ok(ending)
}

/// Adds the fleet record to the saved results and returns the file's new bytes.
fn label(path: &Path, record: FleetRecord) -> anyhow::Result<Vec<u8>> {
    let mut results = Results::load(path)?;
    results.fleet = Some(record);
    results.save(path)?;
    Ok(std::fs::read(path)?)
}
