//! What every container environment's figures are of, held against the workload's own: the
//! process vmbench samples is the workload (its RSS and CPU match what the workload measured of
//! itself with getrusage), the cgroup's memory peak and CPU time are the workload's (read while
//! the cgroup exists, not after a runtime removed it), and a launcher beside the workload (an
//! OCI runtime, an engine's client) is counted apart.

mod common;

use serial_test::serial;
use vmbench::ids::EnvKind;
use vmbench::results::{Results, Trial};
use vmbench_workload::Workload;

const TEST: &str = "every_container_environment_accounts_the_workload_itself";

/// The container environments this host can run, each skipped with its reason otherwise.
fn present() -> Vec<EnvKind> {
    let has = |program: &str| vmbench::tool::which(program).is_some();
    let mut envs = vec![EnvKind::Container];
    for (env, present, missing) in [
        (EnvKind::ContainerRunc, has("runc"), "runc is not installed"),
        (EnvKind::ContainerCrun, has("crun"), "crun is not installed"),
        (
            EnvKind::ContainerGvisor,
            has("runsc"),
            "runsc is not installed",
        ),
        (
            EnvKind::ContainerPodman,
            has("podman"),
            "podman is not installed",
        ),
        (
            EnvKind::ContainerDocker,
            common::docker_answers(),
            "no Docker daemon answers (scripts/start-dockerd)",
        ),
    ] {
        if common::capability(&format!("{TEST} ({env})"), present, missing) {
            envs.push(env);
        }
    }
    envs
}

/// The one measured trial of `workload` in `env`.
fn trial(results: &Results, env: EnvKind, workload: Workload) -> &Trial {
    let t = results
        .trials
        .iter()
        .find(|t| t.env == env && t.workload == workload)
        .unwrap_or_else(|| panic!("no {workload} trial in {env}"));
    assert_eq!(t.error, None, "{env} {workload}");
    t
}

const MIB: f64 = 1048576.0;

#[test]
#[serial]
fn every_container_environment_accounts_the_workload_itself() {
    if !common::root(TEST, "containers and cgroups") {
        return;
    }
    let envs = present();
    let names: Vec<&str> = envs.iter().map(|e| e.name()).collect();
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    common::vmbench()
        .args([
            "run",
            "--env",
            &names.join(","),
            "--workload",
            "mem-bw,cpu-int",
        ])
        .args(["--reps", "1", "--warmup", "0", "--fixed-size", "--quiet"])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let results = Results::load(&out).unwrap();
    for &env in &envs {
        // Memory: mem-bw holds three 32 MiB arrays from its start to its end.
        let t = trial(&results, env, Workload::MemBw);
        let own = t.rusage.as_ref().expect("the workload's own rusage");
        let own_rss = own.max_rss_bytes as f64;
        let summary = t.summary.as_ref().expect("samples");
        let cgroup_peak = t
            .cgroup
            .as_ref()
            .and_then(|c| c.memory_peak_bytes)
            .expect("the cgroup's memory peak") as f64;
        let what = format!(
            "{env}: own RSS {:.1} MiB, sampled {:.1} MiB, cgroup peak {:.1} MiB",
            own_rss / MIB,
            summary.peak_rss_bytes as f64 / MIB,
            cgroup_peak / MIB
        );
        assert!(
            cgroup_peak >= 0.9 * own_rss && cgroup_peak <= own_rss + 48.0 * MIB,
            "{what}"
        );
        let launcher = summary.peak_launcher_rss_bytes;
        if env == EnvKind::ContainerGvisor {
            // The workload lives inside the sandbox: runsc is what is sampled, the sandbox's
            // memory is its cgroup's.
            assert_eq!(launcher, None, "{what}");
        } else {
            let sampled = summary.peak_rss_bytes as f64;
            assert!((sampled / own_rss - 1.0).abs() < 0.1, "{what}");
            let beside = env != EnvKind::Container;
            assert_eq!(launcher.is_some(), beside, "{what}: launcher {launcher:?}");
        }
        assert!(t.memory_sampled(), "{what}");

        // CPU: cpu-int computes alone; the cgroup holds the workload and what started it.
        let t = trial(&results, env, Workload::CpuInt);
        let own = t.rusage.as_ref().expect("the workload's own rusage");
        let own_cpu = (own.user_ns + own.sys_ns) as f64;
        let cgroup_cpu = t
            .cgroup
            .as_ref()
            .and_then(|c| c.cpu_ns)
            .expect("the cgroup's CPU time") as f64;
        let sampled_cpu = t.summary.as_ref().expect("samples").cpu_ns as f64;
        let what = format!(
            "{env}: own CPU {:.0} ms, cgroup {:.0} ms, sampled {:.0} ms",
            own_cpu / 1e6,
            cgroup_cpu / 1e6,
            sampled_cpu / 1e6
        );
        assert!(
            cgroup_cpu >= 0.8 * own_cpu && cgroup_cpu <= 1.5 * own_cpu + 50e6,
            "{what}"
        );
        if env != EnvKind::ContainerGvisor {
            assert!(
                sampled_cpu >= 0.7 * own_cpu && sampled_cpu <= 1.3 * own_cpu,
                "{what}"
            );
        }
    }
}
