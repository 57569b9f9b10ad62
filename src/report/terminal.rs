//! The terminal summary, rendered from the report model like every other output: per
//! workload, each environment's median headline value and its ratio to native with a 95%
//! confidence interval; then startup median and p99 per environment.

use super::format::{num, verdict_words};
use super::lang::Lang;
use super::model::{RunView, WorkloadView};
use std::fmt::Write;
use vmbench_workload::Better;

/// Renders the summary of one run.
pub fn render(run: &RunView) -> String {
    let mut s = String::new();
    if let Some(missing) = &run.incomplete {
        let _ = writeln!(s, "NOTE: {missing}");
    }
    if let Some(nested) = &run.nested_kvm {
        let words = super::format::nested_kvm_words(nested, super::lang::Lang::En);
        let _ = writeln!(s, "NOTE: {words}");
    }
    if let Some(rootless) = &run.rootless {
        let _ = writeln!(s, "NOTE: {}", rootless.words(super::lang::Lang::En));
    }
    if run.results.config.demo {
        let _ = writeln!(
            s,
            "DEMO (--quick): 3 repetitions of noop and cpu-int at the small size; run the full suite for figures to quote"
        );
    }
    for w in &run.workloads {
        workload(&mut s, w);
    }
    verdicts(&mut s, run);
    if !run.startup.is_empty() {
        let _ = writeln!(s, "startup (host-measured, launch to ready), ms:");
        let _ = writeln!(
            s,
            "  {:<18} {:>3} {:>10} {:>10} {:>10}",
            "env", "n", "median", "p99", "max"
        );
        for st in &run.startup {
            let m = &st.summary;
            let _ = writeln!(
                s,
                "  {:<18} {:>3} {:>10.3} {:>10.3} {:>10.3}",
                st.env, m.n, m.median, m.p99, m.max
            );
        }
    }
    if !run.spaced_starts.is_empty() {
        let _ = writeln!(
            s,
            "container starts apart from the rounds (noop, median ms):\n  {:<18} {:>10} {:>14} {:>14}",
            "env", "rounds", "isolated", "back to back"
        );
        for x in &run.spaced_starts {
            let rounds = x
                .rounds_ms
                .map_or_else(|| "—".to_string(), |r| format!("{r:.3}"));
            let _ = writeln!(
                s,
                "  {:<18} {:>10} {:>9.3} ({:>2}) {:>9.3} ({:>2})",
                x.env, rounds, x.isolated.0, x.isolated.1, x.back_to_back.0, x.back_to_back.1
            );
        }
    }
    if let Some(view) = run.layers.as_ref() {
        layers(&mut s, view);
    }
    let total: usize = run.quiet.iter().map(|q| q.trials).sum();
    if total > 0 {
        let noisy: usize = run.quiet.iter().map(|q| q.noisy).sum();
        let _ = writeln!(
            s,
            "host noise: {noisy} of {total} trial(s) flagged noisy (kept in every statistic)"
        );
        for (env, workload, rep, why) in run.noisy.iter().take(5) {
            let _ = writeln!(s, "  {env} {workload} rep {rep}: {why}");
        }
    }
    if !run.failures.is_empty() {
        let _ = writeln!(s, "{} trial(s) failed:", run.failures.len());
        for (env, workload, rep, error) in run.failures.iter().take(10) {
            let _ = writeln!(s, "  {env} {workload} rep {rep}: {error}");
        }
    }
    for (env, reason) in &run.not_run {
        let _ = writeln!(s, "not run: {env}: {reason}");
    }
    s
}

/// How many pairs are decided, why the run stopped, and each undecided pair with the
/// interval it reached.
fn verdicts(s: &mut String, run: &RunView) {
    let v = &run.verdicts;
    let (decided, pairs) = v.count();
    if pairs == 0 {
        return;
    }
    let stopped = v
        .stopped
        .as_ref()
        .map(|(why, budget)| format!(" ({why}; budget {budget:.0} s)"))
        .unwrap_or_default();
    let _ = writeln!(s, "verdicts: {decided} of {pairs} pairs decided{stopped}");
    for row in &v.undecided {
        let why = row.why.as_deref().unwrap_or("too few repetitions");
        let _ = writeln!(
            s,
            "  undecided: {} {}: {} after {} rounds: {why}",
            row.env,
            row.workload,
            super::format::ratio_text(&row.ratio),
            row.n
        );
    }
}

/// One workload's block: its headline, size, then a row per environment with its ratio.
fn workload(s: &mut String, w: &WorkloadView) {
    let dir = if w.better == Better::Higher {
        "higher"
    } else {
        "lower"
    };
    let _ = writeln!(
        s,
        "{}: {} in {} ({dir} is better)",
        w.name, w.metric, w.unit
    );
    if let Some(note) = &w.size_note {
        let _ = writeln!(s, "  size: {note}");
    }
    if let Some(note) = &w.baseline_note {
        let _ = writeln!(s, "  {note}");
    }
    let _ = writeln!(
        s,
        "  {:<18} {:>3} {:>12} {:>8}  vs native [95% CI]",
        "env", "n", "median", "cv"
    );
    for row in w.rows.iter().filter(|r| r.n > 0) {
        let ratio = row
            .ratio
            .map(|r| {
                let ci =
                    r.ci.map(|c| format!(" [{:.3}, {:.3}]", c.lo, c.hi))
                        .unwrap_or_default();
                let words = row
                    .verdict
                    .map(|v| verdict_words(v, w.better, Lang::En))
                    .unwrap_or_default();
                format!("{:.3}x{ci} {words}", r.value)
            })
            .unwrap_or_default();
        let mut notes = Vec::new();
        if row.cv > crate::stats::NOISY_CV {
            notes.push("noisy".to_string());
        }
        if row.decision == Some(crate::stats::Decision::Undecided) {
            notes.push("undecided".to_string());
        } else if row.converged == Some(false) {
            notes.push("not converged".to_string());
        }
        if row.noisy > 0 {
            notes.push(format!("{} noisy trial(s)", row.noisy));
        }
        if row.outliers > 0 {
            notes.push(format!("{} outlier(s)", row.outliers));
        }
        let _ = writeln!(
            s,
            "  {:<18} {:>3} {:>12} {:>7.1}%  {:<28} {}",
            row.env,
            row.n,
            num(row.median),
            row.cv * 100.0,
            ratio,
            notes.join(", ")
        );
    }
}

/// Each engine image's layers, and file-layer's first and second write per environment.
fn layers(s: &mut String, view: &crate::report::layers::LayersView) {
    for image in &view.images {
        let sizes: Vec<String> = image
            .layers
            .iter()
            .map(|l| format!("{:.2} MB ({})", l.bytes as f64 / 1e6, l.holds))
            .collect();
        let _ = writeln!(s, "{} image layers: {}", image.engine, sizes.join(" + "));
    }
    if view.rows.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "writes on the writable layer (file-layer, median):\n  {:<18} {:>12} {:>12} {:>14}",
        "env", "first ms", "second ms", "new file MB/s"
    );
    let cell = |f: Option<&crate::report::network::PathFigure>, digits: usize| {
        f.map_or_else(|| "—".to_string(), |f| format!("{:.*}", digits, f.median))
    };
    for r in &view.rows {
        let _ = writeln!(
            s,
            "  {:<18} {:>12} {:>12} {:>14}",
            r.env,
            cell(r.first_write.as_ref(), 3),
            cell(r.rewrite.as_ref(), 3),
            cell(r.layer_write.as_ref(), 0)
        );
    }
}
