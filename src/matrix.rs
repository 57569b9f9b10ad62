//! The host matrix: TCG guests shaped like the hosts users have, each running this checkout's
//! vmbench over the host's own root. The host's `/` is shared read-only over 9p
//! (`multidevs=remap`) with a tmpfs overlay on top, so every path inside is the host's path (the
//! binary, the cache, the tools) and nothing the guest writes reaches the host, except through
//! a second, writable share: the folder the caller gives, where the guest's script leaves its
//! results. The guest kernel is vmbench's own (the cache, provisioned as for any VM run); a
//! busybox `/init` loads the modules, mounts the shares, and runs the script in the overlay moved over `/` (as `switch_root` does).
//!
//! Shapes: `kvm`, with `-cpu max` (QEMU's TCG emulates AMD SVM with nested paging) and
//! `kvm-amd` loaded, so the guest has a real `/dev/kvm`: KVM's code path and shape, not KVM's
//! speed; and `cgroup2`, with cgroup2 mounted alone and no controller enabled below its root,
//! as on a bare pure-v2 host.

use crate::env::vm::initramfs::{resolve_modules, Cpio};
use crate::env::vm::kernel::Kernel;
use crate::error::io_at;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A kind of host the matrix boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray, strum::Display)]
#[strum(serialize_all = "lowercase")]
pub enum Shape {
    /// A host with hardware virtualisation: `/dev/kvm` from `kvm-amd` on QEMU's emulated SVM.
    Kvm,
    /// A pure cgroup v2 host (cgroup2 alone, no controller enabled below the root yet).
    Cgroup2,
}

impl Shape {
    /// The modules its `/init` loads, by name (dependencies are resolved from `modules.dep`).
    fn modules(self) -> Vec<&'static str> {
        let mut modules = vec!["virtio_pci", "9pnet_virtio", "9p", "overlay"];
        if self == Shape::Kvm {
            modules.push("kvm_amd");
        }
        modules
    }
}

/// Why a matrix guest could not be run.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The guest kernel lacks a module the shape needs.
    #[error("the guest kernel {kernel} has no {module} module (the {shape} guest needs it): provision Debian's kernel (remove ~/.cache/vmbench/kernel) or pass a kernel whose lib/modules has it")]
    Module {
        /// The kernel release.
        kernel: String,
        /// What is missing.
        module: String,
        /// The shape.
        shape: Shape,
    },
    /// The kernel has no module tree at all.
    #[error("the guest kernel {0} has no modules beside it: the matrix needs Debian's kernel with its modules (provisioned into the cache)")]
    NoModules(String),
    /// QEMU cannot give a guest AMD SVM.
    #[error("{0} does not emulate AMD SVM (its -cpu help lists no svm flag): the kvm guest needs QEMU 4.2 or later built for x86")]
    NoSvm(PathBuf),
    /// busybox (the guest's init) is missing.
    #[error("no static busybox at /bin/busybox: apt-get install busybox-static")]
    NoBusybox,
    /// Reading a file or starting QEMU failed.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// The guest did not power off in time.
    #[error("the {shape} guest did not finish within {seconds} s")]
    Timeout {
        /// The shape.
        shape: Shape,
        /// The limit.
        seconds: u64,
    },
}

/// One guest to boot: its shape, and the script it runs as root inside.
pub struct Guest<'a> {
    /// What kind of host it is.
    pub shape: Shape,
    /// The kernel it boots (with its modules).
    pub kernel: &'a Kernel,
    /// QEMU.
    pub qemu: &'a Path,
    /// The writable share, mounted at the same path inside; the script is written there.
    pub share: &'a Path,
    /// The shell script the guest runs (as root, in the host's root with a tmpfs overlay).
    pub script: &'a str,
    /// Guest RAM.
    pub memory_mib: u64,
    /// How long the whole guest may take.
    pub timeout: Duration,
}

/// What a guest did.
#[derive(Debug)]
pub struct Finished {
    /// Everything its console printed (the kernel's and `/init`'s lines).
    pub console: String,
    /// The exit status of the script, as `/init` reported it.
    pub script_status: Option<i32>,
    /// How long it took, boot to power-off.
    pub took: Duration,
}

impl Finished {
    /// The last `n` lines of the console, for a failure's message.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.console.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// What `/init` prints before the script's status.
const STATUS: &str = "vmbench-matrix: script exited ";

/// The guest's `/init`: busybox mounts, the modules, the shares, the overlay, the cgroup2
/// tree, then the script in the overlay moved over `/`, and power-off.
fn init_script(shape: Shape) -> String {
    let kvm = if shape == Shape::Kvm {
        "[ -c /dev/kvm ] || echo \"vmbench-matrix: no /dev/kvm after kvm_amd (QEMU's -cpu max gave no svm?)\"\n"
    } else {
        ""
    };
    format!(
        r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do
  insmod /modules/$m || echo "vmbench-matrix: insmod $m failed"
done
{kvm}share=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^vmbench.share=//p')
mkdir -p /host /rw /root
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /host || echo "vmbench-matrix: cannot mount the host's root"
mount -t tmpfs -o size=75% tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /root || echo "vmbench-matrix: overlay failed"
for d in proc sys dev tmp run var/tmp; do mkdir -p /root/$d; done
mount -t proc proc /root/proc
mount -t sysfs sys /root/sys
mount -t devtmpfs dev /root/dev
mkdir -p /root/dev/pts /root/dev/shm
mount -t devpts devpts /root/dev/pts
mount -t tmpfs tmpfs /root/dev/shm
mount -t tmpfs tmpfs /root/tmp
mount -t tmpfs tmpfs /root/run
mount -t tmpfs tmpfs /root/var/tmp
mount -t cgroup2 cgroup2 /root/sys/fs/cgroup
mkdir -p /root$share
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /root$share || echo "vmbench-matrix: cannot mount the share"
echo "vmbench-matrix: ready after $(cut -d' ' -f1 /proc/uptime) s"
# As switch_root does: the overlay moved over / and entered, so the script's root is the mount
# namespace's root. A plain chroot is not, and the kernel refuses a user namespace to a
# chrooted process (an ordinary user's rootless container failed with EPERM).
# Everything after runs inside it (this shell's own root would still be the initramfs).
cd /root
mount -o move . / || echo "vmbench-matrix: cannot move the overlay over /"
exec chroot . /bin/busybox sh -c "cd $share && /bin/sh ./script.sh > script.log 2>&1
echo \"{STATUS}\$?\"
cd / && sync && umount $share
/bin/busybox poweroff -f"
"#
    )
}

/// The guest's initramfs: busybox, `/init`, and the shape's modules in load order.
pub fn initramfs(shape: Shape, kernel: &Kernel) -> Result<Vec<u8>, MatrixError> {
    let modules = kernel
        .modules
        .as_ref()
        .ok_or_else(|| MatrixError::NoModules(kernel.version.clone()))?;
    let dep_path = modules.join("modules.dep");
    let dep = std::fs::read_to_string(&dep_path).map_err(io_at("read", &dep_path))?;
    let order = resolve_modules(&dep, &shape.modules()).map_err(|e| MatrixError::Module {
        kernel: kernel.version.clone(),
        module: e
            .strip_prefix("module ")
            .and_then(|m| m.split(' ').next())
            .unwrap_or(&e)
            .to_string(),
        shape,
    })?;
    let busybox = Path::new("/bin/busybox");
    let busybox = std::fs::read(busybox).map_err(|_| MatrixError::NoBusybox)?;
    let mut cpio = Cpio::new(Vec::with_capacity(16 << 20));
    let written = "an in-memory archive takes every write";
    for dir in ["bin", "dev", "proc", "sys", "modules"] {
        cpio.dir(dir).expect(written);
    }
    cpio.char_device("dev/console", 0o600, 5, 1).expect(written);
    cpio.file("bin/busybox", 0o755, &busybox).expect(written);
    cpio.file("init", 0o755, init_script(shape).as_bytes())
        .expect(written);
    let mut list = String::new();
    for rel in &order {
        let path = modules.join(rel);
        let bytes = std::fs::read(&path).map_err(io_at("read the module", &path))?;
        let name = Path::new(rel)
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        cpio.file(&format!("modules/{name}"), 0o644, &bytes)
            .expect(written);
        list.push_str(&name);
        list.push('\n');
    }
    cpio.file("modules/order", 0o644, list.as_bytes())
        .expect(written);
    Ok(cpio.finish().expect(written))
}

/// Checks that `qemu` can give a TCG guest AMD SVM (`-cpu max` then includes it).
pub fn check_svm(qemu: &Path) -> Result<(), MatrixError> {
    let out = Command::new(qemu)
        .args(["-cpu", "help"])
        .stderr(Stdio::null())
        .output()
        .map_err(io_at("run", qemu))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let flags = text
        .split("Recognized CPUID flags:")
        .nth(1)
        .unwrap_or_default();
    if flags.split_whitespace().any(|f| f == "svm") {
        Ok(())
    } else {
        Err(MatrixError::NoSvm(qemu.to_path_buf()))
    }
}

/// QEMU's arguments for `guest`, booting `initrd`.
fn qemu_args(guest: &Guest, initrd: &Path) -> Vec<String> {
    let cpus = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(4);
    let share = guest.share.display();
    vec![
        "-accel".into(),
        "tcg,thread=multi".into(),
        "-cpu".into(),
        "max".into(),
        "-smp".into(),
        cpus.to_string(),
        "-m".into(),
        guest.memory_mib.to_string(),
        "-M".into(),
        "q35".into(),
        "-nographic".into(),
        "-no-reboot".into(),
        "-kernel".into(),
        guest.kernel.image.display().to_string(),
        "-initrd".into(),
        initrd.display().to_string(),
        "-append".into(),
        format!("console=ttyS0 quiet panic=-1 vmbench.share={share}"),
        "-virtfs".into(),
        "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap".into(),
        "-virtfs".into(),
        format!("local,path={share},mount_tag=share,security_model=none"),
    ]
}

/// Boots `guest`, runs its script, and returns what it did once it powered off. Its QEMU dies
/// with this process (a parent-death signal) and at the timeout.
pub fn run(guest: &Guest) -> Result<Finished, MatrixError> {
    if guest.shape == Shape::Kvm {
        check_svm(guest.qemu)?;
    }
    let initrd = guest.share.join("initrd.cpio");
    let image = initramfs(guest.shape, guest.kernel)?;
    std::fs::write(&initrd, image).map_err(io_at("write", &initrd))?;
    let script = guest.share.join("script.sh");
    std::fs::write(&script, guest.script).map_err(io_at("write", &script))?;
    // The console also goes to the share as it arrives, so a guest that hangs can be read
    // while it does.
    let log_path = guest.share.join("console.log");
    let mut log = std::fs::File::create(&log_path).map_err(io_at("create", &log_path))?;
    let started = Instant::now();
    let mut cmd = Command::new(guest.qemu);
    cmd.args(qemu_args(guest, &initrd))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = crate::tool::spawn_tied(&mut cmd, "QEMU for the host matrix")
        .map_err(|e| io_at("start", guest.qemu)(std::io::Error::other(e.to_string())))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let console = std::thread::spawn(move || {
        let mut text = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = stdout.read(&mut chunk) {
            let _ = std::io::Write::write_all(&mut log, &chunk[..n]);
            text.extend_from_slice(&chunk[..n]);
        }
        let mut err = Vec::new();
        let _ = stderr.read_to_end(&mut err);
        text.extend_from_slice(&err);
        String::from_utf8_lossy(&text).into_owned()
    });
    loop {
        if child
            .try_wait()
            .map_err(io_at("wait for", guest.qemu))?
            .is_some()
        {
            break;
        }
        if started.elapsed() > guest.timeout || crate::interrupt::interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&initrd);
            return Err(MatrixError::Timeout {
                shape: guest.shape,
                seconds: guest.timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    let console = console.join().unwrap_or_default();
    let _ = std::fs::remove_file(&initrd);
    let script_status = console
        .lines()
        .find_map(|l| l.trim().strip_prefix(STATUS))
        .and_then(|s| s.trim().parse().ok());
    Ok(Finished {
        console,
        script_status,
        took,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko
kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko
kernel/fs/overlayfs/overlay.ko:
";

    fn kernel_with(dep: &str) -> (tempfile::TempDir, Kernel) {
        let dir = tempfile::tempdir().unwrap();
        let modules = dir.path().join("lib/modules/6.1.0-test");
        for line in dep.lines() {
            let rel = line.split(':').next().unwrap();
            let path = modules.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"\x7fELF module").unwrap();
        }
        std::fs::write(modules.join("modules.dep"), dep).unwrap();
        let kernel = Kernel {
            version: "6.1.0-test".into(),
            image: dir.path().join("vmlinux"),
            modules: Some(modules),
            source: "test".into(),
        };
        (dir, kernel)
    }

    #[test]
    fn a_kernel_without_kvm_amd_is_refused_naming_it() {
        let (_dir, kernel) = kernel_with(DEP);
        let err = initramfs(Shape::Kvm, &kernel).unwrap_err().to_string();
        assert!(err.contains("has no kvm_amd module"), "{err}");
        assert!(
            err.contains("6.1.0-test") && err.lines().count() == 1,
            "{err}"
        );
        if Path::new("/bin/busybox").exists() {
            let cpio = initramfs(Shape::Cgroup2, &kernel).unwrap();
            let text = String::from_utf8_lossy(&cpio);
            let order = ["virtio.ko", "virtio_pci.ko", "9pnet_virtio.ko", "9p.ko"];
            let at: Vec<usize> = order
                .iter()
                .map(|m| {
                    text.find(&format!("\n{m}\n"))
                        .or_else(|| text.find(&format!("{m}\n")))
                        .unwrap()
                })
                .collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "load order: {at:?}");
        }
    }

    #[test]
    fn a_qemu_without_svm_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("qemu-system-x86_64");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'Available CPUs:'\necho 'Recognized CPUID flags:'\necho '  fpu sse2 vmx'\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = check_svm(&fake).unwrap_err().to_string();
        assert!(err.contains("does not emulate AMD SVM"), "{err}");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'Recognized CPUID flags:'\necho '  fpu svm npt'\n",
        )
        .unwrap();
        check_svm(&fake).unwrap();
    }

    #[test]
    fn the_init_runs_the_script_and_reports_its_status() {
        let init = init_script(Shape::Kvm);
        assert!(init.contains("./script.sh") && init.contains(STATUS));
        assert!(init.contains("/dev/kvm"));
        assert!(!init_script(Shape::Cgroup2).contains("/dev/kvm"));
    }
}
