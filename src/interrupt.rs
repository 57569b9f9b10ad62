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
