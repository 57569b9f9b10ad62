//! Memory one instance costs, seen from the host: the instance process's peak RSS (the
//! workload, the container's PID 1, the runtime, or QEMU), and for a VM the RAM its guest
//! kernel manages, side by side.

use super::ChartError;
use crate::report::lang::Lang;
use crate::report::model::MemoryView;

/// Bars: (label, env, MiB).
pub fn bars(views: &[MemoryView], lang: Lang) -> Vec<super::bars::Bar> {
    let tr = |en| super::tr(lang, en);
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let mut out = Vec::new();
    for v in views {
        out.push((
            format!("{}: {}", v.env, tr("process RSS")),
            v.env,
            mib(v.process_peak_rss_bytes),
        ));
        if let Some(c) = v.cgroup_peak_bytes {
            out.push((format!("{}: {}", v.env, tr("cgroup charge")), v.env, mib(c)));
        }
        if let Some(g) = v.guest_mem_total_bytes {
            out.push((format!("{}: {}", v.env, tr("guest RAM")), v.env, mib(g)));
        }
    }
    out
}

/// Draws the chart as an SVG string.
pub fn draw(views: &[MemoryView], lang: Lang) -> Result<String, ChartError> {
    super::bars::draw(
        "memory footprint",
        super::tr(lang, "Memory per instance (median peak)"),
        super::tr(lang, "memory (MiB)"),
        &bars(views, lang),
        lang,
    )
}
