//! The containers a killed run left in an engine, found by their name (`vmbench-<pid>-<n>`)
//! and removed when their owner is dead.

use super::{podman_global, query, EngineKind};
use crate::tool::which;

/// Removes the containers of dead runs from every engine that answers; returns what went.
pub fn remove_dead(dry_run: bool) -> Vec<String> {
    let mut removed = Vec::new();
    for engine in <EngineKind as strum::VariantArray>::VARIANTS
        .iter()
        .copied()
    {
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
                "{{.Names}} {{.State}}",
            ],
        ) else {
            continue;
        };
        for line in names.lines() {
            let mut fields = line.split_whitespace();
            let (Some(name), state) = (fields.next(), fields.next().unwrap_or("unknown")) else {
                continue;
            };
            let Some(owner) = crate::owner::owner_of(name) else {
                continue;
            };
            if crate::owner::pid_alive(owner) {
                continue;
            }
            removed.push(format!(
                "{} container {name} of a dead run ({state})",
                engine.program()
            ));
            if !dry_run {
                let _ = query(&client, &global, &["rm", "--force", name]);
            }
        }
    }
    removed
}
