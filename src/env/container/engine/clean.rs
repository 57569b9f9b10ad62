//! The containers a killed run left in an engine, found by their name (`vmbench-<pid>-<n>`)
//! and removed when their owner is dead.

use super::{podman_global, query, EngineKind};
use crate::tool::which;

/// Removes the containers of dead runs from every engine that answers; returns what went.
pub fn remove_dead(dry_run: bool) -> Vec<String> {
    let mut removed = Vec::new();
    for engine in [EngineKind::Docker, EngineKind::Podman] {
        let Some(client) = which(engine.program()) else {
            continue;
        };
        let global = match engine {
            EngineKind::Docker => Vec::new(),
            EngineKind::Podman => podman_global(),
        };
        let Ok(names) = query(
            &client,
            &global,
            &[
                "ps",
                "--all",
                "--filter",
                "name=vmbench-",
                "--format",
                "{{.Names}}",
            ],
        ) else {
            continue;
        };
        for name in names.lines().map(str::trim) {
            let Some(owner) = crate::owner::owner_of(name) else {
                continue;
            };
            if crate::owner::pid_alive(owner) {
                continue;
            }
            removed.push(format!(
                "{} container {name} of a dead run",
                engine.program()
            ));
            if !dry_run {
                let _ = query(&client, &global, &["rm", "--force", name]);
            }
        }
    }
    removed
}
