//! `vmbench image build`: the OCI image a fleet's pods run. A Debian minbase root filesystem
//! with QEMU, runc, crun, iproute2 and iptables from the distribution's packages (made with
//! `mmdebstrap`, cached), plus this vmbench (the workload binary is inside it) and the guest kernel from vmbench's
//! cache, imported into Docker as one layer (no registry is needed), checked by running
//! `vmbench --version` in it, and optionally written as an archive (`docker save`) for
//! `ctr`/`crictl import` on nodes without a registry.

use crate::error::io_at;
use crate::tool::{self, ToolError};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Packages of the image: what vmbench runs inside a pod.
pub const PACKAGES: [&str; 9] = [
    "qemu-system-x86",
    "runc",
    "crun",
    "e2fsprogs",
    "kmod",
    "busybox-static",
    "ca-certificates",
    "iproute2",
    "iptables",
];
/// Where the image keeps vmbench's cache (the guest kernel); `VMBENCH_CACHE` points there.
pub const IMAGE_CACHE: &str = "/var/cache/vmbench";

/// Why the image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A program the build needs is missing.
    #[error("{0} not found: install it (scripts/install-deps installs it)")]
    Missing(&'static str),
    /// A step failed.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// A record could not be written.
    #[error(transparent)]
    Write(#[from] crate::atomic::WriteError),
    /// The guest kernel could not be found or provisioned.
    #[error("guest kernel: {0}")]
    Kernel(String),
    /// The built image does not run vmbench.
    #[error("the image {tag} does not run vmbench ({detail}): build on a host whose C library is not newer than the image's Debian release")]
    Smoke {
        /// The tag.
        tag: String,
        /// What happened.
        detail: String,
    },
}

/// What was built, as recorded.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Built {
    /// The tag.
    pub tag: String,
    /// Docker's image id.
    pub id: String,
    /// Size of the image as Docker reports it, bytes.
    pub bytes: u64,
    /// Build time, milliseconds.
    pub build_ms: f64,
    /// Debian release and mirror of the base, with package versions.
    pub base: String,
    /// Guest kernel release inside.
    pub kernel: String,
    /// vmbench version inside.
    pub vmbench_version: String,
    /// The archive written with `docker save`, and its size.
    pub archive: Option<(PathBuf, u64)>,
    /// When it was built (RFC 3339).
    pub built_at: String,
}

/// Builds the image `tag`; with `save`, also writes it as an archive there.
pub fn build(tag: &str, save: Option<&Path>) -> Result<Built, ImageError> {
    let started = Instant::now();
    let docker = crate::tool::which("docker").ok_or(ImageError::Missing("docker"))?;
    let cache = crate::cache::writable_cache_dir().map_err(ImageError::Kernel)?;
    let fleet = cache.join("fleet");
    let (base, base_text) = base_rootfs(&fleet)?;
    let _base_in_use =
        crate::cache::lock(&lock_path(&base), false, true).map_err(io_at("lock", &base))?;
    let staging =
        crate::cache::staging(&fleet).map_err(io_at("create a staging folder in", &fleet))?;
    let extra = staging.path().join("extra");
    let kernel = add_vmbench_and_kernel(&extra, &cache)?;
    let old = image_id(&docker, tag);
    import(&docker, &base, &extra, tag)?;
    drop(staging);
    let id = image_id(&docker, tag).unwrap_or_default();
    if let Some(old) = old.filter(|o| *o != id) {
        // The tag moved: the image it named is left unnamed; remove it unless in use.
        let _ = tool::run(
            Command::new(&docker).args(["image", "rm", &old]),
            "docker image rm",
        );
    }
    smoke(&docker, tag)?;
    let bytes = tool::run(
        Command::new(&docker).args(["image", "inspect", "--format={{.Size}}", tag]),
        "docker image inspect",
    )?
    .trim()
    .parse()
    .unwrap_or(0);
    let archive = save
        .map(|path| save_archive(&docker, tag, path))
        .transpose()?;
    let built = Built {
        tag: tag.to_string(),
        id,
        bytes,
        build_ms: started.elapsed().as_secs_f64() * 1e3,
        base: base_text,
        kernel,
        vmbench_version: env!("CARGO_PKG_VERSION").to_string(),
        archive,
        built_at: crate::now_rfc3339(),
    };
    let record = fleet
        .join("images")
        .join(format!("{}.json", tag.replace(['/', ':'], "_")));
    let _ = std::fs::create_dir_all(fleet.join("images"));
    crate::atomic::write(&record, |w| {
        serde_json::to_writer_pretty(&mut *w, &built)?;
        w.write_all(b"\n")
    })?;
    Ok(built)
}

fn lock_path(dir: &Path) -> PathBuf {
    dir.with_extension("lock")
}

/// The cached base root filesystem for the package list, built first when missing; with a
/// line saying what it is.
fn base_rootfs(fleet: &Path) -> Result<(PathBuf, String), ImageError> {
    let mmdebstrap = crate::tool::which("mmdebstrap").ok_or(ImageError::Missing("mmdebstrap"))?;
    let (suite, mirror) = crate::env::container::image::debian_source();
    let key = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{suite} {mirror} {}", PACKAGES.join(",")));
        digest[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let base = fleet.join(format!("base-{suite}-{key}"));
    std::fs::create_dir_all(fleet).map_err(io_at("create", fleet))?;
    let _building =
        crate::cache::lock(&lock_path(&base), true, true).map_err(io_at("lock", &base))?;
    let log = base.with_extension("log");
    if !base.join("etc/debian_version").is_file() {
        let staging =
            crate::cache::staging(fleet).map_err(io_at("create a staging folder in", fleet))?;
        let target = staging.path().join("rootfs");
        let out = File::create(&log).map_err(io_at("create", &log))?;
        let err = out.try_clone().map_err(io_at("open", &log))?;
        tool::run_logged(
            Command::new(&mmdebstrap)
                .args(["--variant=minbase", "--mode=root", "--format=directory"])
                .arg("--aptopt=APT::Install-Recommends \"false\"")
                .arg(format!("--include={}", PACKAGES.join(",")))
                .args([
                    "--dpkgopt=path-exclude=/usr/share/doc/*",
                    "--dpkgopt=path-exclude=/usr/share/man/*",
                ])
                .arg(&suite)
                .arg(&target)
                .arg(&mirror)
                .stdout(out)
                .stderr(err),
            &format!(
                "mmdebstrap {suite} with {} from {mirror} (log: {})",
                PACKAGES.join(" "),
                log.display()
            ),
            &log,
        )?;
        let _ = std::fs::remove_dir_all(&base);
        std::fs::rename(&target, &base).map_err(io_at("move into the cache", &base))?;
    }
    let versions = tool::run(
        Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                base.join("var/lib/dpkg").display()
            ))
            .args(["-W", "-f=${Package} ${Version}\n"])
            .args(["qemu-system-x86", "runc", "crun"]),
        "dpkg-query the image's packages",
    )
    .unwrap_or_default();
    let debian = std::fs::read_to_string(base.join("etc/debian_version")).unwrap_or_default();
    let text = format!(
        "Debian {suite} ({}) minbase from {mirror}: {}",
        debian.trim(),
        versions.lines().collect::<Vec<_>>().join(", ")
    );
    Ok((base, text))
}

/// Puts this vmbench (stripped of debug information where `strip` exists) and the guest
/// kernel into `extra`, laid out as in the image; returns the kernel release.
fn add_vmbench_and_kernel(extra: &Path, cache: &Path) -> Result<String, ImageError> {
    let bin = extra.join("usr/local/bin");
    std::fs::create_dir_all(&bin).map_err(io_at("create", &bin))?;
    // The running binary itself, even if a build has replaced the file since it started.
    let me = Path::new("/proc/self/exe");
    let target = bin.join("vmbench");
    std::fs::copy(me, &target).map_err(io_at("copy", me))?;
    if crate::tool::which("strip").is_some() {
        tool::run(
            Command::new("strip").arg("--strip-debug").arg(&target),
            "strip vmbench",
        )?;
    }
    let kernel = match crate::env::vm::kernel::find(None, cache) {
        Ok(Some(k)) => k,
        Ok(None) => crate::env::vm::kernel::provision(cache)
            .map_err(|e| ImageError::Kernel(crate::error_chain(&e)))?,
        Err(e) => return Err(ImageError::Kernel(crate::error_chain(&e))),
    };
    let dest = extra
        .join(IMAGE_CACHE.trim_start_matches('/'))
        .join("kernel")
        .join(&kernel.version);
    std::fs::create_dir_all(&dest).map_err(io_at("create", &dest))?;
    let copy = |from: &Path, to: &Path| {
        tool::run(
            Command::new("cp").arg("-a").arg(from).arg(to),
            "copy the guest kernel into the image",
        )
    };
    match kernel.cache_dir() {
        Some(dir) => {
            copy(&dir.join("."), &dest)?;
        }
        None => {
            copy(&kernel.image, &dest.join("vmlinux"))?;
            if let Some(modules) = &kernel.modules {
                let to = dest.join("lib/modules");
                std::fs::create_dir_all(&to).map_err(io_at("create", &to))?;
                copy(modules, &to.join(&kernel.version))?;
            }
        }
    }
    Ok(kernel.version)
}

/// Streams the base and the extra files (vmbench, and the cache that holds the kernel, which
/// the base has neither of) as one tar archive into `docker import`.
fn import(docker: &Path, base: &Path, extra: &Path, tag: &str) -> Result<(), ImageError> {
    let mut tar = tool::spawn_tied(
        Command::new("tar")
            .args(["--create", "--numeric-owner", "--xattrs", "--directory"])
            .arg(base)
            .arg(".")
            // Only the new entries: Docker refuses an archive that names a path twice.
            .arg("--directory")
            .arg(extra)
            .arg("./usr/local/bin/vmbench")
            .arg(format!(".{IMAGE_CACHE}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "tar the image's root filesystem",
    )?;
    let stream = tar.stdout.take().expect("piped");
    let changes = [
        format!("ENV VMBENCH_CACHE={IMAGE_CACHE}"),
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        "WORKDIR /var/tmp".to_string(),
        "ENTRYPOINT [\"vmbench\"]".to_string(),
        "LABEL org.opencontainers.image.title=vmbench".to_string(),
        format!(
            "LABEL org.opencontainers.image.version={}",
            env!("CARGO_PKG_VERSION")
        ),
    ];
    let mut cmd = Command::new(docker);
    cmd.arg("import");
    for c in &changes {
        cmd.arg("--change").arg(c);
    }
    cmd.args(["-", tag]).stdin(stream);
    let imported = tool::run_fed(&mut cmd, &format!("docker import {tag}"), None);
    // The pipe's read end lives in `cmd`: closed here, a tar whose reader failed ends too.
    drop(cmd);
    let tar_out = tar
        .wait_with_output()
        .map_err(io_at("wait for", Path::new("tar")))?;
    imported?;
    if !tar_out.status.success() {
        return Err(ToolError::Failed {
            what: "tar the image's root filesystem".into(),
            detail: String::from_utf8_lossy(&tar_out.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_string(),
        }
        .into());
    }
    Ok(())
}

/// Docker's id of the image `tag`, when there is one.
fn image_id(docker: &Path, tag: &str) -> Option<String> {
    tool::run(
        Command::new(docker).args(["image", "inspect", "--format={{.Id}}", tag]),
        "docker image inspect",
    )
    .ok()
    .map(|s| s.trim().to_string())
    .filter(|s| !s.is_empty())
}

/// Runs `vmbench --version` in the image: a binary the image's C library cannot load fails
/// here, at build time, instead of in every pod.
fn smoke(docker: &Path, tag: &str) -> Result<(), ImageError> {
    let out = tool::run(
        Command::new(docker).args(["run", "--rm", "--network=none", tag, "--version"]),
        &format!("docker run {tag} --version"),
    )
    .map_err(|e| ImageError::Smoke {
        tag: tag.into(),
        detail: e.to_string(),
    })?;
    if !out.contains(env!("CARGO_PKG_VERSION")) {
        return Err(ImageError::Smoke {
            tag: tag.into(),
            detail: format!("it printed {:?}", out.trim()),
        });
    }
    Ok(())
}

/// Writes the image as a `docker save` archive at `path`, atomically; returns its size.
fn save_archive(docker: &Path, tag: &str, path: &Path) -> Result<(PathBuf, u64), ImageError> {
    let folder = crate::atomic::folder_of(path);
    let tmp = tempfile::Builder::new()
        .prefix(".vmbench-")
        .suffix(".tar.tmp")
        .tempfile_in(folder)
        .map_err(io_at("create a file in", folder))?;
    tool::run(
        Command::new(docker)
            .args(["save", "--output"])
            .arg(tmp.path())
            .arg(tag),
        &format!("docker save {tag}"),
    )?;
    tmp.persist(path)
        .map_err(|e| io_at("write", path)(e.error))?;
    let bytes = std::fs::metadata(path).map_err(io_at("stat", path))?.len();
    Ok((path.to_path_buf(), bytes))
}
