//! Typed identifiers shared by the records and the runtime: which environment a trial ran in
//! and every fact about it ([`env_kind`]), the network paths, the phases of an instance's life
//! and the metric names one module writes and another reads. Plain data, so the results records
//! and the report can use them without importing any code that launches anything.

pub mod env_kind;
pub mod metric;
pub mod net_path;
pub mod phase;

pub use env_kind::{env_choices, Accel, EnvKind, Family, MemoryAccounting, Network, Tier};
pub use metric::NetMetric;
pub use net_path::NetPath;
pub use phase::Phase;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The container image the workload runs in: the same binary, more or less userland around it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    /// The static binary and the empty mount points it needs, nothing else.
    #[default]
    Minimal,
    /// A small userland: a static busybox with its applets and `/etc` basics (Alpine-like).
    Busybox,
    /// A Debian minbase root filesystem built with `mmdebstrap`.
    Debian,
}

impl ImageKind {
    /// Every image, smallest first.
    pub const ALL: &'static [ImageKind] = <ImageKind as strum::VariantArray>::VARIANTS;

    /// Name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            ImageKind::Minimal => "minimal",
            ImageKind::Busybox => "busybox",
            ImageKind::Debian => "debian",
        }
    }

    /// Parses one name.
    pub fn parse(s: &str) -> Option<ImageKind> {
        ImageKind::ALL.iter().copied().find(|k| k.name() == s)
    }

    /// Where the workload binary lives inside the image.
    pub fn workload_path(self) -> &'static str {
        match self {
            ImageKind::Minimal => "/vmbench-workload",
            ImageKind::Busybox | ImageKind::Debian => "/usr/local/bin/vmbench-workload",
        }
    }
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Whether an instance's image files start in the page cache or evicted from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageCache {
    /// As the previous instance left them: normally cached.
    #[default]
    Warm,
    /// Evicted before every instance (the image's files only, never the whole host's cache).
    Cold,
}
