//! The engines users type and the images beside the minimal one, for real: Docker Engine and
//! Podman run the same binary as every other container, each image runs in every container
//! environment, a cold page cache is a real eviction, bad set-ups are named with their fix,
//! and nothing is left behind (containers, cgroups, half-built images).

mod common;

use serial_test::serial;
use std::path::Path;
use std::process::{Command, Stdio};
use vmbench::results::Results;

fn has(program: &str) -> bool {
    vmbench::tool::which(program).is_some()
}

/// Runs vmbench to its end with its own registry; returns (pid, status, stderr).
fn run(args: &[&str], state: &Path, envs: &[(&str, &str)]) -> (u32, Option<i32>, String) {
    let mut cmd = common::process();
    cmd.env("VMBENCH_STATE", state)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    (
        pid,
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn engines_present(test: &str) -> bool {
    common::capability(test, common::is_root(), "needs root")
        && common::capability(
            test,
            common::docker_answers(),
            "no Docker daemon answers (scripts/start-dockerd)",
        )
        && common::capability(test, has("podman"), "podman is not installed")
}

#[test]
#[serial]
fn docker_and_podman_run_the_same_binary_as_every_container_on_the_debian_image() {
    let test = "docker_and_podman_run_the_same_binary_as_every_container_on_the_debian_image";
    if !engines_present(test)
        || !common::capability(test, has("mmdebstrap"), "mmdebstrap is not installed")
    {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    let (pid, code, stderr) = run(
        &[
            "run",
            "--env",
            "native,container,container-docker,container-podman",
            "--image",
            "debian",
            "--workload",
            "noop,cpu-int,file-io,file-layer",
            "--reps",
            "5",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir.path().join("state"),
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let r = Results::load(&out).unwrap();
    assert_eq!(r.trials.len(), 4 * 4 * 5, "every trial present");
    for t in &r.trials {
        assert!(
            t.error.is_none(),
            "{} {} failed: {:?}",
            t.env,
            t.workload,
            t.error
        );
        let view = t.guest_view.as_ref().unwrap();
        assert_eq!(
            view.sha256, r.workload_binary.sha256,
            "{} ran another binary",
            t.env
        );
        if t.env.name().starts_with("container") {
            assert_eq!(
                view.limits.memory_max_bytes,
                Some(512 << 20),
                "{} limit",
                t.env
            );
            assert_eq!(view.net_interfaces, ["lo"], "{} network", t.env);
        }
    }
    layers_and_copy_up(&r);
    let image = r.image.as_ref().expect("image record");
    assert_eq!(image.kind, vmbench::ids::ImageKind::Debian);
    assert!(image.files > 1000 && image.bytes > 50_000_000, "{image:?}");
    for engine in ["docker", "podman"] {
        let e = &image.engines[engine];
        assert!(
            e.size_bytes > 50_000_000 && e.tag.starts_with("vmbench/debian:"),
            "{e:?}"
        );
        let info = &r.host.engines[engine];
        assert!(
            !info.version.is_empty() && !info.runtime.is_empty(),
            "{info:?}"
        );
    }
    // The engines' start is split: the engine created the container before the workload's
    // first output.
    let docker = r
        .trials
        .iter()
        .find(|t| t.env.name() == "container-docker")
        .unwrap();
    let created = docker.phases[&vmbench::ids::Phase::EngineCreated];
    assert!(
        created > 0 && created < docker.startup_ns.unwrap(),
        "{:?}",
        docker.phases
    );
    assert_eq!(common::settled_leftovers(pid), Vec::<String>::new());
}

/// Each engine's image is two layers (the Debian base, then the workload alone), the base
/// named alike by both engines; in every container the first write into the image's file was
/// a copy-up (slower than the second write by far), natively the same writes found no layer.
fn layers_and_copy_up(r: &Results) {
    let image = r.image.as_ref().expect("image record");
    let (docker, podman) = (
        &image.engines["docker"].layers,
        &image.engines["podman"].layers,
    );
    for layers in [docker, podman] {
        assert_eq!(layers.len(), 2, "{layers:?}");
        assert!(layers[0].bytes > 50_000_000, "{layers:?}");
        let workload = layers[1].bytes as f64 / r.workload_binary.bytes as f64;
        assert!((1.0..1.1).contains(&workload), "{layers:?}");
    }
    assert_eq!(
        docker[0].digest, podman[0].digest,
        "the same base, named alike"
    );
    for env in [
        "native",
        "container",
        "container-docker",
        "container-podman",
    ] {
        let trials: Vec<_> = r
            .trials
            .iter()
            .filter(|t| t.env.name() == env && t.workload == vmbench_workload::Workload::FileLayer)
            .collect();
        assert_eq!(trials.len(), 5, "{env}");
        let median = |name: &str| {
            let mut xs: Vec<f64> = trials
                .iter()
                .map(|t| t.metrics.iter().find(|m| m.name == name).unwrap().value)
                .collect();
            xs.sort_by(f64::total_cmp);
            xs[2]
        };
        let detail = trials[0].detail.as_deref().unwrap_or_default();
        if env == "native" {
            assert!(detail.contains("made here"), "{detail}");
            continue;
        }
        assert!(detail.contains("from the image"), "{env}: {detail}");
        let io = trials[0].io_path.as_deref().unwrap_or_default();
        assert!(io.contains("writable layer"), "{env}: {io}");
        let (first, second) = (median("first_write"), median("rewrite"));
        assert!(
            first > 10.0 * second,
            "{env}: a first write of {first} ms against a second of {second} ms is no copy-up"
        );
    }
}

#[test]
#[serial]
fn every_image_runs_in_every_container_environment() {
    let test = "every_image_runs_in_every_container_environment";
    if !engines_present(test)
        || !common::capability(test, has("busybox"), "busybox-static is not installed")
    {
        return;
    }
    let dir = common::scratch();
    for image in ["minimal", "busybox"] {
        let out = dir.path().join(format!("{image}.json"));
        let (pid, code, stderr) = run(
            &[
                "run",
                "--env",
                "container,container-runc,container-crun,container-podman,container-docker",
                "--image",
                image,
                "--workload",
                "noop",
                "--reps",
                "2",
                "--warmup",
                "0",
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ],
            &dir.path().join("state"),
            &[],
        );
        assert_eq!(code, Some(0), "{image}: {stderr}");
        let r = Results::load(&out).unwrap();
        assert_eq!(r.trials.len(), 5 * 2, "{image}");
        for t in &r.trials {
            assert!(t.error.is_none(), "{image} {}: {:?}", t.env, t.error);
            assert_eq!(
                t.guest_view.as_ref().unwrap().sha256,
                r.workload_binary.sha256
            );
        }
        // A userland is there in busybox, not in minimal.
        let root = &r.trials[0].guest_view.as_ref().unwrap().root_entries;
        assert_eq!(
            root.iter().any(|e| e == "bin"),
            image == "busybox",
            "{image}: {root:?}"
        );
        assert_eq!(
            common::settled_leftovers(pid),
            Vec::<String>::new(),
            "{image}"
        );
    }
}

#[test]
#[serial]
fn a_cold_page_cache_evicts_the_image_files_before_every_start() {
    let test = "a_cold_page_cache_evicts_the_image_files_before_every_start";
    if !common::capability(test, common::is_root(), "needs root") {
        return;
    }
    let dir = common::scratch();
    let out = dir.path().join("cold.json");
    let (_, code, stderr) = run(
        &[
            "run",
            "--env",
            "native,container",
            "--image",
            "busybox",
            "--page-cache",
            "cold",
            "--workload",
            "noop",
            "--reps",
            "2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir.path().join("state"),
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let r = Results::load(&out).unwrap();
    assert_eq!(r.config.page_cache, vmbench::ids::PageCache::Cold);
    for t in r.trials.iter().filter(|t| t.env.name() == "container") {
        // At least the workload binary itself was evicted.
        assert!(
            t.evicted_bytes.unwrap() >= r.workload_binary.bytes,
            "{:?}",
            t.evicted_bytes
        );
    }
}

#[test]
fn a_docker_daemon_that_does_not_answer_is_named_with_its_fix() {
    let test = "a_docker_daemon_that_does_not_answer_is_named_with_its_fix";
    if !common::capability(
        test,
        common::is_root() && has("docker"),
        "needs root and the docker client",
    ) {
        return;
    }
    let dir = common::scratch();
    let (_, code, stderr) = run(
        &[
            "run",
            "--env",
            "container-docker",
            "--workload",
            "noop",
            "--reps",
            "1",
        ],
        &dir.path().join("state"),
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Docker daemon does not answer"), "{stderr}");
    assert!(stderr.contains("scripts/start-dockerd"), "{stderr}");
}

#[test]
fn a_missing_podman_is_named_with_its_fix() {
    let dir = common::scratch();
    let empty = dir.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let (_, code, stderr) = run(
        &[
            "run",
            "--env",
            "container-podman",
            "--workload",
            "noop",
            "--reps",
            "1",
        ],
        &dir.path().join("state"),
        &[("PATH", empty.to_str().unwrap())],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("podman not found") && stderr.contains("apt-get install podman"),
        "{stderr}"
    );
}

#[test]
#[serial]
fn an_image_that_cannot_be_built_is_named_and_leaves_nothing_half_built() {
    let test = "an_image_that_cannot_be_built_is_named_and_leaves_nothing_half_built";
    if !common::capability(test, common::is_root(), "needs root")
        || !common::capability(test, has("mmdebstrap"), "mmdebstrap is not installed")
    {
        return;
    }
    let dir = common::scratch();
    let cache = dir.path().join("cache");
    let cache_env = cache.to_str().unwrap().to_string();
    let args = [
        "run",
        "--env",
        "container",
        "--image",
        "debian",
        "--workload",
        "noop",
        "--reps",
        "1",
    ];
    // No mirror answers.
    let (_, code, stderr) = run(
        &args,
        &dir.path().join("state"),
        &[
            ("VMBENCH_CACHE", &cache_env),
            ("VMBENCH_DEBIAN_MIRROR", "http://127.0.0.1:9/debian"),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot build the debian image"), "{stderr}");
    assert!(stderr.contains("VMBENCH_DEBIAN_MIRROR"), "{stderr}");
    // No mmdebstrap at all.
    let empty = dir.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let (_, code, stderr) = run(
        &args,
        &dir.path().join("state"),
        &[
            ("VMBENCH_CACHE", &cache_env),
            ("PATH", empty.to_str().unwrap()),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("needs mmdebstrap") && stderr.contains("apt-get install mmdebstrap"),
        "{stderr}"
    );
    // Nothing half-built: no image, no base, no staging folder.
    let images = cache.join("image");
    let mut found = Vec::new();
    for folder in ["debian", "debian-base"] {
        for e in std::fs::read_dir(images.join(folder))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                found.push(format!("{folder}/{name}"));
            }
        }
    }
    assert_eq!(found, Vec::<String>::new());
}

#[test]
#[serial]
fn a_dead_runs_engine_container_is_removed_by_the_next_clean() {
    let test = "a_dead_runs_engine_container_is_removed_by_the_next_clean";
    if !engines_present(test) {
        return;
    }
    // A pid that is certainly dead: a child that has exited.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let dir = common::scratch();
    // The busybox image in Docker, as a run leaves it.
    let (_, code, stderr) = run(
        &[
            "run",
            "--env",
            "container-docker",
            "--image",
            "busybox",
            "--workload",
            "noop",
            "--reps",
            "1",
            "--warmup",
            "0",
            "--quiet",
            "--out",
            dir.path().join("r.json").to_str().unwrap(),
        ],
        &dir.path().join("state"),
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let r = Results::load(&dir.path().join("r.json")).unwrap();
    let tag = &r.image.unwrap().engines["docker"].tag;
    let name = format!("vmbench-{dead}-0");
    let started = Command::new("docker")
        .args([
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            &name,
            tag,
            "/bin/sleep",
            "600",
        ])
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    assert_eq!(
        common::leftovers(dead).len(),
        1,
        "the planted container is there"
    );
    let out = common::vmbench()
        .env("VMBENCH_STATE", dir.path().join("state"))
        .arg("clean")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&name),
        "clean names it"
    );
    assert_eq!(common::leftovers(dead), Vec::<String>::new());
}
