//! vmbench as an ordinary user, for real: the tests run the vmbench binary as the user
//! `vmbench-user` (CI creates it with `useradd --create-home`, which also grants it a range in
//! `/etc/subuid`), with that user's own home, cache and state, and check what the run
//! recorded and that nothing of it is left: processes, namespaces, mounts, Podman containers,
//! files outside the user's folders.

mod common;

use serde_json::Value;
use serial_test::serial;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The ordinary user the tests run as.
const USER: &str = "vmbench-user";

struct User {
    uid: u32,
    gid: u32,
    home: PathBuf,
    /// A folder of the user's, with a copy of vmbench the user may run.
    dir: tempfile::TempDir,
}

impl User {
    /// The user, when the tests run as root and the user exists; a visible skip otherwise.
    fn get(test: &str) -> Option<User> {
        if !common::root(test, "switching to an ordinary user") {
            return None;
        }
        let found = nix::unistd::User::from_name(USER).ok().flatten();
        let missing = format!(
            "no ordinary user {USER}: create one with useradd --create-home {USER} (CI does)"
        );
        if !common::capability(test, found.is_some(), &missing) {
            return None;
        }
        let user = found.unwrap();
        let dir = tempfile::Builder::new()
            .prefix("vmbench-rootless-")
            .tempdir()
            .unwrap();
        std::fs::copy(common::binary(), dir.path().join("vmbench")).unwrap();
        nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
        Some(User {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir,
            dir,
        })
    }

    /// vmbench as the user, in their folder, with their own home, cache and state.
    fn vmbench(&self, args: &[&str]) -> Command {
        self.vmbench_with(&[], args)
    }

    /// The same with some of its environment changed (`NAME=value`).
    fn vmbench_with(&self, env: &[&str], args: &[&str]) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", USER, "--", "/usr/bin/env", "-i"])
            .arg("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .arg(format!("HOME={}", self.home.display()))
            .args(env)
            .arg(self.dir.path().join("vmbench"))
            .args(args)
            .current_dir(self.dir.path());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.vmbench(args).output().unwrap();
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// A noop run of `env` with `env_vars` that must fail with one line and exit 2: the line.
    fn one_line_error(&self, env_vars: &[&str], env: &str, out: &str) -> String {
        let args = ["run", "--env", env, "--workload", "noop", "--out", out];
        let done = self.vmbench_with(env_vars, &args).output().unwrap();
        let err = String::from_utf8_lossy(&done.stderr).into_owned();
        assert_eq!(done.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        err
    }

    fn results(&self, name: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.path().join(name)).unwrap()).unwrap()
    }

    /// What the user's runs left: their processes (Podman's own pause process, which keeps
    /// the user's namespace for the next `podman` call, is Podman's and stays), mounts made by
    /// their namespaces, Podman containers, files of theirs in the shared temporary folders
    /// other than their state folder.
    fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.uid() != self.uid || e.file_name().to_string_lossy().parse::<u32>().is_err() {
                continue;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let line = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            if comm.trim() != "podman pause" && !line.trim().is_empty() {
                found.push(format!(
                    "process {} ({})",
                    e.file_name().to_string_lossy(),
                    line.trim()
                ));
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        found.extend(
            mounts
                .lines()
                .filter(|l| l.contains(&*self.home.to_string_lossy()) && l.contains("vmbench"))
                .map(|l| format!("mount {l}")),
        );
        let podman = self.podman(&["ps", "--all", "--format", "{{.Names}}"]);
        found.extend(
            podman
                .lines()
                .filter(|l| l.starts_with("vmbench-"))
                .map(|l| format!("podman container {l}")),
        );
        let state = format!("vmbench-state-{}", self.uid);
        for dir in ["/tmp", "/var/tmp"] {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let mine = e.metadata().is_ok_and(|m| m.uid() == self.uid);
                let own_dir = e.path() == self.dir.path();
                if mine && name.starts_with("vmbench") && name != state && !own_dir {
                    found.push(format!("file {}", e.path().display()));
                }
            }
        }
        found
    }

    fn podman(&self, args: &[&str]) -> String {
        let out = Command::new("runuser")
            .args(["-u", USER, "--", "/usr/bin/env", "-i", "PATH=/usr/bin:/bin"])
            .arg(format!("HOME={}", self.home.display()))
            .arg("podman")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The names of a trial's metrics that carry a measured (positive) value.
fn measured(t: &Value) -> Vec<&str> {
    t["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["value"].as_f64().is_some_and(|v| v > 0.0))
        .map(|m| m["name"].as_str().unwrap())
        .collect()
}

fn trials<'a>(results: &'a Value, env: &str) -> Vec<&'a Value> {
    results["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["env"] == env)
        .collect()
}

fn assert_ok(trials: &[&Value], sha: &str) {
    assert!(!trials.is_empty());
    for t in trials {
        assert!(t["error"].is_null(), "{t}");
        assert_eq!(t["guest_view"]["sha256"], sha, "same binary in every trial");
    }
}

#[test]
#[serial]
fn the_rootless_container_maps_the_user_to_root_and_runs_without_limits() {
    let Some(user) =
        User::get("the_rootless_container_maps_the_user_to_root_and_runs_without_limits")
    else {
        return;
    };
    let out = user.run(&[
        "run",
        "--env",
        "native,container-rootless",
        "--workload",
        "noop,cpu-int,file-io,net-rr,net-stream",
        "--reps",
        "2",
        "--out",
        "rootless.json",
    ]);
    assert!(out.status.success());
    let r = user.results("rootless.json");
    assert_eq!(r["host"]["root"], false);
    let sha = r["workload_binary"]["sha256"].as_str().unwrap();
    let rootless = trials(&r, "container-rootless");
    assert_ok(&rootless, sha);
    assert_ok(&trials(&r, "native"), sha);
    assert_eq!(rootless.len(), 10);
    // Both user-space paths carried traffic, each to its own forward on 127.0.0.1, both ways.
    for t in rootless.iter().filter(|t| t["workload"] == "net-stream") {
        let names = measured(t);
        for name in [
            "stream_in",
            "stream_out",
            "stream_in_pasta",
            "stream_out_pasta",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
    }
    for t in rootless.iter().filter(|t| t["workload"] == "net-rr") {
        let names = measured(t);
        for name in ["round_trip", "round_trip_pasta"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        let paths = t["net"]["paths"].as_array().unwrap();
        let labels: Vec<&str> = paths.iter().map(|p| p["path"].as_str().unwrap()).collect();
        assert_eq!(labels, ["slirp4netns", "pasta"]);
        for p in paths {
            assert!(
                p["connect"].as_str().unwrap().starts_with("127.0.0.1:"),
                "{p}"
            );
        }
    }
    for t in &rootless {
        assert_eq!(t["guest_view"]["uid"], 0, "root inside");
        assert_eq!(t["host_uid"], user.uid, "the user on the host");
        assert_eq!(t["guest_view"]["pid"], 1);
        assert_eq!(t["cgroup_attach"], "no-limits");
        assert!(t["guest_view"]["limits"]["memory_max_bytes"].is_null());
        let phases = t["phases"].as_object().unwrap();
        assert!(phases["userns_id_map"].as_u64() < phases["mounts_pivot_root"].as_u64());
    }
    for t in trials(&r, "native") {
        assert_eq!(t["guest_view"]["uid"], user.uid);
        assert_eq!(t["host_uid"], user.uid);
    }
    let env = r["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["env"] == "container-rootless")
        .unwrap();
    let reason = env["reason"].as_str().unwrap();
    assert!(
        reason.contains("newuidmap")
            && reason.contains("no limits: the cgroup tree is not delegated"),
        "{reason}"
    );
    // The density sweep as the user, by default over what a user may run.
    let out = user.run(&[
        "density",
        "--counts",
        "1,2",
        "--ksm",
        "off",
        "--out",
        "density.json",
    ]);
    assert!(out.status.success());
    let d = user.results("density.json");
    let swept: Vec<(&str, u64)> = d["density"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["env"].as_str().unwrap(), s["count"].as_u64().unwrap()))
        .collect();
    for env in ["native", "container-rootless", "vm-tcg"] {
        assert!(swept.contains(&(env, 2)), "{env} x2 in {swept:?}");
    }
    let left = user.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = user.gid;
}

#[test]
#[serial]
fn rootless_podman_and_tcg_run_for_an_ordinary_user_in_the_quick_main_job() {
    let Some(user) =
        User::get("rootless_podman_and_tcg_run_for_an_ordinary_user_in_the_quick_main_job")
    else {
        return;
    };
    let out = user.run(&["compare", "--quick", "--out", "demo.html"]);
    assert!(out.status.success());
    let html = std::fs::read_to_string(user.dir.path().join("demo.html")).unwrap();
    assert!(
        html.contains("run without root"),
        "the report says how it ran"
    );
    let json = std::fs::read_dir(user.dir.path().join("results"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .unwrap();
    let r: Value = serde_json::from_str(&std::fs::read_to_string(json.path()).unwrap()).unwrap();
    let sha = r["workload_binary"]["sha256"].as_str().unwrap();
    for env in ["native", "container-rootless", "container-podman", "vm-tcg"] {
        assert_ok(&trials(&r, env), sha);
    }
    let podman = &r["host"]["engines"]["podman"];
    assert_eq!(podman["rootless"], true, "{podman}");
    let podman = trials(&r, "container-podman");
    for t in &podman {
        assert_eq!(t["guest_view"]["uid"], 0);
    }
    // A noop may end before Podman writes its pid file; cpu-int runs long enough.
    for t in podman.iter().filter(|t| t["workload"] == "cpu-int") {
        assert_eq!(t["host_uid"], user.uid, "{t}");
    }
    assert_eq!(r["host"]["accelerator"], "tcg");
    let not_run: Vec<&str> = r["environments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["available"] == false)
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(
        not_run
            .iter()
            .any(|r| r.contains("runc needs root") && r.contains("container-rootless")),
        "{not_run:?}"
    );
    let left = user.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(
        user.home.join(".cache/vmbench").is_dir(),
        "the user's own cache"
    );
}

#[test]
#[serial]
fn what_needs_root_and_a_missing_newuidmap_are_one_line_errors() {
    let Some(user) = User::get("what_needs_root_and_a_missing_newuidmap_are_one_line_errors")
    else {
        return;
    };
    let err = user.one_line_error(&[], "container-runc", "x.json");
    assert!(
        err.contains("runc needs root") && err.contains("container-rootless"),
        "{err}"
    );
    // The user has a subordinate range: without the helpers it cannot be mapped.
    let err = user.one_line_error(&["PATH=/nonexistent"], "container-rootless", "y.json");
    assert!(err.contains("apt-get install uidmap"), "{err}");
    // A home that cannot be written: the cache has nowhere to go.
    let err = user.one_line_error(&["HOME=/"], "container-rootless", "z.json");
    assert!(
        err.contains("VMBENCH_CACHE") || err.contains("XDG_CACHE_HOME"),
        "{err}"
    );
    assert!(!Path::new(&user.dir.path().join("z.json")).exists());
}

#[test]
#[serial]
fn a_users_runs_and_roots_runs_neither_see_nor_clean_each_other() {
    let Some(user) = User::get("a_users_runs_and_roots_runs_neither_see_nor_clean_each_other")
    else {
        return;
    };
    // A live user run…
    let mut live = user
        .vmbench(&[
            "run",
            "--env",
            "native",
            "--workload",
            "cpu-int",
            "--reps",
            "30",
            "--out",
            "long.json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = PathBuf::from(format!("/tmp/vmbench-state-{}", user.uid));
    let registered =
        || std::fs::read_dir(state.join("runs")).is_ok_and(|d| d.flatten().next().is_some());
    let start = std::time::Instant::now();
    while !registered() && start.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        registered(),
        "the user's run registered in the user's own state folder"
    );
    // …is not root's: root's run goes ahead without --allow-concurrent, and root's clean leaves
    // the user's run and its files alone.
    let scratch = common::scratch();
    let out = scratch.path().join("root.json");
    common::vmbench()
        .args([
            "run",
            "--env",
            "native",
            "--workload",
            "noop",
            "--reps",
            "1",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    common::vmbench().arg("clean").assert().success();
    assert!(
        registered(),
        "root's clean left the user's live run registered"
    );
    // The user's clean does not touch root's state or see root's run.
    let clean = user.run(&["clean"]);
    assert!(clean.status.success());
    let said = String::from_utf8_lossy(&clean.stdout);
    assert!(!said.contains("/run/vmbench"), "{said}");
    let status = live.wait().unwrap();
    assert!(
        status.success(),
        "the user's run finished after root's clean"
    );
    let r = user.results("long.json");
    assert_eq!(trials(&r, "native").len(), 30);
}
