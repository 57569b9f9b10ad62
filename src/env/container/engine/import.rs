//! The image as an engine holds it: imported once per binary from the image's tar stream
//! (no registry, nothing pulled), recorded beside the image with its id, and older vmbench
//! images of the same kind removed.

use super::{query, EngineError, EngineKind};
use crate::env::container::ContainerSettings;
use crate::results::{EngineImage, ImageLayer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The tag of the image for this binary: `vmbench/<image>:<binary hash prefix>`.
fn tag_of(settings: &ContainerSettings) -> String {
    let dir = settings
        .image
        .rootfs
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("vmbench/{}:{dir}", settings.image.kind)
}

/// Imports the image into the engine unless it holds it already (same id as recorded), and
/// removes the engine's older vmbench images of the same kind that nothing uses. The image is
/// built as two layers, as an image built `FROM` a base is: the image's folder without the
/// workload (imported), then the workload added in a container and committed.
pub(super) fn import(
    engine: EngineKind,
    client: &Path,
    global: &[String],
    settings: &ContainerSettings,
) -> Result<EngineImage, EngineError> {
    let tag = tag_of(settings);
    let folder = settings.image.rootfs.parent().expect("inside the cache");
    let record_path = folder.join(format!("{}.json", engine.program()));
    let recorded: Option<EngineImage> = std::fs::read(&record_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let present = image_facts(client, global, &tag);
    if let (Some(recorded), Some((id, _))) = (&recorded, &present) {
        if recorded.id == *id && recorded.layers.len() == 2 {
            return Ok(recorded.clone());
        }
    }
    let started = Instant::now();
    let (repository, version) = tag.split_once(':').expect("a tag has a version");
    let base = format!("{repository}-base:{version}");
    let workload = settings.image.workload_path();
    stream_import(
        engine,
        client,
        global,
        &settings.image.rootfs,
        &base,
        workload,
    )?;
    let layered = add_workload(client, global, settings, &base, &tag);
    // The base's tag goes; its layer stays, under the image. Base tags a killed import left
    // (for this or an older binary) go too.
    let _ = query(client, global, &["rmi", &base]);
    remove_older(client, global, &base);
    layered?;
    let import_ms = started.elapsed().as_secs_f64() * 1e3;
    let (id, size_bytes) =
        image_facts(client, global, &tag).ok_or_else(|| EngineError::NotImported {
            tag: tag.clone(),
            engine: engine.program(),
        })?;
    let lower = format!(
        "{}/{}",
        vmbench_workload::catalogue::LAYER_DIR,
        vmbench_workload::catalogue::LOWER_FILE
    );
    let holds = [
        match settings.image.kind {
            crate::ids::ImageKind::Minimal => format!("base: the mount points and {lower}"),
            crate::ids::ImageKind::Busybox | crate::ids::ImageKind::Debian => {
                format!("base: {} and {lower}", settings.image.record.base)
            }
        },
        format!("the workload, {workload}"),
    ];
    let image = EngineImage {
        layers: layers_of(engine, client, global, &tag, &holds),
        tag,
        id,
        size_bytes,
        import_ms,
    };
    let _ = crate::atomic::write(&record_path, |w| {
        serde_json::to_writer_pretty(w, &image).map_err(std::io::Error::other)
    });
    remove_older(client, global, &image.tag);
    Ok(image)
}

/// The image `tag`: `base` with the workload added in a container (created, never started)
/// and committed as a layer of its own.
fn add_workload(
    client: &Path,
    global: &[String],
    settings: &ContainerSettings,
    base: &str,
    tag: &str,
) -> Result<(), EngineError> {
    let workload = settings.image.workload_path();
    let name = format!("{}-layer", crate::env::container::instance_name());
    let limit = Some(Duration::from_secs(120));
    let step = |args: &[&str], what: &str| {
        crate::tool::run_within(Command::new(client).args(global).args(args), what, limit)
    };
    let made = step(
        &[
            "create",
            "--name",
            &name,
            "--network",
            "none",
            base,
            workload,
        ],
        "create the container that adds the workload layer",
    )
    .and_then(|_| {
        let source = settings.image.rootfs.join(workload.trim_start_matches('/'));
        step(
            &[
                "cp",
                &source.to_string_lossy(),
                &format!("{name}:{workload}"),
            ],
            "copy the workload into its layer",
        )
    })
    .and_then(|_| step(&["commit", &name, tag], "commit the workload layer"));
    let _ = step(&["rm", "--force", &name], "remove the layer's container");
    made.map(|_| ()).map_err(EngineError::from)
}

/// The image's layers, lowest first: the digests from the image, the sizes from its history
/// (newest first), each with what it holds; empty when the two do not pair up.
fn layers_of(
    engine: EngineKind,
    client: &Path,
    global: &[String],
    tag: &str,
    holds: &[String],
) -> Vec<ImageLayer> {
    let digests: Vec<String> = query(
        client,
        global,
        &[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            tag,
        ],
    )
    .ok()
    .and_then(|out| serde_json::from_str(out.trim()).ok())
    .unwrap_or_default();
    let mut sizes: Vec<u64> = match engine {
        EngineKind::Docker => query(
            client,
            global,
            &["history", "--human=false", "--format", "{{.Size}}", tag],
        )
        .map(|out| out.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default(),
        EngineKind::Podman => query(client, global, &["history", "--format", "json", tag])
            .ok()
            .and_then(|out| serde_json::from_str::<Vec<Value>>(&out).ok())
            .map(|entries| entries.iter().filter_map(|e| e["size"].as_u64()).collect())
            .unwrap_or_default(),
    };
    sizes.reverse();
    if digests.len() != holds.len() || sizes.len() != holds.len() {
        return Vec::new();
    }
    digests
        .into_iter()
        .zip(sizes)
        .zip(holds)
        .map(|((digest, bytes), holds)| ImageLayer {
            digest,
            bytes,
            holds: holds.clone(),
        })
        .collect()
}

/// Streams the image's root directory, without `leave_out`, as a tar archive (members in
/// name order, so the same folder gives the same layer digest) into `<client> import`.
fn stream_import(
    engine: EngineKind,
    client: &Path,
    global: &[String],
    rootfs: &Path,
    tag: &str,
    leave_out: &str,
) -> Result<(), EngineError> {
    let what = format!("import the image into {}", engine.program());
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "--sort=name"])
        .arg(format!("--exclude=.{leave_out}"))
        .arg("-C")
        .arg(rootfs)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| EngineError::TarStart {
            what: what.clone(),
            source,
        })?;
    let stream = tar.stdout.take().expect("piped");
    let result = crate::tool::run_fed(
        Command::new(client)
            .args(global)
            .args(["import", "-", tag])
            .stdin(stream),
        &what,
        Some(Duration::from_secs(600)),
    );
    let tar_status = tar.wait();
    result?;
    match tar_status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(EngineError::Tar {
            what,
            rootfs: rootfs.to_path_buf(),
        }),
    }
}

/// The id and size of an image the engine holds.
fn image_facts(client: &Path, global: &[String], tag: &str) -> Option<(String, u64)> {
    let out = query(
        client,
        global,
        &["image", "inspect", "--format", "{{.Id}} {{.Size}}", tag],
    )
    .ok()?;
    let mut fields = out.split_whitespace();
    Some((fields.next()?.to_string(), fields.next()?.parse().ok()?))
}

/// The engine's folders holding an image's files (overlay layers), for page-cache eviction.
pub(super) fn layer_dirs(client: &Path, global: &[String], tag: &str) -> Vec<PathBuf> {
    let Ok(out) = query(
        client,
        global,
        &[
            "image",
            "inspect",
            "--format",
            "{{json .GraphDriver.Data}}",
            tag,
        ],
    ) else {
        return Vec::new();
    };
    let data: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    ["/UpperDir", "/LowerDir"]
        .iter()
        .filter_map(|k| data.pointer(k)?.as_str())
        .flat_map(|v| v.split(':'))
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .collect()
}

/// Removes the engine's other tags of the same vmbench image kind (built for older
/// binaries); one still used by a container stays.
fn remove_older(client: &Path, global: &[String], tag: &str) {
    let repository = tag.split(':').next().unwrap_or(tag);
    let Ok(out) = query(
        client,
        global,
        &["images", "--format", "{{.Repository}}:{{.Tag}}", repository],
    ) else {
        return;
    };
    for old in out
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != tag)
    {
        let old = old.trim_start_matches("localhost/");
        if old != tag {
            let _ = query(client, global, &["rmi", old]);
        }
    }
}
