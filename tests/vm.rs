//! A real QEMU guest: the workload binary boots as `/init`, reports the same SHA-256 as the
//! host's, runs file-io on a virtio-blk ext4 disk, and nothing is left running afterwards.

mod common;

use serial_test::serial;
use vmbench::env::EnvKind;
use vmbench::results::Results;
use vmbench_workload::Workload;

fn qemu_present(test: &str) -> bool {
    let present = vmbench::env::vm::find_qemu(None).is_ok();
    common::capability(
        test,
        present,
        "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)",
    )
}

fn qemu_processes() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .map(|c| c.trim().starts_with("qemu-system"))
                .unwrap_or(false)
        })
        .count()
}

#[test]
#[serial]
fn a_guest_boots_the_same_binary_and_does_file_io_on_virtio_blk() {
    if !qemu_present("a_guest_boots_the_same_binary_and_does_file_io_on_virtio_blk") {
        return;
    }
    let before = qemu_processes();
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    let assert = common::vmbench()
        .env("VMBENCH_CACHE", common::cache_dir())
        .args([
            "run",
            "--env",
            "native,vm",
            "--workload",
            "noop,syscall,file-io",
            "--reps",
            "1",
            "--warmup",
            "0",
        ])
        .args(["--size", "small", "--timeout", "240", "--quiet", "--out"])
        .arg(&out)
        .assert();
    let output = assert.get_output();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results = Results::load(&out).unwrap();
    let kvm = vmbench::env::vm::accel::kvm_usable().is_ok();
    let vm_env = if kvm { EnvKind::VmKvm } else { EnvKind::VmTcg };
    let vm: Vec<_> = results.trials.iter().filter(|t| t.env == vm_env).collect();
    assert_eq!(
        vm.len(),
        3,
        "{:?}",
        results.trials.iter().map(|t| &t.env).collect::<Vec<_>>()
    );
    assert_eq!(
        results.host.accelerator.as_deref(),
        Some(if kvm { "kvm" } else { "tcg" })
    );
    assert!(results.host.accelerator_reason.is_some());
    for t in &vm {
        assert_eq!(t.error, None, "{t:?}");
        let view = t.guest_view.as_ref().unwrap();
        assert_eq!(
            view.sha256, results.workload_binary.sha256,
            "the guest ran the same bytes"
        );
        assert_eq!(view.pid, 1);
        let agent = view.agent.as_ref().expect("ran as the guest agent");
        assert!(agent.init_uptime_s > 0.0);
        assert!(view.mem_total_bytes > 0 && view.mem_total_bytes <= 512 << 20);
        assert!(t.startup_ns.unwrap() > 0 && t.phases.contains_key("guest_kernel_start_est"));
        assert!(
            t.host_rusage.as_ref().unwrap().max_rss_bytes > 10 << 20,
            "qemu's own footprint is recorded"
        );
        assert_ne!(
            view.kernel, results.host.kernel,
            "the guest runs its own kernel"
        );
    }
    let io = vm.iter().find(|t| t.workload == Workload::FileIo).unwrap();
    assert!(
        io.io_path.as_deref().unwrap().starts_with("virtio-blk"),
        "{:?}",
        io.io_path
    );
    let agent = io.guest_view.as_ref().unwrap().agent.as_ref().unwrap();
    assert!(
        agent.modules.iter().any(|m| m == "virtio_blk")
            && agent.modules.iter().any(|m| m == "ext4")
    );
    let noop = vm.iter().find(|t| t.workload == Workload::Noop).unwrap();
    assert!(
        noop.guest_view
            .as_ref()
            .unwrap()
            .agent
            .as_ref()
            .unwrap()
            .modules
            .is_empty(),
        "no disk, no modules"
    );
    assert_eq!(qemu_processes(), before, "qemu left running");
    let disks = std::fs::read_dir("/var/tmp")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("vmbench-disk-"))
        .count();
    assert_eq!(disks, 0, "disk image left behind");
}

#[test]
#[serial]
fn a_hung_guest_is_killed_at_the_timeout() {
    if !qemu_present("a_hung_guest_is_killed_at_the_timeout") {
        return;
    }
    let before = qemu_processes();
    let dir = common::scratch();
    let out = dir.path().join("r.json");
    // Far too short for a boot: the guest is killed and the failure recorded.
    common::vmbench()
        .args([
            "run",
            "--env",
            "vm-tcg",
            "--workload",
            "noop",
            "--reps",
            "1",
            "--warmup",
            "0",
            "--timeout",
            "0.3",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(1);
    let results = Results::load(&out).unwrap();
    let t = &results.trials[0];
    assert!(t.exit.timed_out, "{t:?}");
    assert!(t.error.as_deref().unwrap().contains("timed out"));
    assert_eq!(qemu_processes(), before);
}
