//! The CLI driven as a user would: listing, and every kind of bad input gets one line naming
//! the problem and exit status 2.

mod common;

use predicates::prelude::*;

fn one_line_error(args: &[&str], needles: &[&str]) {
    let out = common::vmbench()
        .args(args)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?} gave: {stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: {needle:?} not in {stderr}"
        );
    }
}

#[test]
fn list_shows_every_workload_with_its_unit() {
    let assert = common::vmbench().arg("list").assert().success();
    let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    for w in vmbench_workload::Workload::ALL {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(w.name()))
            .unwrap_or_else(|| panic!("{} missing from list:\n{out}", w.name()));
        assert!(line.contains(w.headline().unit), "{line}");
    }
    assert!(out.contains("native") && out.contains("vm-tcg") && out.contains("container-crun"));
}

#[test]
fn unknown_workload_names_the_valid_ones() {
    one_line_error(
        &["run", "--workload", "cpu"],
        &["unknown workload 'cpu'", "cpu-int", "net-loopback"],
    );
}

#[test]
fn unknown_environment_names_the_valid_ones() {
    one_line_error(
        &["run", "--env", "docker"],
        &["unknown environment 'docker'", "container-runc", "vm-tcg"],
    );
}

#[test]
fn bad_repetitions_are_refused() {
    one_line_error(&["run", "--reps", "0"], &["--reps"]);
    one_line_error(&["run", "--reps", "many"], &["--reps", "many"]);
}

#[test]
fn a_first_write_cannot_be_timed_in_a_warm_instance() {
    one_line_error(
        &["run", "--workload", "file-layer", "--mode", "warm"],
        &["file-layer", "--mode cold"],
    );
}

#[test]
fn malformed_flags_are_refused() {
    one_line_error(
        &["run", "--size", "huge"],
        &["--size", "small, default or large"],
    );
    one_line_error(&["run", "--cpus", "1-0"], &["--cpus"]);
    one_line_error(
        &["run", "--mtu", "1500,1234"],
        &["--mtu", "1234", "1500, 9000 or 65520"],
    );
    one_line_error(&["run", "--timeout", "-3"], &["--timeout"]);
    one_line_error(&["run", "--frobnicate"], &["--frobnicate"]);
    one_line_error(&["launch"], &["launch"]);
}

#[test]
fn unwritable_out_is_refused_before_any_work() {
    one_line_error(
        &[
            "run",
            "--workload",
            "noop",
            "--out",
            "/nonexistent-dir/r.json",
        ],
        &["--out /nonexistent-dir/r.json"],
    );
}

#[test]
fn help_and_version_exit_zero() {
    common::vmbench()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("doctor"));
    common::vmbench().arg("--version").assert().success();
}
