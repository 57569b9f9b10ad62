//! Builds the `vmbench-workload` binary statically (so the same bytes run natively, in an empty
//! container rootfs and as a VM's `/init`) and embeds it in `vmbench`.
//!
//! `+crt-static` is passed to the final crate alone through `cargo rustc`: set globally without
//! `--target`, it breaks every proc-macro dependency.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    for path in ["workloads/src", "workloads/Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", manifest.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=VMBENCH_WORKLOAD_PREBUILT");

    // Packagers may hand in a binary they built themselves.
    if let Ok(prebuilt) = env::var("VMBENCH_WORKLOAD_PREBUILT") {
        println!("cargo:rustc-env=VMBENCH_WORKLOAD_PATH={prebuilt}");
        return;
    }

    let target_root = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target"));
    let target_dir = target_root.join("workload-static");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&manifest)
        .args([
            "rustc",
            "--release",
            "-p",
            "vmbench-workload",
            "--bin",
            "vmbench-workload",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .args([
            "--",
            "-C",
            "target-feature=+crt-static",
            "-C",
            "strip=symbols",
        ]);
    // The outer build's flags and wrappers (clippy, coverage) must not leak into this build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo to build vmbench-workload");
    assert!(
        status.success(),
        "building the static vmbench-workload binary failed"
    );
    let binary = target_dir.join("release").join("vmbench-workload");
    println!("cargo:rustc-env=VMBENCH_WORKLOAD_PATH={}", binary.display());
}
