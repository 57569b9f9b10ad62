//! What instances were made from: the container image, its imports into each engine, and
//! the guest snapshot.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The container image a run used: what it holds and what it cost to make and to ship.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// Which image.
    pub kind: crate::ids::ImageKind,
    /// What it is made of (e.g. "Debian bookworm minbase, mmdebstrap 1.3.5").
    pub base: String,
    /// Bytes on disk of its root directory.
    pub bytes: u64,
    /// Files, links and special files in it (directories not counted).
    pub files: u64,
    /// How long building it took, when it was built (perhaps by an earlier run).
    pub build_ms: f64,
    /// When it was built (RFC 3339).
    pub built_at: String,
    /// The same image imported into each engine that ran, by engine name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub engines: BTreeMap<String, EngineImage>,
}

/// An image as an engine holds it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EngineImage {
    /// Its tag (`vmbench/<image>:<binary hash prefix>`).
    pub tag: String,
    /// The engine's image id.
    pub id: String,
    /// Its size as the engine reports it.
    pub size_bytes: u64,
    /// How long importing it took (the stand-in for a pull: a tar stream unpacked into the
    /// engine's storage), when it was imported (perhaps by an earlier run).
    pub import_ms: f64,
    /// Its layers, lowest first, as the engine reports them (empty in results from before
    /// images had layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<ImageLayer>,
}

/// One layer of an engine's image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageLayer {
    /// Its content digest (`sha256:…` of the uncompressed layer, the engine's diff id).
    pub digest: String,
    /// Its size as the engine reports it.
    pub bytes: u64,
    /// What it holds.
    pub holds: String,
}

/// What is recorded beside a saved guest, and in the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// Hash of the QEMU command line and version the state belongs to.
    pub key: String,
    /// SHA-256 of the state file, checked before use.
    pub sha256: String,
    /// Bytes of the state file.
    pub bytes: u64,
    /// Boot plus save, when it was made, milliseconds.
    pub created_ms: f64,
    /// The QEMU that saved it (a state restores only into the same version).
    pub qemu_version: String,
    /// How a trial restores it.
    pub restore: String,
    /// Where the state file is (in the cache).
    #[serde(default)]
    pub path: std::path::PathBuf,
}
