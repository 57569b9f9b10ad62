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
        let _ = writeln!(s, "# {}\n", lang.pick("vmbench report", "vmbench 보고서"));
        if report.runs.len() > 1 {
            across_table(&mut s, report, lang);
        }
        for run in &report.runs {
            run_sections(&mut s, run, report, lang);
        }
        Ok(s)
    }
}

/// Each claim people make, with the figure of this run that tests it and what it says.
fn claims_table(s: &mut String, run: &RunView, lang: Lang) {
    let _ = writeln!(
        s,
        "### {}\n",
        lang.pick(
            "The claims, held against this run",
            "흔한 주장, 이번 측정으로 확인하기"
        )
    );
    let _ = writeln!(
        s,
        "| {} | {} | {} |\n|---|---|---|",
        lang.pick("claim", "주장"),
        lang.pick("the figure that tests it", "확인한 수치"),
        lang.pick("what it says", "결과")
    );
    for c in super::claims::claims(run, lang) {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            c.claim,
            md(&c.evidence),
            c.finding_words
        );
    }
    let _ = writeln!(s);
}

/// The header of one run: the host, and the warnings a reader needs first.
fn run_header(s: &mut String, run: &RunView, lang: Lang) {
    let h = &run.results.host;
    let _ = writeln!(s, "## {}\n", md(&run.label));
    let _ = writeln!(
        s,
        "Host: {} ({} CPUs, {}), kernel {}, cgroups {}, accelerator {} ({}).\n",
        md(&h.cpu_model),
        h.cores,
        mib(h.memory_bytes),
        md(&h.kernel),
        md(&h.cgroup),
        md(h.accelerator.as_deref().unwrap_or("—")),
        md(h.accelerator_reason.as_deref().unwrap_or(""))
    );
    if let Some(missing) = &run.incomplete {
        let _ = writeln!(s, "> **Incomplete**: {}.\n", md(missing));
    }
    if run.tcg {
        let _ = writeln!(s, "> **TCG**: {}\n", lang.pick("the VM ran under software emulation; its CPU figures are not what KVM would show.", "가상 머신이 소프트웨어 에뮬레이션으로 실행되었습니다. CPU 수치는 KVM의 수치가 아닙니다."));
    }
    if let Some(nested) = &run.nested_kvm {
        let _ = writeln!(
            s,
            "> **{}**: {}.\n",
            lang.pick("Nested KVM", "중첩 KVM"),
            md(&super::format::nested_kvm_words(nested, lang))
        );
    }
    if let Some(words) = run.rootless.as_ref().map(|r| r.words(lang)) {
        let _ = writeln!(
            s,
            "> **{}**: {}.\n",
            lang.pick("Without root", "root 없이"),
            md(&words)
        );
    }
    if run.results.config.demo {
        let _ = writeln!(s, "> **{}**: {}\n", lang.pick("Demo", "시연"), lang.pick("3 repetitions of noop and cpu-int at the small size (--quick); the verdicts follow the full rule, so few are decisive.", "noop과 cpu-int를 작은 크기로 3번씩 반복한 시연입니다(--quick). 판정 규칙은 같으므로 결정적인 판정은 적습니다."));
    }
}

/// Every section of one run, each table followed by its lecture note.
fn run_sections(s: &mut String, run: &RunView, report: &Report, lang: Lang) {
    run_header(s, run, lang);
    let notes = super::notes::notes(run, lang, report.margin);
    note(s, lang, &notes.overview);
    verdicts_table(s, run, lang);
    seen_table(s, run, lang);
    note(s, lang, &notes.seen);
    let _ = writeln!(
        s,
        "### {}\n",
        lang.pick("Results per workload", "워크로드별 결과")
    );
    for w in &run.workloads {
        workload_table(s, w, report.baseline.is_some(), lang);
    }
    note(s, lang, &notes.cpu);
    note(s, lang, &notes.accel);
    startup_table(s, run, lang);
    note(s, lang, &notes.startup);
    if run
        .start_split
        .iter()
        .any(|x| x.env.family() == crate::ids::Family::Container)
    {
        start_split_table(s, run, lang);
        spaced_table(s, run, lang);
        note(s, lang, &notes.start_split);
    }
    if run.spectrum.len() > 1 {
        spectrum_table(s, run, lang);
        note(s, lang, &notes.spectrum);
    }
    if run.results.image.is_some() {
        image_table(s, run, lang);
        note(s, lang, &notes.image);
    }
    if let Some(view) = &run.density {
        density_table(s, view, lang);
        note(s, lang, &notes.density);
    }
    if let Some(view) = &run.network {
        network_table(s, view, lang);
        note(s, lang, &notes.network);
    }
    if let Some(view) = &run.layers {
        layers_tables(s, view, lang);
        note(s, lang, &notes.layers);
    }
    memory_table(s, run, lang);
    note(s, lang, &notes.memory_io);
    quiet_table(s, run, lang);
    note(s, lang, &notes.quiet);
    claims_table(s, run, lang);
    let _ = writeln!(
        s,
        "### {}\n",
        lang.pick("How this was measured", "측정 방법")
    );
    let _ = writeln!(s, "{}\n", md(&notes.method));
    for (env, reason) in &run.not_run {
        let _ = writeln!(s, "- not run: **{env}**: {}", md(reason));
    }
    let _ = writeln!(s);
}

/// The run's verdicts, decided first, then the undecided with the interval they reached.
fn verdicts_table(s: &mut String, run: &RunView, lang: Lang) {
    let v = &run.verdicts;
    let (decided, pairs) = v.count();
    if pairs == 0 {
        return;
    }
    let _ = writeln!(
        s,
        "### {}\n",
        match lang {
            Lang::En => format!("Verdicts: {decided} of {pairs} pairs decided"),
            Lang::Ko => format!("판정: {pairs}쌍 중 {decided}쌍 결정됨"),
        }
    );
    if let Some((why, budget)) = &v.stopped {
        let _ = writeln!(
            s,
            "{} {} ({budget:.0} s).\n",
            lang.pick("Rounds stopped because", "반복을 멈춘 이유:"),
            md(why)
        );
    }
    let _ = writeln!(
        s,
        "| workload | env | vs native [95% CI] | {} | n |\n|---|---|---|---|---:|",
        lang.pick("verdict", "판정")
    );
    for r in &v.decided {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.workload,
            r.env,
            ratio_text(&r.ratio),
            verdict_words(r.verdict, r.better, lang),
            r.n
        );
    }
    if v.undecided.is_empty() {
        let _ = writeln!(s);
        return;
    }
    let _ = writeln!(
        s,
        "\n{}\n\n| workload | env | vs native [95% CI] | n | {} |\n|---|---|---|---:|---|",
        lang.pick(
            "Undecided, with the interval they reached:",
            "결정되지 않은 쌍과 도달한 구간:"
        ),
        lang.pick("why", "이유")
    );
    for r in &v.undecided {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.workload,
            r.env,
            ratio_text(&r.ratio),
            r.n,
            md(r.why.as_deref().unwrap_or("—"))
        );
    }
    let _ = writeln!(s);
}

/// Several runs side by side: a column per run, and the runs that disagree.
fn across_table(s: &mut String, report: &Report, lang: Lang) {
    let labels: Vec<&str> = report.runs.iter().map(|r| r.label.as_str()).collect();
    let columns: Vec<String> = labels.iter().map(|l| md(l)).collect();
    let _ = writeln!(s, "## {}\n", lang.pick("Runs side by side", "실행 비교"));
    let _ = writeln!(
        s,
        "| workload | env | unit | {} | {} |",
        columns.join(" | "),
        lang.pick("disagree", "어긋남")
    );
    let _ = writeln!(s, "|---|---|---|{}---|", "---:|".repeat(labels.len()));
    for row in &report.across {
        let cells: Vec<String> = row
            .cells
            .iter()
            .map(|c| super::format::across_cell(c.as_ref()))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            row.workload,
            row.env,
            md(&row.unit),
            cells.join(" | "),
            md(&super::format::disagreement(row, &labels))
        );
    }
    let _ = writeln!(s);
    note(s, lang, &super::notes::across(report, lang));
}

/// The network path: a row per environment and path.
fn network_table(s: &mut String, view: &super::network::NetworkView, lang: Lang) {
    let _ = writeln!(s, "### {}\n", lang.pick("Network path", "네트워크 경로"));
    let headers = super::format::network_headers(lang);
    let _ = writeln!(s, "| {} |", headers.join(" | "));
    // Environment and path on the left, every figure on the right: one per header.
    let figures = "---:|".repeat(headers.len().saturating_sub(2));
    let _ = writeln!(s, "|---|---|{figures}");
    for row in super::format::network_cells(view, lang) {
        let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(s);
}

/// Layers and copy-on-write: the images' layers, then the writes on each writable layer.
fn layers_tables(s: &mut String, view: &super::layers::LayersView, lang: Lang) {
    let _ = writeln!(
        s,
        "### {}\n",
        lang.pick("Layers and copy-on-write", "레이어와 copy-on-write")
    );
    let (image_headers, write_headers) = super::format::layers_headers(lang);
    let (images, writes) = super::format::layers_cells(view, lang);
    let mut table = |headers: &[&str], align: &str, rows: Vec<Vec<String>>| {
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(s, "| {} |\n{align}", headers.join(" | "));
        for row in rows {
            let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
        let _ = writeln!(s);
    };
    table(
        &image_headers,
        "|---|---:|---|---:|---|",
        images.into_iter().map(Vec::from).collect(),
    );
    table(
        &write_headers,
        "|---|---|---:|---:|---:|---:|",
        writes.into_iter().map(Vec::from).collect(),
    );
}

/// The density sweep: a row per environment and count.
fn density_table(s: &mut String, view: &super::density::DensityView, lang: Lang) {
    use super::density::slope_text;
    let _ = writeln!(
        s,
        "### {}\n",
        lang.pick(
            "Density: how many instances fit",
            "밀도: 인스턴스가 몇 개 들어가는가"
        )
    );
    let _ = writeln!(s, "| env | N | all ready (ms) | startup (ms) | host memory (MiB) | Committed_AS (MiB) | PSS (MiB) | binary PSS per instance (KiB) | KSM merged (MiB) |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let opt = |v: Option<f64>, d: usize| v.map_or_else(|| "—".to_string(), |v| format!("{v:.d$}"));
    for x in &view.series {
        for p in &x.points {
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:+.1} | {:.1} | {} | {} |",
                md(&x.label),
                p.count,
                p.all_ready_ms,
                p.startup_ms,
                p.host_used_mib,
                p.committed_mib,
                p.pss_mib,
                opt(p.binary_pss_kib.or(p.binary_in_guest_kib), 0),
                opt(p.ksm_saved_mib, 1)
            );
        }
    }
    let _ = writeln!(s);
    for x in &view.series {
        let _ = writeln!(
            s,
            "- {}: {} {} ({} PSS)",
            md(&x.label),
            lang.pick("one more instance costs", "인스턴스 하나를 더하면"),
            slope_text(x.marginal),
            slope_text(x.marginal_pss)
        );
    }
    for (env, why) in &view.stopped {
        let _ = writeln!(s, "- {env}: {}", md(why));
    }
    let _ = writeln!(s);
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
        w.name,
        md(&w.metric),
        md(&w.unit)
    );
    if let Some(note) = &w.size_note {
        let _ = writeln!(s, "Size: {}.\n", md(note));
    }
    if let Some(note) = &w.baseline_note {
        let _ = writeln!(s, "**{}.**\n", md(note));
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

/// Text from a results file (or built around it) made inert in Markdown: on one line, with
/// every character that could open markup (inline HTML, an entity, emphasis, a code span, a
/// link, a table cell) escaped with a backslash, which CommonMark allows before any ASCII
/// punctuation.
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A lecture note as a quoted paragraph.
fn note(s: &mut String, lang: Lang, text: &str) {
    if !text.is_empty() {
        let _ = writeln!(
            s,
            "> **{}.** {}\n",
            lang.pick("Lecture notes", "강의 노트"),
            md(text)
        );
    }
}

/// What each instance saw: a column per environment.
fn seen_table(s: &mut String, run: &RunView, lang: Lang) {
    if run.seen.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "### {}\n",
        lang.pick("What the instance sees", "인스턴스 안에서 보이는 것")
    );
    let envs: Vec<String> = run.seen.iter().map(|v| v.env.to_string()).collect();
    let _ = writeln!(s, "| | {} |", envs.join(" | "));
    let _ = writeln!(s, "|---|{}", "---|".repeat(envs.len()));
    for row in super::seen::rows(&run.seen, lang) {
        let cells: Vec<String> = row.cells.iter().map(|c| md(c)).collect();
        let _ = writeln!(s, "| {} | {} |", md(row.what), cells.join(" | "));
    }
    let _ = writeln!(s);
}

fn startup_table(s: &mut String, run: &RunView, lang: Lang) {
    if run.startup.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "### {}\n\n| env | n | median | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|",
        lang.pick(
            "Startup (ms, launch to ready)",
            "시작 시간 (ms, 실행부터 ready까지)"
        )
    );
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

fn spectrum_table(s: &mut String, run: &RunView, lang: Lang) {
    if run.spectrum.len() < 2 {
        return;
    }
    let _ = writeln!(
        s,
        "### {}

| env | where system calls go | kernel it reports | start (ms) | one system call (ns) | host CPU per instance (ms) | memory per instance (MiB) |
|---|---|---|---:|---:|---:|---:|",
        lang.pick("The isolation spectrum", "격리의 스펙트럼")
    );
    let opt = |v: Option<f64>| v.map_or_else(|| "—".to_string(), num);
    for r in &run.spectrum {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.env,
            r.tier.name(),
            md(r.kernel.as_deref().unwrap_or("—")),
            opt(r.startup_ms),
            opt(r.syscall_ns),
            opt(r.cpu_ms_per_instance),
            opt(r.memory_bytes.map(|b| b as f64 / 1048576.0))
        );
    }
    let _ = writeln!(s);
}

fn start_split_table(s: &mut String, run: &RunView, lang: Lang) {
    if !run
        .start_split
        .iter()
        .any(|x| x.env.family() == crate::ids::Family::Container)
    {
        return;
    }
    let _ = writeln!(
        s,
        "### {}

| env | start | segments |
|---|---:|---|",
        lang.pick(
            "Where a container's start goes (median ms)",
            "컨테이너 시작 시간은 어디에 쓰이나 (중앙값 ms)"
        )
    );
    for split in &run.start_split {
        let segments: Vec<String> = split
            .segments
            .iter()
            .map(|(k, v)| format!("{} {}", md(&k.replace('_', " ")), num(*v)))
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

/// Container starts apart from the rounds: after a quiet spell, back to back.
fn spaced_table(s: &mut String, run: &RunView, lang: Lang) {
    if run.spaced_starts.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "{}",
        lang.pick(
            "| env | in the rounds | isolated (n) | back to back (n) | cgroup move, isolated → back to back |\n|---|---:|---:|---:|---:|",
            "| 환경 | 라운드 안 | 조용한 뒤 (n) | 연달아 (n) | cgroup 이동, 조용한 뒤 → 연달아 |\n|---|---:|---:|---:|---:|"
        )
    );
    for x in &run.spaced_starts {
        let attach = x.attach_ms.map_or_else(
            || "—".to_string(),
            |(i, b)| format!("{} → {}", num(i), num(b)),
        );
        let _ = writeln!(
            s,
            "| {} | {} | {} ({}) | {} ({}) | {} |",
            x.env,
            x.rounds_ms.map_or_else(|| "—".to_string(), num),
            num(x.isolated.0),
            x.isolated.1,
            num(x.back_to_back.0),
            x.back_to_back.1,
            attach
        );
    }
    let _ = writeln!(s);
}

fn image_table(s: &mut String, run: &RunView, lang: Lang) {
    let Some(image) = &run.results.image else {
        return;
    };
    let _ = writeln!(
        s,
        "### {}

{} — {}: {:.2} MB in {} files, built in {:.1} s; page cache {:?} at every start.
",
        lang.pick("Image", "이미지"),
        md(&image.kind.to_string()),
        md(&image.base),
        image.bytes as f64 / 1e6,
        image.files,
        image.build_ms / 1e3,
        run.results.config.page_cache
    );
    for (engine, e) in &image.engines {
        let _ = writeln!(
            s,
            "- {}: {} ({:.2} MB), imported in {:.2} s",
            md(&engine.to_string()),
            md(&e.tag),
            e.size_bytes as f64 / 1e6,
            e.import_ms / 1e3
        );
    }
    let _ = writeln!(s);
}

fn memory_table(s: &mut String, run: &RunView, lang: Lang) {
    if run.memory.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "### {}\n\n| env | process RSS | runtime or client RSS | cgroup charge | guest RAM |\n|---|---:|---:|---:|---:|",
        lang.pick("Memory per instance (median peak)",
            "인스턴스당 메모리 (최대값의 중앙값)"
        )
    );
    for m in &run.memory {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            m.env,
            mib(m.process_peak_rss_bytes),
            m.launcher_peak_rss_bytes.map(mib).unwrap_or_default(),
            m.cgroup_peak_bytes.map(mib).unwrap_or_default(),
            m.guest_mem_total_bytes.map(mib).unwrap_or_default()
        );
    }
    let _ = writeln!(s);
}

fn quiet_table(s: &mut String, run: &RunView, lang: Lang) {
    if run.quiet.is_empty() {
        return;
    }
    let _ = writeln!(s, "### {}\n\n| env | trials | noisy | others on its CPUs (median) | stolen (median) |\n|---|---:|---:|---:|---:|", lang.pick("How quiet was the host", "호스트는 얼마나 조용했나"));
    for q in &run.quiet {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1}% | {:.1}% |",
            q.env, q.trials, q.noisy, q.foreign_pct, q.steal_pct
        );
    }
    let _ = writeln!(s);
}
