//! The guest's initramfs, written by vmbench: a newc cpio archive holding the static workload
//! binary as `/init`, `/dev/console`, empty mount points, and the kernel modules the run needs
//! (resolved with their dependencies from `modules.dep`, listed in load order for the agent).

use super::VmError;
use crate::error::io_at;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use vmbench_workload::agent::MODULE_LIST;

/// A newc ("070701") cpio writer.
pub struct Cpio<W: Write> {
    out: W,
    ino: u32,
    written: u64,
}

impl<W: Write> Cpio<W> {
    /// Starts an archive.
    pub fn new(out: W) -> Self {
        Cpio {
            out,
            ino: 1,
            written: 0,
        }
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> std::io::Result<()> {
        let name_bytes = name.len() + 1;
        let header =
            format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino, mode, 0, 0, 1, 0, data.len(), 0, 0, rdev.0, rdev.1, name_bytes, 0
        );
        self.ino += 1;
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let pad = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..pad])
    }

    /// A directory (mode 0755).
    pub fn dir(&mut self, name: &str) -> std::io::Result<()> {
        self.entry(name, 0o040_755, (0, 0), &[])
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> std::io::Result<()> {
        self.entry(name, 0o100_000 | perm, (0, 0), data)
    }

    /// A character device node.
    pub fn char_device(
        &mut self,
        name: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> std::io::Result<()> {
        self.entry(name, 0o020_000 | perm, (major, minor), &[])
    }

    /// Writes the trailer and returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        Ok(self.out)
    }
}

/// Module names as the kernel spells them (dashes and underscores are the same).
fn norm(name: &str) -> String {
    name.replace('-', "_")
}

/// Resolves module names to `.ko` paths (relative to the modules dir), dependencies first.
pub fn resolve_modules(modules_dep: &str, wanted: &[&str]) -> Result<Vec<String>, String> {
    let mut deps: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in modules_dep.lines() {
        let Some((path, rest)) = line.split_once(':') else {
            continue;
        };
        let stem = |p: &str| {
            norm(
                Path::new(p)
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .split('.')
                    .next()
                    .unwrap_or(""),
            )
        };
        deps.insert(
            stem(path),
            (
                path.to_string(),
                rest.split_whitespace().map(stem).collect(),
            ),
        );
    }
    let mut order = Vec::new();
    fn visit(
        name: &str,
        deps: &BTreeMap<String, (String, Vec<String>)>,
        order: &mut Vec<String>,
        stack: &mut Vec<String>,
    ) -> Result<(), String> {
        let (path, requires) = deps
            .get(name)
            .ok_or_else(|| format!("module {name} is not in modules.dep"))?;
        if order.contains(path) || stack.contains(&name.to_string()) {
            return Ok(());
        }
        stack.push(name.to_string());
        for dep in requires {
            visit(dep, deps, order, stack)?;
        }
        stack.pop();
        order.push(path.clone());
        Ok(())
    }
    for name in wanted {
        visit(&norm(name), &deps, &mut order, &mut Vec::new())?;
    }
    Ok(order)
}

/// The modules a guest needs: the virtio transport of the machine, the block device plus ext4
/// (with crc32c, a soft dependency modules.dep does not list) when a disk is attached, and
/// virtio-net when the run crosses the network.
pub fn needed_modules(machine: super::qemu::Machine, disk: bool, net: bool) -> Vec<&'static str> {
    if !disk && !net {
        return Vec::new();
    }
    let mut wanted = match machine {
        super::qemu::Machine::Microvm => vec!["virtio_mmio"],
        super::qemu::Machine::Q35 => vec!["virtio_pci"],
    };
    if disk {
        wanted.extend(["virtio_blk", "crc32c_generic", "ext4"]);
    }
    if net {
        wanted.push("virtio_net");
    }
    wanted
}

/// The initramfs for `binary` with `modules` (paths relative to `modules_dir`), in memory:
/// the static binary as `/init`, the modules and their load list, the device nodes.
pub fn build(
    binary: &[u8],
    modules_dir: Option<&Path>,
    modules: &[String],
) -> Result<Vec<u8>, VmError> {
    let mut cpio = Cpio::new(Vec::with_capacity(binary.len() * 2));
    // Writing into memory cannot fail: the only errors are the module files' reads.
    let written = "an in-memory archive takes every write";
    for dir in ["dev", "proc", "sys", "tmp", "data", "lib", "lib/modules"] {
        cpio.dir(dir).expect(written);
    }
    cpio.char_device("dev/console", 0o600, 5, 1).expect(written);
    cpio.char_device("dev/null", 0o666, 1, 3).expect(written);
    cpio.file("init", 0o755, binary).expect(written);
    let mut list = String::new();
    if let Some(dir) = modules_dir {
        for rel in modules {
            let name = Path::new(rel)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let target = format!("lib/modules/{name}");
            let path = dir.join(rel);
            let module = std::fs::read(&path).map_err(io_at("read the module", &path))?;
            cpio.file(&target, 0o644, &module).expect(written);
            list.push_str(&format!("/{target}\n"));
        }
    }
    cpio.file(MODULE_LIST.trim_start_matches('/'), 0o644, list.as_bytes())
        .expect(written);
    Ok(cpio.finish().expect(written))
}

/// Where a built initramfs is cached: keyed by binary, kernel and module set.
pub fn cache_path(
    cache: &Path,
    binary_sha256: &str,
    kernel_version: &str,
    modules: &[String],
) -> PathBuf {
    let key = crate::workload_bin::sha256_hex(
        format!("{binary_sha256} {kernel_version} {}", modules.join(" ")).as_bytes(),
    );
    cache.join("initramfs").join(format!("{}.cpio", &key[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
";

    #[test]
    fn modules_come_after_their_dependencies_once_each() {
        let order = resolve_modules(
            DEP,
            &needed_modules(super::super::qemu::Machine::Microvm, true, false),
        )
        .unwrap();
        let pos = |m: &str| order.iter().position(|p| p.ends_with(m)).unwrap();
        assert_eq!(order.len(), 9);
        assert!(
            pos("virtio.ko") < pos("virtio_mmio.ko")
                && pos("virtio_ring.ko") < pos("virtio_mmio.ko")
        );
        assert!(pos("virtio_mmio.ko") < pos("virtio_blk.ko"));
        assert!(pos("jbd2.ko") < pos("ext4.ko") && pos("crc32c_generic.ko") < pos("ext4.ko"));
        assert!(resolve_modules(DEP, &["virtio-net"])
            .unwrap_err()
            .contains("virtio_net"));
        assert!(needed_modules(super::super::qemu::Machine::Q35, false, false).is_empty());
        let net = needed_modules(super::super::qemu::Machine::Microvm, false, true);
        assert_eq!(net, ["virtio_mmio", "virtio_net"]);
    }

    #[test]
    fn cpio_entries_are_newc_and_aligned() {
        let mut cpio = Cpio::new(Vec::new());
        cpio.dir("dev").unwrap();
        cpio.char_device("dev/console", 0o600, 5, 1).unwrap();
        cpio.file("init", 0o755, b"12345").unwrap();
        let bytes = cpio.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches("070701").count(), 4);
        assert!(text.contains("dev/console") && text.contains("TRAILER!!!"));
        // The console node: mode 020600, rdev 5:1.
        let at = text.find("dev/console").unwrap() - 110;
        let header = &text[at..at + 110];
        assert_eq!(&header[14..22], "00002180");
        assert_eq!(&header[78..94], "0000000500000001");
    }
}
