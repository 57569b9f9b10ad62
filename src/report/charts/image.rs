//! What one instance needs on disk: the container image (a rootfs holding only the static
//! workload binary) against the guest kernel plus its initramfs.

use super::ChartError;
use crate::ids::EnvKind;
use crate::report::lang::Lang;

/// Draws the chart as an SVG string from (env, bytes, what).
pub fn draw(footprints: &[(EnvKind, u64, String)], lang: Lang) -> Result<String, ChartError> {
    let bars: Vec<super::bars::Bar> = footprints
        .iter()
        .map(|(env, bytes, _)| (env.to_string(), *env, *bytes as f64 / 1e6))
        .collect();
    super::bars::draw(
        "image footprint",
        super::tr(lang, "Bytes on disk per instance"),
        super::tr(lang, "size on disk (MB)"),
        &bars,
        lang,
    )
}
