//! The workload binary is static: no ELF interpreter, no shared libraries, and it runs in an
//! empty root directory (a chroot holding nothing but itself).

mod common;

use std::os::unix::process::CommandExt;

#[test]
fn embedded_workload_binary_has_no_interpreter_or_libraries() {
    let bytes = vmbench::workload_bin::embedded();
    let elf = goblin::elf::Elf::parse(bytes).unwrap();
    assert!(
        elf.interpreter.is_none(),
        "has interpreter {:?}",
        elf.interpreter
    );
    assert!(elf.libraries.is_empty(), "needs {:?}", elf.libraries);
    assert!(vmbench::workload_bin::is_static(bytes));
    // A dynamically linked program (the test harness itself) is told apart.
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(!vmbench::workload_bin::is_static(&me));
}

#[test]
fn host_hash_matches_the_hash_the_binary_reports_of_itself() {
    let info = common::workload_binary();
    let out = std::process::Command::new(&info.path)
        .args(["--workload", "noop", "--identity"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let identity = text
        .lines()
        .find_map(|l| match vmbench_workload::parse_line(l).unwrap() {
            Some(vmbench_workload::Event::Identity { sha256, .. }) => Some(sha256),
            _ => None,
        })
        .expect("identity line");
    assert_eq!(identity, info.sha256);
    assert_eq!(info.bytes, vmbench::workload_bin::embedded().len() as u64);
}

#[test]
fn runs_alone_in_an_empty_root() {
    if !common::capability(
        "runs_alone_in_an_empty_root",
        common::is_root(),
        "chroot needs root",
    ) {
        return;
    }
    let info = common::workload_binary();
    let root = common::scratch();
    std::fs::copy(&info.path, root.path().join("w")).unwrap();
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    let dir = root.path().to_path_buf();
    let mut cmd = std::process::Command::new("/w");
    cmd.args([
        "--workload",
        "cpu-int",
        "--size",
        "small",
        "--data-dir",
        "/",
    ]);
    // SAFETY: chroot and chdir are plain system calls, safe between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::chroot(&dir)?;
            nix::unistd::chdir("/")?;
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("\"event\":\"ready\"") && text.contains("\"event\":\"done\""),
        "{text}"
    );
}
