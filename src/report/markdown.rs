//! Markdown export: the tables of the report, for papers and slides.

use super::export::{Exporter, ReportError};
use super::format::{change_words, mib, not_converged, num, ratio_text, verdict_words};
use super::lang::Lang;
use super::model::{Report, RunView, WorkloadView};
use std::fmt::Write;

/// Markdown exporter.
pub struct Markdown;

impl Exporter for Markdown {
    fn render(&self, report: &Report, lang: Lang) -> Result<String, ReportError> {
        let mut s = String::new();
        let _ = writeln!(s, "# vmbench report\n");
        for run in &report.runs {
            let h = &run.results.host;
            let _ = writeln!(s, "## {}\n", run.label);
            let _ = writeln!(
                s,
                "Host: {} ({} CPUs, {}), kernel {}, cgroups {}, accelerator {} ({}).\n",
                h.cpu_model,
                h.cores,
                mib(h.memory_bytes),
                h.kernel,
                h.cgroup,
                h.accelerator.as_deref().unwrap_or("—"),
                h.accelerator_reason.as_deref().unwrap_or("")
            );
            if let Some(missing) = &run.incomplete {
                let _ = writeln!(s, "> **Incomplete**: {missing}.\n");
            }
            if run.tcg {
                let _ = writeln!(s, "> **TCG**: the VM ran under software emulation; its CPU figures are not what KVM would show.\n");
            }
            for w in &run.workloads {
                workload_table(&mut s, w, report.baseline.is_some(), lang);
            }
            startup_table(&mut s, run);
            start_split_table(&mut s, run);
            spectrum_table(&mut s, run);
            image_table(&mut s, run);
            memory_table(&mut s, run);
            quiet_table(&mut s, run);
            for (env, reason) in &run.not_run {
                let _ = writeln!(s, "- not run: **{env}**: {reason}");
            }
            let _ = writeln!(s);
        }
        Ok(s)
    }
}

fn workload_table(s: &mut String, w: &WorkloadView, base: bool, lang: Lang) {
    let better = if w.better == vmbench_workload::Better::Higher {
        "higher"
    } else {
        "lower"
    };
    let _ = writeln!(
        s,
        "### {} — {} ({}, {better} is better)\n",
        w.name, w.metric, w.unit
    );
    if let Some(note) = &w.size_note {
        let _ = writeln!(s, "Size: {note}.\n");
    }
    if let Some(note) = &w.baseline_note {
        let _ = writeln!(s, "**{note}.**\n");
    }
    let _ = writeln!(
        s,
        "| env | n | median | 95% CI | vs native [95% CI] |{}",
        if base { " vs baseline |" } else { "" }
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---|---|{}",
        if base { "---|" } else { "" }
    );
    for r in &w.rows {
        let ci =
            r.ci.map(|c| format!("[{}, {}]", num(c.lo), num(c.hi)))
                .unwrap_or_default();
        let mut ratio = r.ratio.as_ref().map(ratio_text).unwrap_or_default();
        if let Some(v) = r.verdict {
            ratio = format!("{ratio} {}", verdict_words(v, w.better, lang));
        }
        if r.converged == Some(false) {
            ratio = format!("{ratio} ({})", not_converged(lang));
        }
        let change = r
            .baseline
            .as_ref()
            .map(|c| {
                format!(
                    " {} {} |",
                    ratio_text(&c.ratio),
                    change_words(c.verdict, w.better, lang)
                )
            })
            .unwrap_or_else(|| if base { " — |".into() } else { String::new() });
        let _ = writeln!(
            s,
            "| {} | {} | {} | {ci} | {ratio} |{change}",
            r.env,
            r.n,
            num(r.median)
        );
    }
    let _ = writeln!(s);
}

fn startup_table(s: &mut String, run: &RunView) {
    if run.startup.is_empty() {
        return;
    }
    let _ = writeln!(s, "### Startup (ms, launch to ready)\n\n| env | n | median | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|");
    for st in &run.startup {
        let m = &st.summary;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            st.env,
            m.n,
            num(m.median),
            num(m.p95),
            num(m.p99),
            num(m.max)
        );
    }
    let _ = writeln!(s);
}

fn spectrum_table(s: &mut String, run: &RunView) {
    if run.spectrum.len() < 2 {
        return;
    }
    let _ = writeln!(
        s,
        "### The isolation spectrum

| env | where system calls go | kernel it reports | start (ms) | one system call (ns) | host CPU per instance (ms) | memory per instance (MiB) |
|---|---|---|---:|---:|---:|---:|"
    );
    let opt = |v: Option<f64>| v.map_or_else(|| "—".to_string(), num);
    for r in &run.spectrum {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.env,
            r.tier.name(),
            r.kernel.as_deref().unwrap_or("—"),
            opt(r.startup_ms),
            opt(r.syscall_ns),
            opt(r.cpu_ms_per_instance),
            opt(r.memory_bytes.map(|b| b as f64 / 1048576.0))
        );
    }
    let _ = writeln!(s);
}

fn start_split_table(s: &mut String, run: &RunView) {
    if !run
        .start_split
        .iter()
        .any(|x| x.env.family() == crate::ids::Family::Container)
    {
        return;
    }
    let _ = writeln!(
        s,
        "### Where a container's start goes (median ms)

| env | start | segments |
|---|---:|---|"
    );
    for split in &run.start_split {
        let segments: Vec<String> = split
            .segments
            .iter()
            .map(|(k, v)| format!("{} {}", k.replace('_', " "), num(*v)))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            split.env,
            num(split.median_ms),
            segments.join(" + ")
        );
    }
    let _ = writeln!(s);
}

fn image_table(s: &mut String, run: &RunView) {
    let Some(image) = &run.results.image else {
        return;
    };
    let _ = writeln!(
        s,
        "### Image

{} — {}: {:.2} MB in {} files, built in {:.1} s; page cache {:?} at every start.
",
        image.kind,
        image.base,
        image.bytes as f64 / 1e6,
        image.files,
        image.build_ms / 1e3,
        run.results.config.page_cache
    );
    for (engine, e) in &image.engines {
        let _ = writeln!(
            s,
            "- {engine}: {} ({:.2} MB), imported in {:.2} s",
            e.tag,
            e.size_bytes as f64 / 1e6,
            e.import_ms / 1e3
        );
    }
    let _ = writeln!(s);
}

fn memory_table(s: &mut String, run: &RunView) {
    if run.memory.is_empty() {
        return;
    }
    let _ = writeln!(s, "### Memory per instance (median peak)\n\n| env | process RSS | cgroup charge | guest RAM |\n|---|---:|---:|---:|");
    for m in &run.memory {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            m.env,
            mib(m.process_peak_rss_bytes),
            m.cgroup_peak_bytes.map(mib).unwrap_or_default(),
            m.guest_mem_total_bytes.map(mib).unwrap_or_default()
        );
    }
    let _ = writeln!(s);
}

fn quiet_table(s: &mut String, run: &RunView) {
    if run.quiet.is_empty() {
        return;
    }
    let _ = writeln!(s, "### How quiet was the host\n\n| env | trials | noisy | others on its CPUs (median) | stolen (median) |\n|---|---:|---:|---:|---:|");
    for q in &run.quiet {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1}% | {:.1}% |",
            q.env, q.trials, q.noisy, q.foreign_pct, q.steal_pct
        );
    }
    let _ = writeln!(s);
}
