//! Shared helpers for integration tests: capability checks that skip visibly, or fail when
//! `VMBENCH_REQUIRE_ALL=1` (set by CI) says every capability must be present.

#![allow(dead_code)]

use std::path::PathBuf;

/// Whether CI demands every capability.
pub fn require_all() -> bool {
    std::env::var("VMBENCH_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Returns true when the capability is there; otherwise prints a SKIP line (or panics in CI).
pub fn capability(test: &str, present: bool, missing: &str) -> bool {
    if present {
        return true;
    }
    if require_all() {
        panic!("{test}: required capability missing: {missing} (VMBENCH_REQUIRE_ALL=1)");
    }
    eprintln!("SKIP {test}: {missing}");
    println!("SKIP {test}: {missing}");
    false
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A scratch directory removed at the end of the test.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("vmbench-test-")
        .tempdir()
        .unwrap()
}

/// The vmbench binary under test.
pub fn vmbench() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("vmbench").unwrap();
    cmd.env("VMBENCH_CACHE", cache_dir());
    cmd
}

/// A cache shared by the tests of one build.
pub fn cache_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmbench-cache");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The embedded workload binary, extracted.
pub fn workload_binary() -> vmbench::results::BinaryInfo {
    vmbench::workload_bin::resolve(None, &cache_dir()).unwrap()
}
