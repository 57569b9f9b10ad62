//! The host matrix for real: this checkout's vmbench runs inside TCG guests shaped like the
//! hosts users have (a KVM host, a pure cgroup v2 host), over this host's root, and what comes
//! back is checked. A guest that does not come up is a failure with its console's last lines.

mod common;

use serial_test::serial;
use std::path::Path;
use std::time::Duration;
use vmbench::ids::EnvKind;
use vmbench::matrix::{Finished, Guest, MatrixError, Shape};
use vmbench::results::Results;

/// Whether this host can boot matrix guests (root for the 9p share of `/`, QEMU).
fn ready(test: &str) -> bool {
    common::root(test, "sharing the host's root with a guest")
        && common::capability(
            test,
            vmbench::env::vm::find_qemu(None).is_ok(),
            "needs QEMU (apt-get install qemu-system-x86)",
        )
}

/// The lines every guest script starts with: the host's environment for vmbench.
fn preamble() -> String {
    format!(
        "export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         export VMBENCH_CACHE={} VMBENCH_STATE=/run/vmbench\n\
         V={}\n",
        common::cache_dir().display(),
        common::binary().display()
    )
}

/// The leftovers a guest script lists after its runs, one file per kind.
const LEFTOVERS: &str = r#"
find /sys/fs/cgroup -name 'vmbench*' > left-cgroups.txt
ps -eo stat=,args= | grep -E 'qemu-system|vmbench-workload|runc|crun|conmon' | grep -v -E '^Z|grep' > left-processes.txt
ls -d /var/tmp/vmbench-* /tmp/vmbench-* /run/vmbench/out-*.lock 2>/dev/null > left-files.txt
"#;

/// Boots a `shape` guest running `script` with a fresh share; the share and what the guest did.
fn boot(shape: Shape, script: &str, timeout: Duration) -> (tempfile::TempDir, Finished) {
    try_boot(shape, script, timeout)
        .unwrap_or_else(|(e, said)| panic!("{shape} guest: {e}\n{said}"))
}

/// Boots a `shape` guest running `script` with a fresh share; on failure, the error and what
/// the guest got to: its console and every log its script left, as they were.
fn try_boot(
    shape: Shape,
    script: &str,
    timeout: Duration,
) -> Result<(tempfile::TempDir, Finished), (MatrixError, String)> {
    let kernel =
        vmbench::env::vm::kernel::ensure(None, &common::cache_dir()).expect("a guest kernel");
    let qemu = vmbench::env::vm::find_qemu(None).unwrap();
    let share = tempfile::Builder::new()
        .prefix("vmbench-matrix-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let guest = Guest {
        shape,
        kernel: &kernel,
        qemu: &qemu,
        share: share.path(),
        script,
        memory_mib: 4096,
        timeout,
    };
    let finished = vmbench::matrix::run(&guest).map_err(|e| {
        let mut said = String::new();
        for entry in std::fs::read_dir(share.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".log") || name.ends_with(".err") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                said.push_str(&format!(
                    "--- {name} (last 40 lines) ---\n{}\n",
                    tail.join("\n")
                ));
            }
        }
        (e, said)
    })?;
    eprintln!("{shape} guest: {:.0} s", finished.took.as_secs_f64());
    Ok((share, finished))
}

/// A file the guest left in the share, or a failure showing the console and the script's log.
fn read(share: &Path, name: &str, finished: &Finished) -> String {
    std::fs::read_to_string(share.join(name)).unwrap_or_else(|_| {
        let log = std::fs::read_to_string(share.join("script.log")).unwrap_or_default();
        panic!(
            "the guest left no {name}\n--- console (last 100 lines) ---\n{}\n--- script.log ---\n{log}",
            finished.tail(100)
        )
    })
}

/// Asserts that nothing of vmbench's was left in the guest after its runs.
fn nothing_left(share: &Path, finished: &Finished) {
    for file in ["left-cgroups.txt", "left-processes.txt", "left-files.txt"] {
        let left = read(share, file, finished);
        assert!(left.trim().is_empty(), "{file}: {left}");
    }
}

/// The results a guest's run wrote, every trial ok and of one binary.
fn results(share: &Path, finished: &Finished, run: &str) -> Results {
    let rc = read(share, &format!("{run}.rc"), finished);
    let err = read(share, &format!("{run}.err"), finished);
    assert_eq!(rc.trim(), "0", "{run} failed:\n{err}");
    let r = Results::load(&share.join(format!("{run}.json"))).unwrap();
    for t in r.trials.iter().chain(&r.warmup_trials) {
        assert_eq!(t.error, None, "{} {}: {err}", t.env, t.workload);
        let seen = t.guest_view.as_ref().map(|v| v.sha256.as_str());
        assert_eq!(
            seen,
            Some(r.workload_binary.sha256.as_str()),
            "{} {}",
            t.env,
            t.workload
        );
    }
    r
}

/// The KVM guest script's part as an ordinary user in the `kvm` group, as distributions
/// grant `/dev/kvm` (0660, group kvm): the user's own cache, state and QEMU.
const KVM_GROUP: &str = r#"
U=vmbench-user
groupadd -f kvm && chgrp kvm /dev/kvm && chmod 0660 /dev/kvm && usermod -a -G kvm $U
mkdir -p /tmp/user-kvm && cp $V /tmp/user-kvm/vmbench && chown -R $U /tmp/user-kvm
runuser -u $U -- /usr/bin/env -i PATH=$PATH HOME=$(getent passwd $U | cut -d: -f6) sh -c   "cd /tmp/user-kvm && ./vmbench run --env vm-kvm --workload noop --reps 1 --warmup 0    --size small --timeout 300 --out /tmp/user-kvm/r.json" > user-kvm.out 2> user-kvm.err
echo $? > user-kvm.rc
cp /tmp/user-kvm/r.json user-kvm.json
rm -rf /tmp/user-kvm /tmp/vmbench-state-$(id -u $U)
"#;

#[test]
#[serial]
fn a_kvm_host_runs_every_vm_path_with_kvm() {
    let test = "a_kvm_host_runs_every_vm_path_with_kvm";
    if !ready(test) {
        return;
    }
    let script = format!(
        "{}\
         $V doctor > doctor.txt 2>&1\n\
         $V run --env native,container,vm-kvm,vm-kvm-snapshot \
           --workload noop,cpu-int,syscall --reps 1 --warmup 0 --size small --fixed-size \
           --timeout 300 --out $PWD/kvm.json 2> kvm.err\n\
         echo $? > kvm.rc\n\
         $V run --env vm-tcg --workload noop --reps 1 --warmup 0 --size small --fixed-size \
           --timeout 300 --out $PWD/tcg.json 2> tcg.err\n\
         echo $? > tcg.rc\n\
         ls -d $VMBENCH_CACHE/snapshot/*/state > snapshots.txt 2>&1\n\
         {KVM_GROUP}\
         {LEFTOVERS}",
        preamble()
    );
    // A normal run of this guest takes 6 to 7 minutes. TCG's emulated SVM has once wedged the
    // nested guest's vCPU for good (a CI-like run, stop 37: no trial finished after 28 minutes,
    // past the trials' own 300 s limit): a guest that does not finish in 15 minutes is booted
    // once more, saying so, and the second boot must pass everything.
    let limit = Duration::from_secs(900);
    let (share, finished) = match try_boot(Shape::Kvm, &script, limit) {
        Ok(booted) => booted,
        Err((e @ MatrixError::Timeout { .. }, said)) => {
            eprintln!("kvm guest: {e}; booting it once more. What it got to:\n{said}");
            boot(Shape::Kvm, &script, limit)
        }
        Err((e, said)) => panic!("kvm guest: {e}\n{said}"),
    };
    let share = share.path();
    let doctor = read(share, "doctor.txt", &finished);
    let kvm_line = doctor.lines().find(|l| l.contains("] kvm ")).unwrap_or("");
    assert!(
        kvm_line.starts_with("[ok") && kvm_line.contains("usable"),
        "doctor in the kvm guest:\n{doctor}"
    );
    assert!(
        kvm_line.contains("nested KVM inside an emulated guest"),
        "doctor says what KVM is there: {kvm_line}"
    );
    let r = results(share, &finished, "kvm");
    assert_eq!(r.host.accelerator.as_deref(), Some("kvm"), "{:?}", r.host);
    assert!(r.host.nested, "the guest knows it is one");
    assert_eq!(
        r.host.hypervisor.as_deref(),
        Some(vmbench::results::EMULATED)
    );
    assert_eq!(
        r.host.nested_kvm(),
        Some(vmbench::results::NestedKvm::InsideEmulated)
    );
    let envs = [
        EnvKind::Native,
        EnvKind::Container,
        EnvKind::VmKvm,
        EnvKind::VmKvmSnapshot,
    ];
    // No file-io: a nested KVM guest's disk I/O is a storm of exits that TCG's emulated SVM
    // handles slowly, and once wedged the inner QEMU past its trial limit (a CI-like run, stop
    // 34); virtio-blk is tested under TCG on the host (tests/vm.rs).
    for env in envs {
        let n = r.trials.iter().filter(|t| t.env == env).count();
        assert_eq!(n, 3, "{env} trials");
    }
    let snapshot = r.snapshot.as_ref().expect("the snapshot record");
    assert!(
        snapshot.path.starts_with(common::cache_dir()),
        "the state lives in the cache: {snapshot:?}"
    );
    // The guest's cache started from the host's: the state it saved is its only new one, and
    // every snapshot trial restored it.
    let states = read(share, "snapshots.txt", &finished);
    assert!(
        states.contains(&snapshot.path.display().to_string()),
        "{states}"
    );
    for t in r.trials.iter().filter(|t| t.env == EnvKind::VmKvmSnapshot) {
        assert!(
            t.phases
                .contains_key(&vmbench::ids::Phase::MigrationCompleted),
            "{} restored: {:?}",
            t.workload,
            t.phases
        );
    }
    // An ordinary user in the kvm group gets KVM, with QEMU as the user.
    let user = results(share, &finished, "user-kvm");
    assert!(!user.host.root, "the user's run records it was not root");
    assert_eq!(user.host.accelerator.as_deref(), Some("kvm"));
    let t = &user.trials[0];
    assert_eq!(t.env, EnvKind::VmKvm);
    assert!(
        t.host_uid.is_some_and(|uid| uid != 0),
        "QEMU ran as the user: {:?}",
        t.host_uid
    );
    // The emulated guest still runs beside KVM, under its own name (one noop: TCG inside an
    // emulated guest is slow, and the TCG path is tested on the host itself).
    let tcg = results(share, &finished, "tcg");
    assert_eq!(
        tcg.trials
            .iter()
            .filter(|t| t.env == EnvKind::VmTcg)
            .count(),
        1,
        "vm-tcg trials"
    );
    nothing_left(share, &finished);
}

/// The guest script's part as an ordinary user with a delegated subtree, the way systemd's
/// `user@.service` delegates one: `delegated/` is the user's (its folder, `cgroup.procs`,
/// `cgroup.subtree_control`) with cpu, memory and pids on for its children, and the user's
/// shell sits in `delegated/session`. The user's run and clean, then the subtree removed.
const DELEGATED: &str = r#"
U=vmbench-user
D=/sys/fs/cgroup/delegated
echo "+cpu +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
mkdir -p $D/session
echo "+cpu +memory +pids" > $D/cgroup.subtree_control
chown $U $D $D/cgroup.procs $D/cgroup.subtree_control $D/cgroup.threads
chown -R $U $D/session
mkdir -p /tmp/user-run && cp $V /tmp/user-run/vmbench
cat > /tmp/user-run/go.sh <<'EOF'
cd /tmp/user-run && ./vmbench list && \
./vmbench run --env container-rootless --workload noop,cpu-int,mem-bw --reps 1 --warmup 0 \
  --size small --fixed-size --memory 256 --quiet --out /tmp/user-run/user.json && ./vmbench clean
EOF
chown -R $U /tmp/user-run
sh -c "echo \$\$ > $D/session/cgroup.procs && exec runuser -u $U -- /usr/bin/env -i PATH=$PATH \
  HOME=$(getent passwd $U | cut -d: -f6) /bin/sh /tmp/user-run/go.sh" > user.out 2> user.err
echo $? > user.rc
cp /tmp/user-run/user.json user.json
find $D -name 'vmbench*' > left-delegated.txt
# The user's state folder is kept between runs, as root's /run/vmbench is: the files it holds
# besides its locks are listed, then it goes.
S=/tmp/vmbench-state-$(id -u $U)
find $S -type f ! -name '*.lock' > user-state.txt && rm -r $S
rmdir $D/session $D
"#;

/// The guest script's part with user namespaces disabled by the real sysctl: the user's
/// rootless run is refused in one line.
const USERNS_OFF: &str = r#"
echo 0 > /proc/sys/user/max_user_namespaces
mkdir -p /tmp/user-off && chown vmbench-user /tmp/user-off
runuser -u vmbench-user -- /usr/bin/env -i PATH=$PATH HOME=/tmp/user-off sh -c \
  "cd /tmp/user-off && $V run --env container-rootless --workload noop --out /tmp/user-off/r.json" \
  > userns-off.out 2> userns-off.err
echo $? > userns-off.rc
rm -rf /tmp/user-off /tmp/vmbench-state-$(id -u vmbench-user)
"#;

#[test]
#[serial]
fn a_pure_cgroup2_host_runs_the_containers_with_their_limits() {
    let test = "a_pure_cgroup2_host_runs_the_containers_with_their_limits";
    if !ready(test) {
        return;
    }
    let script = format!(
        "{}\
         cat /sys/fs/cgroup/cgroup.subtree_control > subtree-before.txt\n\
         $V run --env container,container-runc,container-crun --workload noop,cpu-int,mem-bw \
           --reps 1 --warmup 0 --size small --fixed-size --memory 256 --quiet \
           --out $PWD/v2.json 2> v2.err\n\
         echo $? > v2.rc\n\
         {DELEGATED}\
         {USERNS_OFF}\
         {LEFTOVERS}",
        preamble()
    );
    let (share, finished) = boot(Shape::Cgroup2, &script, Duration::from_secs(900));
    let share = share.path();
    let before = read(share, "subtree-before.txt", &finished);
    assert!(
        before.trim().is_empty(),
        "a bare v2 host enables nothing: {before}"
    );
    let r = results(share, &finished, "v2");
    assert!(r.host.cgroup.starts_with("v2"), "{}", r.host.cgroup);
    for t in &r.trials {
        let view = t.guest_view.as_ref().unwrap();
        let what = format!("{} {}: {:?}", t.env, t.workload, view.limits);
        assert_eq!(view.limits.memory_max_bytes, Some(256 << 20), "{what}");
        assert!(view.limits.pids_max.is_some(), "{what}");
        assert_eq!(view.cpus, 1, "{what}: pinned to one CPU");
        if t.env == EnvKind::Container {
            assert_eq!(
                t.cgroup_attach,
                Some(vmbench::results::AttachPath::Clone3IntoCgroup),
                "{what}: the builtin starts inside its cgroup"
            );
        }
    }
    // An ordinary user with a delegated subtree: the rootless container gets its limits there.
    let said = read(share, "user.out", &finished);
    let rc = read(share, "user.rc", &finished);
    let err = read(share, "user.err", &finished);
    assert_eq!(rc.trim(), "0", "the user's run:\n{said}\n{err}");
    assert!(
        said.contains("cgroup limits (v2, under /sys/fs/cgroup/delegated)"),
        "list names the delegated subtree:\n{said}"
    );
    let user = Results::load(&share.join("user.json")).unwrap();
    assert_eq!(user.trials.len(), 3, "{err}");
    for t in &user.trials {
        assert_eq!(t.error, None, "{} {}", t.env, t.workload);
        assert_eq!(t.env, EnvKind::ContainerRootless);
        let view = t.guest_view.as_ref().unwrap();
        let what = format!("{}: {:?} {:?}", t.workload, view.limits, t.cgroup_attach);
        assert_eq!(view.limits.memory_max_bytes, Some(256 << 20), "{what}");
        assert!(view.limits.pids_max.is_some(), "{what}");
        assert_eq!(
            t.cgroup_attach,
            Some(vmbench::results::AttachPath::ParentProcs),
            "{what}"
        );
        assert_ne!(t.host_uid, Some(0), "{what}: the user's, not root's");
    }
    let left = read(share, "left-delegated.txt", &finished);
    assert!(left.trim().is_empty(), "the user's run left {left}");
    // User namespaces disabled: one line naming the sysctl, exit 2.
    let rc = read(share, "userns-off.rc", &finished);
    let err = read(share, "userns-off.err", &finished);
    assert_eq!(rc.trim(), "2", "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("user.max_user_namespaces"), "{err}");
    let state = read(share, "user-state.txt", &finished);
    assert!(
        state.trim().is_empty(),
        "the user's state folder holds only its locks after clean: {state}"
    );
    nothing_left(share, &finished);
}
