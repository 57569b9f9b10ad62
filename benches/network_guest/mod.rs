//! The bench-only guest: the same kernel, modules, QEMU command line and wiring as a run's VM,
//! serving vmbench's own instance end (the workload binary, same bytes) beside independent
//! servers (iperf3, iperf2 and sockperf), each on its own port, so that vmbench's peer and the
//! references cross the same boot of the same guest. Its initramfs is vmbench's own followed by
//! a second archive (the kernel unpacks both, the later entry wins): a static busybox, a shell
//! `/init`, the workload binary, the tools and the shared libraries `ldd` resolves for them.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use vmbench::env::vm::initramfs::Cpio;
use vmbench::env::vm::qemu::{self, QemuConfig};
use vmbench::env::vm::VmSettings;
use vmbench::env::Accel;
use vmbench::net::{NetPath, PathEnd, Wiring};

/// The guest's port of each independent server (vmbench's listens on its own, 7399).
pub const IPERF3_PORT: u16 = 7400;
/// sockperf's port in the guest.
pub const SOCKPERF_PORT: u16 = 7401;
/// iperf2's port in the guest.
pub const IPERF2_PORT: u16 = 7402;
/// The independent servers' guest ports, in the order of the host ports slirp forwards.
const PORTS: [u16; 3] = [IPERF3_PORT, SOCKPERF_PORT, IPERF2_PORT];

/// The line the guest prints once its server listens.
const READY: &str = "vmbench-bench-ready";

/// The guest's `/init`: modules, interfaces by MAC (with their MTU), then the three servers,
/// until QEMU is killed.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/vmbench.load); do insmod "$m"; done
ip link set lo up
for word in $(cat /proc/cmdline); do
  case "$word" in
    vmbench.net=*) nics="${word#vmbench.net=}" ;;
  esac
done
for nic in $(echo "$nics" | tr , ' '); do
  mac="${nic%%@*}"; rest="${nic#*@}"; mtu=""
  case "$rest" in *:*) mtu="${rest#*:}"; rest="${rest%%:*}" ;; esac
  for _ in $(seq 50); do
    for d in /sys/class/net/*; do
      [ "$(cat "$d/address")" = "$mac" ] && dev="${d##*/}"
    done
    [ -n "$dev" ] && break
    sleep 0.1
  done
  ip addr add "$rest" dev "$dev"
  [ -n "$mtu" ] && ip link set "$dev" mtu "$mtu"
  ip link set "$dev" up
  dev=""
done
/bin/vmbench-workload --workload net-rr --runs 1000000 >/dev/null 2>&1 &
iperf3 -s -p 7400 >/dev/null 2>&1 &
sockperf sr --tcp -i 0.0.0.0 -p 7401 >/dev/null 2>&1 &
iperf -s -p 7402 >/dev/null 2>&1 &
echo vmbench-bench-ready
wait
poweroff -f
"#;

/// The shared libraries `ldd` lists for `program`, as host paths.
fn libraries(program: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| format!("ldd {}: {e}", program.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux… (0x…)"
            let path = l.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// Adds `host` to the archive at its own path, making its folders.
fn add_file(cpio: &mut Cpio<Vec<u8>>, host: &Path, made: &mut Vec<String>) -> Result<(), String> {
    let data = std::fs::read(host).map_err(|e| format!("read {}: {e}", host.display()))?;
    let rel = host.to_string_lossy().trim_start_matches('/').to_string();
    let mut dir = String::new();
    for part in Path::new(&rel).parent().into_iter().flat_map(|p| p.iter()) {
        if !dir.is_empty() {
            dir.push('/');
        }
        dir.push_str(&part.to_string_lossy());
        if !made.contains(&dir) {
            cpio.dir(&dir).map_err(|e| e.to_string())?;
            made.push(dir.clone());
        }
    }
    cpio.file(&rel, 0o755, &data).map_err(|e| e.to_string())
}

/// vmbench's initramfs for `vm` followed by the bench's archive with `workload` (the workload
/// binary), written into `dir`.
pub fn initramfs(vm: &VmSettings, workload: &Path, dir: &Path) -> Result<PathBuf, String> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        return Err("no static busybox at /bin/busybox (apt-get install busybox-static)".into());
    }
    let mut cpio = Cpio::new(Vec::new());
    let mut made = vec!["bin".to_string()];
    cpio.dir("bin").map_err(|e| e.to_string())?;
    cpio.file(
        "bin/busybox",
        0o755,
        &std::fs::read(busybox).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let binary =
        std::fs::read(workload).map_err(|e| format!("read {}: {e}", workload.display()))?;
    cpio.file("bin/vmbench-workload", 0o755, &binary)
        .map_err(|e| e.to_string())?;
    for tool in ["iperf3", "sockperf", "iperf"] {
        let path = vmbench::tool::which(tool)
            .ok_or_else(|| format!("{tool} not installed (apt-get install {tool})"))?;
        let path = std::fs::canonicalize(&path).map_err(|e| e.to_string())?;
        let libs = libraries(&path)?;
        cpio.file(
            &format!("bin/{tool}"),
            0o755,
            &std::fs::read(&path).unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        for lib in libs {
            add_file(&mut cpio, &lib, &mut made)?;
        }
    }
    cpio.file("init", 0o755, INIT.as_bytes())
        .map_err(|e| e.to_string())?;
    let extra = cpio.finish().map_err(|e| e.to_string())?;
    let mut image = std::fs::read(&vm.initramfs).map_err(|e| e.to_string())?;
    // Each archive starts on a 4-byte boundary.
    image.resize(image.len().next_multiple_of(4), 0);
    image.extend(extra);
    let out = dir.join("bench-initramfs.cpio");
    std::fs::write(&out, image).map_err(|e| e.to_string())?;
    Ok(out)
}

/// A booted bench guest serving vmbench's instance end, iperf3 and sockperf; killed when
/// dropped.
pub struct Guest {
    qemu: Child,
    /// The host ports slirp forwards to the independent servers' guest ports ([`PORTS`]).
    slirp_ports: [u16; 3],
}

impl Guest {
    /// Boots the guest on `cpus` with `wiring`'s NICs; returns once its servers listen.
    pub fn boot(
        vm: &VmSettings,
        accel: Accel,
        initrd: &Path,
        wiring: &Wiring,
        cpus: &str,
    ) -> Result<Guest, String> {
        let nics = wiring.vm.as_ref().ok_or("a VM's wiring has NICs")?;
        let plan = vmbench_workload::agent::Plan {
            nics: vmbench::env::vm::guest_nics(nics),
            ..Default::default()
        };
        let cfg = QemuConfig {
            machine: vm.machine,
            accel,
            cpus: 1,
            memory_mib: 512,
            kernel: vm.kernel.image.clone(),
            initrd: initrd.to_path_buf(),
            cmdline: qemu::kernel_cmdline(vm.tsc_khz, &plan.to_cmdline()),
            disk: None,
            bios: vm.bios.clone(),
            net: Some(nics.clone()),
        };
        // slirp forwards one port to the instance: the bench adds one per independent server.
        let port = || vmbench::net::free_port().map_err(|e| e.to_string());
        let slirp_ports = [port()?, port()?, port()?];
        let mut args = qemu::args(&cfg);
        if let Some(user) = args.iter_mut().find(|a| a.starts_with("user,id=slirp0")) {
            for (host, guest) in slirp_ports.iter().zip(PORTS) {
                let to = vmbench::net::SLIRP_GUEST;
                user.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-{to}:{guest}"));
            }
        }
        let mut qemu = Command::new("taskset");
        qemu.args(["-c", cpus])
            .arg(&vm.qemu)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // Killed with the bench, however it ends.
        let mut child = vmbench::tool::spawn_tied(&mut qemu, "the bench guest's QEMU")
            .map_err(|e| e.to_string())?;
        let out = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        let echo = std::env::var_os("VMBENCH_BENCH_CONSOLE").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("guest: {line}");
                }
                if line.contains(READY) {
                    let _ = tx.send(());
                }
            }
        });
        let guest = Guest {
            qemu: child,
            slirp_ports,
        };
        rx.recv_timeout(Duration::from_secs(120))
            .map_err(|_| "the bench guest never came up".to_string())?;
        // The server starts right after the line: give it a moment to listen.
        std::thread::sleep(Duration::from_millis(300));
        Ok(guest)
    }

    /// Where the host reaches the independent server on guest port `port` (one of [`PORTS`])
    /// over the path of `end`.
    pub fn reference(&self, end: &PathEnd, port: u16) -> SocketAddr {
        match end.path {
            NetPath::Slirp => {
                let at = PORTS.iter().position(|p| *p == port).unwrap_or(0);
                SocketAddr::from((Ipv4Addr::LOCALHOST, self.slirp_ports[at]))
            }
            _ => SocketAddr::new(end.connect.ip(), port),
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}
