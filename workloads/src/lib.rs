//! The vmbench workload catalogue, the host/guest line protocol, and the code of the static
//! `vmbench-workload` binary that runs unchanged natively, in containers and as a VM's `/init`.

pub mod agent;
pub mod catalogue;
pub mod invocation;
pub mod kernels;
pub mod protocol;
pub mod sys;
pub mod view;

pub use catalogue::{Size, Workload};
pub use invocation::{default_bind, Invocation};
pub use protocol::{parse_line, Better, Event, GuestView, Metric, Rusage, PREFIX};

use std::io::Write;

/// Prints one protocol event on stdout and flushes it at once.
pub fn emit(event: &Event) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", event.to_line());
    let _ = out.flush();
}

/// Runs an invocation: `ready` (with `view`), one `result` per run, then `done`.
/// Returns the process exit status.
pub fn run_invocation(args: &[String], view: GuestView) -> i32 {
    let parsed = Invocation::parse(args);
    emit(&Event::Ready(view));
    let inv = match parsed {
        Ok(inv) => inv,
        Err(message) => {
            emit(&Event::Error { message });
            return 2;
        }
    };
    if inv.identity {
        let sha256 = view::self_sha256().unwrap_or_else(|e| format!("unreadable: {e}"));
        emit(&Event::Identity {
            sha256,
            processes_visible: view::processes_visible(),
            root_entries: view::root_entries(),
        });
    }
    if inv.watch_stdin {
        sys::exit_when_stdin_ends();
    }
    if let Some(fault) = &inv.fault {
        return invocation::inject(fault);
    }
    let params = kernels::Params::for_size(inv.size);
    for _ in 0..inv.runs {
        match kernels::run(inv.workload, &params, &inv.data_dir, &inv.bind) {
            Ok(m) => emit(&Event::Result {
                workload: inv.workload.name().to_string(),
                metrics: m.metrics,
                elapsed_ns: m.elapsed_ns,
                rusage: sys::rusage(),
                detail: m.detail,
            }),
            Err(message) => {
                emit(&Event::Error { message });
                return 1;
            }
        }
    }
    emit(&Event::Done);
    0
}
