//! `vmbench doctor`: prints what this host can and cannot run (see [`crate::doctor`]).

use super::Ending;

/// Prints the checks as a table or JSON.
pub fn execute(json: bool) -> anyhow::Result<Ending> {
    let host = crate::session::host_facts();
    let checks = crate::doctor::checks(&host);
    if json {
        let value = serde_json::json!({ "host": host, "checks": checks });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", crate::doctor::render(&checks));
    }
    Ok(Ending::Success)
}
