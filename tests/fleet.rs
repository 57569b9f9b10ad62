//! Fleet runs, tested here without a cluster (none can be started on this host): the
//! manifests pass the Kubernetes schemas offline, the image built here runs a pod's exact
//! command under Docker and its results render, and `fleet collect` is driven by a stand-in
//! kubectl that answers with API responses in the shapes the Kubernetes API returns (a
//! failed pod, a missing pod, a Job still running at the timeout, a Job that does not exist).

mod common;

use serial_test::serial;
use std::path::{Path, PathBuf};
use std::process::Command;
use vmbench::results::Results;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet")
}

/// The schema validator: `kubernetes-validate` on PATH or in the venv install-deps makes.
fn validator() -> Option<PathBuf> {
    vmbench::tool::which("kubernetes-validate").or_else(|| {
        let venv = Path::new("/opt/vmbench-tools/bin/kubernetes-validate");
        venv.is_file().then(|| venv.to_path_buf())
    })
}

fn manifest(args: &[&str]) -> String {
    let out = common::vmbench()
        .args(["fleet", "manifest"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the validator in strict mode (unknown fields are errors) on `text`.
fn validate(validator: &Path, text: &str) -> (bool, String) {
    let dir = common::scratch();
    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(validator)
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_fleet_manifest_passes_the_kubernetes_schemas() {
    let test = "the_fleet_manifest_passes_the_kubernetes_schemas";
    let found = validator();
    if !common::capability(
        test,
        found.is_some(),
        "kubernetes-validate not found (scripts/install-deps installs it from PyPI)",
    ) {
        return;
    }
    let validator = found.unwrap();
    let text = manifest(&[
        "--image",
        "vmbench:local",
        "--nodes",
        "3",
        "--selector",
        "kubernetes.io/arch=amd64",
        "--",
        "--env",
        "native,container,vm",
    ]);
    let (ok, said) = validate(&validator, &text);
    assert!(ok, "{said}\n{text}");
    for kind in ["namespace/vmbench", "serviceaccount/vmbench", "job/vmbench"] {
        assert!(said.contains(kind), "{kind} not validated: {said}");
    }
    // The check is live: a field the Job schema does not have fails it.
    let spoiled = text.replace("  backoffLimit: 0", "  backoffLimit: 0\n  retries: 3");
    let (ok, said) = validate(&validator, &spoiled);
    assert!(!ok, "a bad field passed: {said}");
}

#[test]
fn bad_manifest_options_are_refused_on_one_line() {
    for (args, needle) in [
        (
            vec!["--image", "vmbench:local", "--namespace", "Bad_NS"],
            "--namespace",
        ),
        (
            vec!["--image", "vmbench:local", "--memory", "lots"],
            "--memory",
        ),
        (vec!["--image", "vmbench:local", "--nodes", "0"], "--nodes"),
        (
            vec!["--image", "vmbench:local", "--", "--env", "mainframe"],
            "mainframe",
        ),
    ] {
        let out = common::vmbench()
            .args(["fleet", "manifest"])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// A results file from a short real native run.
fn native_results(dir: &Path) -> PathBuf {
    let out = dir.join("native.json");
    let status = common::vmbench()
        .args([
            "run",
            "--env",
            "native",
            "--workload",
            "noop",
            "--reps",
            "3",
        ])
        .args([
            "--warmup",
            "0",
            "--fixed-size",
            "--size",
            "small",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

/// A folder of API responses for the stand-in kubectl.
fn responses(job: Option<&str>, pods: &str, logs: &[(&str, String)]) -> tempfile::TempDir {
    let dir = common::scratch();
    if let Some(job) = job {
        std::fs::copy(fixtures().join(job), dir.path().join("job.json")).unwrap();
    }
    std::fs::copy(fixtures().join(pods), dir.path().join("pods.json")).unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    for (pod, text) in logs {
        std::fs::write(dir.path().join("logs").join(format!("{pod}.log")), text).unwrap();
    }
    dir
}

/// Runs `vmbench fleet collect` against the stand-in; returns (exit code, stderr).
fn collect(api: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let o = common::vmbench()
        .env("FAKE_KUBE", api)
        .args([
            "fleet",
            "collect",
            "--namespace",
            "vmbench",
            "--interval",
            "0.05",
        ])
        .arg("--kubectl")
        .arg(fixtures().join("kubectl"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
#[serial]
fn collect_saves_each_nodes_results_and_names_failed_and_missing_pods() {
    let dir = common::scratch();
    let json = std::fs::read(native_results(dir.path())).unwrap();
    let log = format!(
        "vmbench fleet: node node-a\n[1/3] native noop rep 0\n{}",
        vmbench::fleet::transport::encode(&json, "node-a")
    );
    let api = responses(
        Some("job-failed.json"),
        "pods-failed.json",
        &[
            ("vmbench-0-x7k2p", log),
            (
                "vmbench-1-q9m4d",
                "vmbench fleet: node node-b\n[1/3] native noop rep 0\n".into(),
            ),
        ],
    );
    let out = dir.path().join("fleet");
    let (code, err) = collect(api.path(), &out, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("node-a: 3 measured trial(s) saved"), "{err}");
    assert!(
        err.contains("pod vmbench-1-q9m4d (index 1, on node-b) failed: exit code 137, OOMKilled; no results in the log"),
        "{err}"
    );
    assert!(err.contains("index 2: no pod"), "{err}");
    assert!(err.contains("BackoffLimitExceeded"), "{err}");
    let saved = Results::load(&out.join("node-a.json")).unwrap();
    assert_eq!(saved.trials.len(), 3);
    assert!(!out.join("node-b.json").exists());
    let calls = std::fs::read_to_string(api.path().join("calls")).unwrap();
    assert!(
        calls.contains("--namespace vmbench get pods --selector=job-name=vmbench"),
        "{calls}"
    );

    // The saved file renders; two nodes render side by side with a column each.
    let mut copy = saved.clone();
    copy.fleet = Some(vmbench::results::FleetRecord {
        node: "node-c".into(),
        ..Default::default()
    });
    copy.save(&out.join("node-c.json")).unwrap();
    let html = dir.path().join("fleet.html");
    let (a, c) = (out.join("node-a.json"), out.join("node-c.json"));
    let text = common::rendered(&[&a, &c], &html);
    assert!(text.contains("id=\"side-by-side\""));
    // A file without a fleet record (this one came from a plain run) keeps its file name.
    assert!(text.contains("<th>node-a.json</th>"));
    assert!(
        text.contains("<th>node-c</th>"),
        "the node names the column"
    );
}

#[test]
fn collect_times_out_naming_the_pods_still_waiting() {
    let dir = common::scratch();
    let api = responses(Some("job-running.json"), "pods-running.json", &[]);
    let started = std::time::Instant::now();
    let (code, err) = collect(api.path(), &dir.path().join("out"), &["--timeout", "0.5"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(started.elapsed().as_secs_f64() < 30.0);
    assert!(
        err.contains("timed out after 0.5")
            && err.contains("waiting for job vmbench/vmbench: 0 of 2 pod(s) finished"),
        "{err}"
    );
    assert!(
        err.contains("pod vmbench-0-h2b8s (index 0, on node-a): still Running"),
        "{err}"
    );
    assert!(
        err.contains("pod vmbench-1-t5n7c (index 1, not scheduled): still Pending: Unschedulable: 0/2 nodes are available"),
        "{err}"
    );
    let polls = std::fs::read_to_string(api.path().join("calls")).unwrap();
    assert!(polls.matches("get job").count() >= 2, "it polled: {polls}");
}

#[test]
fn a_missing_job_or_kubectl_is_one_line_naming_it() {
    let dir = common::scratch();
    let api = responses(None, "pods-running.json", &[]);
    let (code, err) = collect(api.path(), &dir.path().join("out"), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("NotFound") && err.contains("\"vmbench\" not found"),
        "{err}"
    );
    let o = common::vmbench()
        .args([
            "fleet",
            "collect",
            "--kubectl",
            "/nonexistent/kubectl",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("kubectl not found") && err.contains("--kubectl"),
        "{err}"
    );
}

/// Lines of a docker listing command.
fn docker_list(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
#[serial]
fn the_image_runs_the_pods_command_under_docker_and_its_results_render() {
    let test = "the_image_runs_the_pods_command_under_docker_and_its_results_render";
    let ready = common::is_root()
        && common::docker_answers()
        && vmbench::tool::which("mmdebstrap").is_some()
        && vmbench::tool::which("qemu-system-x86_64").is_some();
    if !common::capability(
        test,
        ready,
        "needs root, a Docker daemon, mmdebstrap and QEMU (scripts/install-deps)",
    ) {
        return;
    }
    let dangling = docker_list(&["images", "--quiet", "--filter", "dangling=true"]);
    let volumes = docker_list(&["volume", "ls", "--quiet"]);
    let build = common::vmbench()
        .args(["image", "build", "--tag", "vmbench:local"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&build.stderr);
    assert!(build.status.success(), "{said}");
    assert!(
        said.contains("built vmbench:local") && said.contains("qemu-system-x86"),
        "{said}"
    );

    // The pod's command, exactly as the manifest gives it, run by Docker.
    let line = common::vmbench()
        .args([
            "fleet",
            "manifest",
            "--image",
            "vmbench:local",
            "--docker",
            "--",
        ])
        .args([
            "--env",
            "native,container,vm",
            "--workload",
            "noop,cpu-int",
            "--reps",
            "3",
        ])
        .args(["--warmup", "0", "--fixed-size", "--size", "small"])
        .output()
        .unwrap();
    assert!(line.status.success());
    let line = String::from_utf8(line.stdout).unwrap();
    let pod = Command::new("sh")
        .arg("-c")
        .arg(line.trim())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&pod.stdout).into_owned();
    assert!(
        pod.status.success(),
        "{}\n{}",
        line,
        String::from_utf8_lossy(&pod.stderr)
    );
    let block = vmbench::fleet::transport::decode(&log).unwrap();
    let results = Results::from_bytes(Path::new("pod"), &block.json).unwrap();
    let fleet = results.fleet.as_ref().expect("labelled with its node");
    assert_eq!(fleet.node, block.node);
    assert_eq!(fleet.image.as_deref(), Some("vmbench:local"));
    for env in ["native", "container"] {
        let ok = results
            .trials
            .iter()
            .filter(|t| t.env.name() == env && t.error.is_none())
            .count();
        assert_eq!(ok, 6, "{env}: {ok} good trials");
    }
    let vm_trials = results
        .trials
        .iter()
        .filter(|t| t.env.family() == vmbench::ids::Family::Vm && t.error.is_none())
        .count();
    assert_eq!(vm_trials, 6, "the VM ran in the pod");

    // Through `fleet collect` (the log as the API would return it) to a rendered report.
    let dir = common::scratch();
    let pods = std::fs::read_to_string(fixtures().join("pods-failed.json"))
        .unwrap()
        .replace("node-a", &block.node);
    let api = responses(
        Some("job-failed.json"),
        "pods-failed.json",
        &[("vmbench-0-x7k2p", log)],
    );
    std::fs::write(api.path().join("pods.json"), pods).unwrap();
    let out = dir.path().join("fleet");
    let (_, err) = collect(api.path(), &out, &[]);
    let file = out.join(format!("{}.json", block.node));
    assert!(file.is_file(), "{err}");
    let html = dir.path().join("fleet.html");
    let text = common::rendered(&[&file], &html);
    assert!(text.contains("vm-tcg") || text.contains("vm-kvm"));

    // Nothing left behind: no container, no volume, no image other than the one built.
    assert!(docker_list(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        "label=vmbench.dev/job"
    ])
    .is_empty());
    assert_eq!(docker_list(&["volume", "ls", "--quiet"]), volumes);
    let now = docker_list(&["images", "--quiet", "--filter", "dangling=true"]);
    assert!(
        now.iter().all(|i| dangling.contains(i)),
        "new unnamed images: {now:?}"
    );
}

#[test]
#[serial]
fn a_pod_in_its_own_cgroup_namespace_joins_the_hosts_and_runs_containers() {
    let test = "a_pod_in_its_own_cgroup_namespace_joins_the_hosts_and_runs_containers";
    let ready = common::is_root() && vmbench::tool::which("unshare").is_some();
    if !common::capability(test, ready, "needs root and unshare") {
        return;
    }
    // What containerd gives a pod on a cgroup v2 node: a cgroup namespace of its own. The
    // host's namespace is this test's (PID 1 hides its namespaces on some sandboxed hosts).
    let dir = common::scratch();
    let out = dir.path().join("node.json");
    let o = Command::new("unshare")
        .arg("--cgroup")
        .arg(common::binary())
        .args([
            "fleet",
            "node",
            "--env",
            "native,container",
            "--workload",
            "noop",
        ])
        .args([
            "--reps",
            "3",
            "--warmup",
            "0",
            "--fixed-size",
            "--size",
            "small",
            "--out",
        ])
        .arg(&out)
        .env("VMBENCH_CACHE", common::cache_dir())
        .env("VMBENCH_NODE", "node-under-test")
        .env("VMBENCH_HOST_PID", std::process::id().to_string())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("in the host's cgroup namespace"), "{err}");
    let block = vmbench::fleet::transport::decode(&String::from_utf8_lossy(&o.stdout)).unwrap();
    assert_eq!(block.node, "node-under-test");
    let results = Results::from_bytes(&out, &block.json).unwrap();
    assert_eq!(
        Results::load(&out).unwrap().fleet,
        results.fleet,
        "the file holds the record"
    );
    let fleet = results.fleet.unwrap();
    assert!(fleet.host_cgroupns);
    let contained = results
        .trials
        .iter()
        .filter(|t| t.env.name() == "container" && t.error.is_none())
        .count();
    assert_eq!(contained, 3, "containers entered their cgroups");
}
