//! `vmbench clean`: remove what killed runs left behind (cgroups, work files, half-built kernel
//! caches; leftovers of older versions when no run is alive), saying what went. Every run
//! does this first, too.

use super::Ending;

/// Cleans and reports.
pub fn execute() -> anyhow::Result<Ending> {
    let removed = crate::state::clean(false);
    if removed.is_empty() {
        println!("nothing left behind by earlier runs");
    }
    for line in removed {
        println!("removed {line}");
    }
    Ok(Ending::Success)
}
