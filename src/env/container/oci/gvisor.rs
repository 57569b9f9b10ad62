//! gVisor's runsc: which platforms an installed runsc offers (from its `flags` listing), which
//! one vmbench runs it with here, and the first line of a panic its Sentry logged.

use crate::results::{GvisorPlatform, GvisorPlatforms};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where runsc writes a panic of its Sentry, in the instance's state directory.
pub const PANIC_LOG: &str = "panic.log";

/// How many host processes a runsc sandbox on ptrace may have per process the other
/// containers may have.
pub const PTRACE_PIDS_FACTOR: u64 = 8;

/// The reason of the first Go panic or fatal error in a runsc panic log.
pub fn sentry_panic_in(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix("panic: ")
            .or_else(|| l.strip_prefix("fatal error: "))
            .map(|why| why.chars().take(300).collect())
    })
}

/// The platforms an installed runsc offers, from its `flags` listing ("specifies which
/// platform to use: ptrace (default), kvm.").
pub fn offered(runsc: &Path) -> Vec<GvisorPlatform> {
    // Asked once per runsc and process: availability, preparation and the host facts all
    // need it at start-up.
    type Seen = Vec<(PathBuf, Vec<GvisorPlatform>)>;
    static SEEN: std::sync::Mutex<Seen> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, offered)) = seen.iter().find(|(p, _)| p == runsc) {
        return offered.clone();
    }
    let out = Command::new(runsc)
        .arg("flags")
        .stdin(Stdio::null())
        .output()
        .map(|o| [o.stdout, o.stderr].concat())
        .unwrap_or_default();
    let offered = parse_platforms(&String::from_utf8_lossy(&out));
    seen.push((runsc.to_path_buf(), offered.clone()));
    offered
}

/// The platforms a `runsc flags` listing names, in its order (unknown ones left out).
pub fn parse_platforms(flags: &str) -> Vec<GvisorPlatform> {
    let Some((_, list)) = flags.split_once("which platform to use:") else {
        return Vec::new();
    };
    let list = list.split(['.', '\n']).next().unwrap_or("");
    list.split(',')
        .filter_map(|p| GvisorPlatform::parse(p.replace("(default)", "").trim()))
        .collect()
}

/// The platform runsc intercepts system calls with: `VMBENCH_RUNSC_PLATFORM` when offered,
/// else `systrap` (runsc from 2023 on), else `kvm` where the host runs KVM guests, else
/// `ptrace`, which every runsc and host has.
pub fn choose(offered: &[GvisorPlatform], kvm_usable: bool) -> Result<GvisorPlatform, String> {
    let has = |p: GvisorPlatform| offered.contains(&p);
    if let Some(asked) = std::env::var("VMBENCH_RUNSC_PLATFORM")
        .ok()
        .filter(|p| !p.is_empty())
    {
        let names: Vec<&str> = offered.iter().map(|p| p.name()).collect();
        return match GvisorPlatform::parse(&asked) {
            Some(p) if offered.is_empty() || has(p) => Ok(p),
            _ => Err(format!(
                "VMBENCH_RUNSC_PLATFORM={asked}, which this runsc does not offer (it offers {})",
                names.join(", ")
            )),
        };
    }
    Ok(if has(GvisorPlatform::Systrap) {
        GvisorPlatform::Systrap
    } else if has(GvisorPlatform::Kvm) && kvm_usable {
        GvisorPlatform::Kvm
    } else {
        GvisorPlatform::Ptrace
    })
}

/// The platform runsc uses on a host whose accelerator is `accelerator`, and the ones it offers.
pub fn platforms(runsc: &Path, accelerator: Option<&str>) -> GvisorPlatforms {
    let offered = offered(runsc);
    GvisorPlatforms {
        chosen: choose(&offered, accelerator == Some("kvm")),
        offered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use GvisorPlatform::{Kvm, Ptrace, Systrap};

    #[test]
    fn a_sentry_panic_is_read_from_its_log() {
        let log = "goroutine 1\npanic: error initializing first thread: resource temporarily unavailable\npanic({0xe7f040})\n";
        assert_eq!(
            sentry_panic_in(log).as_deref(),
            Some("error initializing first thread: resource temporarily unavailable")
        );
        assert_eq!(
            sentry_panic_in("fatal error: out of memory\n").as_deref(),
            Some("out of memory")
        );
        assert_eq!(sentry_panic_in("I1128 all well\n"), None);
    }

    #[test]
    fn platforms_are_read_from_runsc_flags() {
        let flags = "  -platform string\n    \tspecifies which platform to use: ptrace (default), kvm. (default \"ptrace\")\n";
        assert_eq!(parse_platforms(flags), vec![Ptrace, Kvm]);
        let newer = "specifies which platform to use: systrap (default), ptrace, kvm.";
        assert_eq!(parse_platforms(newer), vec![Systrap, Ptrace, Kvm]);
        assert!(parse_platforms("no such flag").is_empty());
    }

    #[test]
    fn the_fastest_platform_the_host_allows_is_chosen() {
        if std::env::var_os("VMBENCH_RUNSC_PLATFORM").is_some() {
            eprintln!("skipped: VMBENCH_RUNSC_PLATFORM is set");
            return;
        }
        assert_eq!(choose(&[Ptrace, Kvm], false), Ok(Ptrace));
        assert_eq!(choose(&[Ptrace, Kvm], true), Ok(Kvm));
        assert_eq!(choose(&[Systrap, Ptrace, Kvm], false), Ok(Systrap));
    }
}
