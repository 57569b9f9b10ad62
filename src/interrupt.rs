//! Ctrl-C and SIGTERM: the first one asks the run to stop after cleaning up the current
//! instance; nothing is killed from the signal handler itself.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler; later calls are harmless.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("vmbench: interrupted again, still cleaning up");
        } else {
            eprintln!("vmbench: interrupted, cleaning up and keeping finished trials");
        }
    });
}

/// Whether the user asked to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Ctrl-C and SIGTERM held back (blocked) from the start of the process until [`release`]:
/// one that arrives while the command line is parsed is then handled as the command decides
/// (a run cleans up; other commands end at once), never lost to a handler not yet installed.
pub fn hold() {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGINT);
    set.add(nix::sys::signal::Signal::SIGTERM);
    let _ = set.thread_block();
}

/// Delivers what [`hold`] held back: to the handler once [`install`]ed, else as usual.
pub fn release() {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGINT);
    set.add(nix::sys::signal::Signal::SIGTERM);
    let _ = set.thread_unblock();
}
