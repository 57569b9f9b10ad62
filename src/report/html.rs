//! The HTML report: one self-contained file (inline CSS and SVG, no network fetches), rendered
//! from the report model through a minijinja template.

use super::charts;
use super::export::{Exporter, ReportError};
use super::format::{change_words, mib, not_converged, num, ratio_text, verdict_words};
use super::model::{Report, RunView};
use super::notes::{notes, Lang};
use serde_json::{json, Value};

/// The template, embedded at build time.
const TEMPLATE: &str = include_str!("template.html");

/// HTML exporter.
pub struct Html;

/// Interface strings in the report's language.
fn labels(lang: Lang) -> Value {
    let mut labels = base_labels(lang);
    let more = match lang {
        Lang::En => json!({
            "demo_banner": "A demo run (--quick): 3 repetitions of noop and cpu-int at the small size. Its verdicts follow the same rule as a full run, so with so few repetitions many read \"no difference detected\"; run the full suite for figures to quote.",
            "seen": "What the instance sees", "seen_what": "seen from inside",
            "size_label": "amount of work", "spectrum": "The isolation spectrum", "tier": "where system calls go",
            "kernel": "kernel it reports", "syscall": "one system call (ns)", "cpu_per_instance": "host CPU per instance (ms)",
            "memory_per_instance": "memory per instance", "network": "Network path", "layers": "Layers and copy-on-write",
            "verdicts": "Verdicts", "decided": "pairs decided", "undecided": "Undecided, with the interval they reached",
            "verdict": "verdict", "why": "why", "stopped": "Rounds stopped because", "workload": "workload"
        }),
        Lang::Ko => json!({
            "demo_banner": "시연용 측정(--quick)입니다. noop과 cpu-int를 작은 크기로 3번씩 반복했습니다. 판정 규칙은 전체 측정과 같으므로, 반복이 적어 \"차이를 찾지 못함\"이 많이 나옵니다. 인용할 수치는 전체 스위트로 얻으세요.",
            "seen": "인스턴스 안에서 보이는 것", "seen_what": "안에서 본 것",
            "size_label": "작업량", "spectrum": "격리의 스펙트럼", "tier": "시스템 콜이 가는 곳",
            "kernel": "인스턴스가 보고한 커널", "syscall": "시스템 콜 한 번 (ns)", "cpu_per_instance": "인스턴스당 호스트 CPU (ms)",
            "memory_per_instance": "인스턴스당 메모리", "network": "네트워크 경로", "layers": "레이어와 copy-on-write",
            "verdicts": "판정", "decided": "쌍의 판정이 결정됨", "undecided": "결정되지 않은 쌍과 도달한 구간",
            "verdict": "판정", "why": "이유", "stopped": "반복을 멈춘 이유", "workload": "워크로드"
        }),
    };
    if let (Some(l), Value::Object(m)) = (labels.as_object_mut(), more) {
        l.extend(m);
    }
    labels
}

/// The first interface strings (one `json!` each language holds only so many).
fn base_labels(lang: Lang) -> Value {
    match lang {
        Lang::En => json!({
            "title": "vmbench: what isolation costs",
            "host": "Host and configuration", "results": "Results per workload", "startup": "Startup",
            "overhead": "Cost relative to native", "resources": "CPU and memory over time", "memory": "Memory per instance", "density": "Density: how many instances fit",
            "image": "Image footprint", "not_run": "Environments that did not run", "failures": "Failed trials",
            "quiet": "How quiet was the host", "noisy": "noisy trials", "foreign": "others on its CPUs (median)",
            "foreign_max": "(max)", "steal": "stolen by the hypervisor (median)", "runnable": "runnable tasks (max)",
            "claims": "The claims, held against this run", "claim": "claim", "evidence": "the figure that tests it", "finding": "what it says",
            "notes": "Lecture notes", "method": "How this was measured", "env": "environment", "median": "median",
            "ci": "95% CI", "vs_native": "vs native [95% CI]", "vs_baseline": "vs baseline", "n": "n", "cv": "CV",
            "side_by_side": "Runs side by side: median headline value (ratio to that run's native [95% CI])", "disagree": "disagree beyond their CIs",
            "tcg_banner": "A virtual machine in this report ran under TCG, QEMU's software emulation: its CPU figures show binary translation, not what hardware-assisted virtualisation (KVM) would show.",
            "better_higher": "higher is better", "better_lower": "lower is better", "outliers": "outliers flagged (kept)",
            "generated": "Generated", "baseline": "Baseline",
            "start_split": "Where a container's start goes", "segments": "segments (median ms)",
            "in_rounds": "in the rounds (ms)", "isolated": "isolated (ms, n)", "back_to_back": "back to back (ms, n)", "cgroup_move": "cgroup move, isolated → back to back (ms)",
            "images_compared": "Images compared", "image_record": "The image", "starts": "median start (ms)",
            "page_cache": "page cache", "files": "files", "build": "build", "imports": "import into engines"
        }),
        Lang::Ko => json!({
            "title": "vmbench: 격리의 비용",
            "host": "호스트와 설정", "results": "워크로드별 결과", "startup": "시작 시간",
            "overhead": "네이티브 대비 비용", "resources": "시간에 따른 CPU와 메모리", "memory": "인스턴스당 메모리", "density": "밀도: 인스턴스가 몇 개 들어가는가",
            "image": "이미지 크기", "not_run": "실행하지 못한 환경", "failures": "실패한 시행",
            "quiet": "호스트는 얼마나 조용했나", "noisy": "시끄러운 시행", "foreign": "다른 프로그램의 CPU 사용(중앙값)",
            "foreign_max": "(최대)", "steal": "하이퍼바이저가 가져간 시간(중앙값)", "runnable": "실행 대기 작업(최대)",
            "claims": "흔한 주장, 이번 측정으로 확인하기", "claim": "주장", "evidence": "확인한 수치", "finding": "결과",
            "notes": "강의 노트", "method": "측정 방법", "env": "환경", "median": "중앙값",
            "ci": "95% 신뢰구간", "vs_native": "네이티브 대비 [95% 신뢰구간]", "vs_baseline": "기준 실행 대비", "n": "횟수", "cv": "변동계수",
            "side_by_side": "실행 비교: 대표 지표의 중앙값 (그 실행의 네이티브 대비 비율 [95% 신뢰구간])", "disagree": "신뢰구간 밖으로 어긋남",
            "tcg_banner": "이 보고서의 가상 머신은 QEMU의 소프트웨어 에뮬레이션인 TCG로 실행되었습니다. CPU 수치는 바이너리 변환의 비용이며, 하드웨어 지원 가상화(KVM)의 수치가 아닙니다.",
            "better_higher": "높을수록 좋음", "better_lower": "낮을수록 좋음", "outliers": "이상값 표시(제외하지 않음)",
            "generated": "생성 시각", "baseline": "기준 실행",
            "start_split": "컨테이너 시작 시간은 어디에 쓰이나", "segments": "구간 (중앙값, ms)",
            "in_rounds": "라운드 안 (ms)", "isolated": "조용한 뒤 (ms, 횟수)", "back_to_back": "연달아 (ms, 횟수)", "cgroup_move": "cgroup 이동, 조용한 뒤 → 연달아 (ms)",
            "images_compared": "이미지 비교", "image_record": "이미지", "starts": "시작 시간 중앙값 (ms)",
            "page_cache": "페이지 캐시", "files": "파일 수", "build": "빌드", "imports": "엔진으로 가져오기"
        }),
    }
}

/// The sections that may have a chart.
const CHARTS: [&str; 7] = [
    "startup",
    "start_split",
    "spectrum",
    "overhead",
    "timeline",
    "memory",
    "image",
];

/// Every chart of a run that has something to show, in report order: (section, SVG).
pub fn charts_of(run: &RunView, lang: Lang) -> Result<Vec<(String, Value)>, ReportError> {
    let mut out = Vec::new();
    let mut add = |name: &str, svg: Option<String>| {
        if let Some(svg) = svg {
            out.push((name.to_string(), Value::String(svg)));
        }
    };
    add(
        "startup",
        (!run.startup.is_empty())
            .then(|| charts::startup::draw(&run.startup, lang))
            .transpose()?,
    );
    add(
        "start_split",
        has_containers(run)
            .then(|| charts::start_split::draw(&run.start_split, lang))
            .transpose()?,
    );
    add(
        "spectrum",
        (run.spectrum.len() > 1)
            .then(|| charts::spectrum::draw(&run.spectrum, lang))
            .transpose()?,
    );
    add(
        "overhead",
        (!charts::ratios::rows(&run.workloads).is_empty())
            .then(|| charts::ratios::draw(&run.workloads, lang))
            .transpose()?,
    );
    add(
        "timeline",
        (!run.timelines.is_empty())
            .then(|| charts::timeline::draw(&run.timelines, lang))
            .transpose()?,
    );
    add(
        "memory",
        (!run.memory.is_empty())
            .then(|| charts::footprint::draw(&run.memory, lang))
            .transpose()?,
    );
    add(
        "density",
        run.density
            .as_ref()
            .filter(|d| !d.series.is_empty())
            .map(|d| charts::density::draw(&d.series, lang))
            .transpose()?,
    );
    add(
        "image",
        (!run.footprints.is_empty())
            .then(|| charts::image::draw(&run.footprints, lang))
            .transpose()?,
    );
    Ok(out)
}

/// The caption of the chart of `section` in `lang`.
pub fn caption(section: &str, lang: Lang) -> String {
    captions(lang)[section]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Chart captions in the report's language.
fn captions(lang: Lang) -> Value {
    match lang {
        Lang::En => json!({
            "startup": "Each point is one cold start, from just before launch to the ready line; the box spans the middle half and the bar marks the median.",
            "overhead": "How many times worse than native each workload ran, with its 95% confidence interval; a whisker across 1 means no difference was detected.",
            "timeline": "CPU (cores busy) and resident memory of the instance process over one trial, sampled from the host.",
            "memory": "Peak memory one instance holds on the host: the instance process, the container's cgroup charge, and a VM's guest RAM.",
            "image": "Bytes on disk one instance needs: the container image against the guest kernel plus initramfs.",
            "density": "Top: the memory N instances alive together hold, their PSS summed (a page shared by k processes counts 1/k in each), on a log scale, one line per environment; a paler line is the same VM with KSM merging. Bottom: time from the first launch until the last instance is ready. The table adds the host's own view, the fall of MemAvailable, and the cost of one more instance as the slope over the counts with its 95% interval.",
            "spectrum": "Environments from least isolated (top) to most isolated (bottom), grouped by where the workload's system calls are answered. Left: median start, launch to ready. Right: median cost of one system call (the syscall workload). Both on log scales: each grid line is ten times the one before. In the table, host CPU is what one noop instance used from launch to exit, every process of it (runtime, sandbox, QEMU) counted; memory is the peak host memory of one instance running syscall (its processes and its cgroup's charge).",
            "start_split": "Each bar is one environment's median start, cut where its phases end: what the kernel does (clone, cgroup, mounts, exec), what a runtime adds, and what an engine adds (client, daemon or conmon, shim) before the same workload prints ready."
        }),
        Lang::Ko => json!({
            "startup": "점 하나가 콜드 스타트 한 번입니다(실행 직전부터 ready 줄까지). 상자는 가운데 절반, 굵은 선은 중앙값입니다.",
            "overhead": "각 워크로드가 네이티브보다 몇 배 나빴는지와 95% 신뢰구간입니다. 수염이 1을 가로지르면 차이를 찾지 못한 것입니다.",
            "timeline": "한 번의 시행 동안 호스트에서 측정한 인스턴스 프로세스의 CPU 사용량(코어 수)과 상주 메모리입니다.",
            "memory": "인스턴스 하나가 호스트에서 차지하는 최대 메모리입니다. 프로세스, 컨테이너 cgroup 사용량, VM의 게스트 RAM을 보여 줍니다.",
            "image": "인스턴스 하나에 필요한 디스크 용량입니다. 컨테이너 이미지와 게스트 커널+initramfs를 비교합니다.",
            "density": "위: 인스턴스 N개가 함께 살아 있을 때 차지하는 메모리로, PSS의 합(k개 프로세스가 공유하는 페이지는 각각 1/k로 셈)이며 로그 눈금입니다. 환경마다 선 하나이고, 옅은 선은 KSM 병합을 켠 같은 VM입니다. 아래: 첫 실행부터 마지막 인스턴스가 ready가 될 때까지의 시간입니다. 표에는 호스트의 관점인 MemAvailable 감소량과, 인스턴스 하나를 더할 때의 비용(개수에 대한 기울기와 95% 구간)을 더했습니다.",
            "spectrum": "위에서 아래로 격리가 약한 환경부터 강한 환경 순이며, 워크로드의 시스템 콜을 누가 처리하는지로 묶었습니다. 왼쪽은 시작 시간(실행부터 ready까지) 중앙값, 오른쪽은 시스템 콜 한 번의 비용(syscall 워크로드) 중앙값입니다. 둘 다 로그 눈금이라 눈금 하나가 열 배입니다. 표의 호스트 CPU는 noop 인스턴스 하나가 실행부터 종료까지 쓴 CPU이며 그 모든 프로세스(런타임, 샌드박스, QEMU)를 셉니다. 메모리는 syscall을 실행하는 인스턴스 하나가 호스트에서 차지한 최대 메모리(프로세스와 cgroup 사용량)입니다.",
            "start_split": "막대 하나가 한 환경의 시작 시간 중앙값이며, 단계가 끝나는 곳에서 잘랐습니다. 커널이 하는 일(clone, cgroup, 마운트, exec), 런타임이 더하는 일, 엔진이 더하는 일(클라이언트, 데몬이나 conmon, shim)을 거쳐 같은 워크로드가 ready를 출력합니다."
        }),
    }
}

/// The host and configuration table of a run.
fn host_rows(r: &crate::results::Results) -> Vec<(&'static str, String)> {
    let mut rows: Vec<(&'static str, String)> =
        r.note.iter().map(|n| ("note", n.clone())).collect();
    rows.extend(machine_rows(&r.host));
    rows.extend(config_rows(r));
    rows
}

/// The machine and its software.
fn machine_rows(h: &crate::results::HostInfo) -> Vec<(&'static str, String)> {
    vec![
        ("kernel", h.kernel.clone()),
        ("os", h.os.clone()),
        ("cpu", format!("{} ({} logical CPUs)", h.cpu_model, h.cores)),
        ("memory", mib(h.memory_bytes)),
        ("cgroups", h.cgroup.clone()),
        (
            "hypervisor",
            match (&h.hypervisor, h.nested) {
                (Some(name), _) => name.clone(),
                (None, true) => "one, not named (recorded before vmbench named it)".into(),
                (None, false) => "none (bare metal)".into(),
            },
        ),
        (
            "accelerator",
            format!(
                "{} — {}",
                h.accelerator.as_deref().unwrap_or("—"),
                h.accelerator_reason.as_deref().unwrap_or("")
            ),
        ),
        ("qemu", h.qemu_version.clone().unwrap_or_else(|| "—".into())),
        (
            "runtimes",
            h.runtimes
                .values()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    ]
}

/// How the run measured: repetitions, order, pinning, limits, collector, binary, version.
fn config_rows(r: &crate::results::Results) -> Vec<(&'static str, String)> {
    vec![
        (
            "repetitions",
            format!(
                "{} measured + {} warm-up, {}, size {}",
                r.config.reps,
                r.config.warmup,
                r.config.mode.label(),
                r.config.size
            ),
        ),
        ("order", r.config.order.label()),
        (
            "pinning",
            r.config
                .cpus
                .as_ref()
                .map(|c| format!("workload on CPUs {c:?}, harness elsewhere"))
                .unwrap_or_else(|| "none".into()),
        ),
        (
            "limits",
            format!(
                "{} MiB memory (container limit = VM RAM), timeout {} s",
                r.config.memory_mib, r.config.timeout_s
            ),
        ),
        (
            "collector",
            match &r.collector {
                Some(c) => format!(
                    "every {} ms, {:.2}% of one core",
                    c.interval_ms,
                    c.fraction_of_core * 100.0
                ),
                None => "off".into(),
            },
        ),
        (
            "workload binary",
            format!(
                "sha256 {} ({} bytes)",
                r.workload_binary.sha256, r.workload_binary.bytes
            ),
        ),
        (
            "vmbench",
            format!("{} — run started {}", r.vmbench_version, r.created_at),
        ),
    ]
}

/// Each workload's table: a row per environment.
fn workload_tables(run: &RunView, lang: Lang) -> Vec<Value> {
    run
        .workloads
        .iter()
        .map(|w| {
            json!({
                "name": w.name, "metric": w.metric, "unit": w.unit,
                "size": w.size.name(), "size_note": w.size_note, "baseline_note": w.baseline_note,
                "better": if w.better == vmbench_workload::Better::Higher { "higher" } else { "lower" },
                "rows": w.rows.iter().map(|row| json!({
                    "env": row.env, "n": row.n, "median": num(row.median),
                    "ci": row.ci.map(|c| format!("[{}, {}]", num(c.lo), num(c.hi))).unwrap_or_default(),
                    "cv": format!("{:.1}%", row.cv * 100.0),
                    "ratio": row.ratio.as_ref().map(ratio_text).unwrap_or_default(),
                    "words": row.verdict.map(|v| verdict_words(v, w.better, lang)).unwrap_or_default(),
                    "not_converged": (row.converged == Some(false)).then(|| not_converged(lang)),
                    "baseline": row.baseline.as_ref().map(|c| format!("{} — {}", ratio_text(&c.ratio), change_words(c.verdict, w.better, lang))),
                    "regression": row.baseline.as_ref().is_some_and(|c| c.is_regression()),
                    "outliers": row.outliers, "failed": row.failed,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// The verdicts section: how many pairs were decided, each decided one, then each undecided
/// one with the interval it reached and why.
fn verdict_rows(run: &RunView, lang: Lang) -> Value {
    let v = &run.verdicts;
    let (decided, pairs) = v.count();
    let row = |r: &super::model::VerdictRow| {
        json!({
            "workload": r.workload, "env": r.env, "ratio": ratio_text(&r.ratio),
            "words": verdict_words(r.verdict, r.better, lang), "n": r.n,
            "why": r.why.clone().unwrap_or_default(),
        })
    };
    json!({
        "decided": decided, "pairs": pairs,
        "stopped": v.stopped.as_ref().map(|(why, budget)| format!("{why} ({budget:.0} s)")),
        "decided_rows": v.decided.iter().map(row).collect::<Vec<_>>(),
        "undecided_rows": v.undecided.iter().map(row).collect::<Vec<_>>(),
    })
}

fn run_context(run: &RunView, lang: Lang, margin: f64) -> Result<Value, ReportError> {
    let startup: Vec<Value> = run
        .startup
        .iter()
        .map(|s| {
            json!({
                "env": s.env, "n": s.summary.n, "median": num(s.summary.median), "p95": num(s.summary.p95),
                "p99": num(s.summary.p99), "max": num(s.summary.max),
                "phases": s.phases_ms.iter().map(|(k, v)| format!("{k} {}", num(*v))).collect::<Vec<_>>().join(" → "),
            })
        })
        .collect();
    let memory: Vec<Value> = run
        .memory
        .iter()
        .map(|m| {
            json!({
                "env": m.env, "rss": mib(m.process_peak_rss_bytes),
                "launcher": m.launcher_peak_rss_bytes.map(mib).unwrap_or_default(),
                "pss": m.process_peak_pss_bytes.map(mib).unwrap_or_default(),
                "cgroup": m.cgroup_peak_bytes.map(mib).unwrap_or_default(),
                "guest": m.guest_mem_total_bytes.map(mib).unwrap_or_default(),
            })
        })
        .collect();
    let mut charts: serde_json::Map<String, Value> = CHARTS
        .iter()
        .map(|c| (c.to_string(), Value::Null))
        .collect();
    charts.extend(charts_of(run, lang)?);
    Ok(json!({
        "label": run.label,
        "host_rows": host_rows(&run.results).into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
        "tcg": run.tcg,
        "nested_kvm": run.nested_kvm.as_ref().map(|n| super::format::nested_kvm_words(n, lang)),
        "rootless": run.rootless.as_ref().map(|r| r.words(lang)),
        "incomplete": run.incomplete,
        "workloads": workload_tables(run, lang),
        "verdicts": verdict_rows(run, lang),
        "startup": startup,
        "memory": memory,
        "density": run.density.as_ref().map(density_rows),
        "network": run.network.as_ref().map(|v| json!({
            "headers": super::format::network_headers(lang),
            "rows": super::format::network_cells(v, lang),
        })),
        "layers": run.layers.as_ref().map(|v| {
            let (image_headers, write_headers) = super::format::layers_headers(lang);
            let (images, writes) = super::format::layers_cells(v, lang);
            json!({"image_headers": image_headers, "write_headers": write_headers, "images": images, "writes": writes})
        }),
        "not_run": run.not_run.iter().map(|(e, r)| json!({"env": e, "reason": r})).collect::<Vec<_>>(),
        "quiet": run.quiet.iter().map(|q| json!({
            "env": q.env, "trials": q.trials, "noisy": q.noisy,
            "foreign": format!("{:.1}%", q.foreign_pct), "foreign_max": format!("{:.1}%", q.foreign_max_pct),
            "steal": format!("{:.1}%", q.steal_pct), "runnable": q.runnable_max,
        })).collect::<Vec<_>>(),
        "noisy": run.noisy.iter().take(50).map(|(e, w, rep, why)| json!({"env": e, "workload": w, "rep": rep, "why": why})).collect::<Vec<_>>(),
        "failures": run.failures.iter().take(50).map(|(e, w, rep, err)| json!({"env": e, "workload": w, "rep": rep, "error": err})).collect::<Vec<_>>(),
        "start_split": start_split_rows(run),
        "spaced_starts": run.spaced_starts.iter().map(|x| json!({
            "env": x.env,
            "rounds": x.rounds_ms.map_or_else(|| "—".to_string(), num),
            "isolated": format!("{} ({})", num(x.isolated.0), x.isolated.1),
            "back_to_back": format!("{} ({})", num(x.back_to_back.0), x.back_to_back.1),
            "attach": x.attach_ms.map_or_else(|| "—".to_string(), |(i, b)| format!("{} → {}", num(i), num(b))),
        })).collect::<Vec<_>>(),
        "spectrum": spectrum_rows(run),
        "seen": {
            "envs": run.seen.iter().map(|v| v.env).collect::<Vec<_>>(),
            "rows": crate::report::seen::rows(&run.seen, lang),
        },
        "image": run.results.image.as_ref().map(|i| image_rows(i, &run.results.config)),
        "footprints": run.footprints.iter().map(|(e, b, what)| json!({"env": e, "size": format!("{:.2} MB", *b as f64 / 1e6), "what": what})).collect::<Vec<_>>(),
        "demo": run.results.config.demo,
        "charts": charts,
        "notes": notes(run, lang, margin),
        "claims": super::claims::claims(run, lang),
    }))
}

/// The density table: per series, the marginal cost and the figures at its largest count.
fn density_rows(view: &super::density::DensityView) -> Value {
    use super::density::slope_text;
    let kib = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |k| format!("{k:.0} KiB"));
    let rows: Vec<Value> = view
        .series
        .iter()
        .map(|s| {
            let first = s.points.first();
            let last = s.points.last();
            json!({
                "label": s.label,
                "marginal": slope_text(s.marginal),
                "marginal_pss": slope_text(s.marginal_pss),
                "counts": s.points.iter().map(|p| p.count.to_string()).collect::<Vec<_>>().join(", "),
                "ready": last.map_or_else(|| "—".into(), |p| format!("{} in {}", p.count, num(p.all_ready_ms))),
                "binary": match (first, last) {
                    (Some(a), Some(b)) if a.binary_pss_kib.is_some() => format!("{} at {} → {} at {}", kib(a.binary_pss_kib), a.count, kib(b.binary_pss_kib), b.count),
                    (_, Some(b)) => format!("{} in each guest's RAM", kib(b.binary_in_guest_kib)),
                    _ => "—".into(),
                },
                "guest": last.and_then(|p| p.guest_total_mib).map_or_else(|| "—".into(), |m| format!("{m:.0} MiB")),
                "ksm": last.and_then(|p| p.ksm_saved_mib).map_or_else(|| "—".into(), |m| format!("{m:.1} MiB")),
            })
        })
        .collect();
    json!({
        "rows": rows,
        "stopped": view.stopped.iter().map(|(e, why)| format!("{e}: {why}")).collect::<Vec<_>>(),
    })
}

/// The spectrum table: an environment per row, least isolated first.
fn spectrum_rows(run: &RunView) -> Vec<Value> {
    let opt = |v: Option<f64>| v.map_or_else(|| "—".to_string(), num);
    run.spectrum
        .iter()
        .map(|r| {
            json!({
                "env": r.env, "tier": r.tier.name(), "kernel": r.kernel.clone().unwrap_or_else(|| "—".into()),
                "startup": opt(r.startup_ms), "syscall": opt(r.syscall_ns), "cpu": opt(r.cpu_ms_per_instance),
                "memory": r.memory_bytes.map_or_else(|| "—".to_string(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
            })
        })
        .collect()
}

/// Whether a run started any container, so that its start can be split.
fn has_containers(run: &RunView) -> bool {
    run.start_split
        .iter()
        .any(|s| s.env.family() == crate::ids::Family::Container)
}

/// The start split table: an environment per row, its segments in words.
fn start_split_rows(run: &RunView) -> Vec<Value> {
    if !has_containers(run) {
        return Vec::new();
    }
    run.start_split
        .iter()
        .map(|s| {
            json!({
                "env": s.env, "median": num(s.median_ms), "what": s.env.describe(),
                "segments": s.segments.iter().map(|(k, v)| format!("{} {}", k.replace('_', " "), num(*v))).collect::<Vec<_>>().join(" + "),
            })
        })
        .collect()
}

/// The image record as (key, value) rows.
fn image_rows(
    image: &crate::results::ImageRecord,
    config: &crate::config::RunConfig,
) -> Vec<Value> {
    let mut rows = vec![
        ("image", format!("{} — {}", image.kind, image.base)),
        (
            "on disk",
            format!(
                "{:.2} MB in {} files",
                image.bytes as f64 / 1e6,
                image.files
            ),
        ),
        (
            "built",
            format!("in {:.1} s, {}", image.build_ms / 1e3, image.built_at),
        ),
        (
            "page cache",
            format!("{:?} at every start", config.page_cache).to_lowercase(),
        ),
    ];
    for (engine, e) in &image.engines {
        rows.push((
            "in engine",
            format!(
                "{engine}: {} ({:.2} MB), imported in {:.2} s (the stand-in for a pull)",
                e.tag,
                e.size_bytes as f64 / 1e6,
                e.import_ms / 1e3
            ),
        ));
    }
    rows.into_iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

/// Rows comparing the runs' images: kind, size, and each container environment's start.
fn images_compared(report: &Report) -> Vec<Value> {
    report
        .runs
        .iter()
        .filter_map(|run| {
            let image = run.results.image.as_ref()?;
            let starts = run
                .startup
                .iter()
                .filter(|s| s.env.family() == crate::ids::Family::Container)
                .map(|s| format!("{} {}", s.env, num(s.summary.median)))
                .collect::<Vec<_>>()
                .join(", ");
            Some(json!({
                "label": run.label, "image": image.kind,
                "cache": format!("{:?}", run.results.config.page_cache).to_lowercase(),
                "size": format!("{:.2} MB", image.bytes as f64 / 1e6), "files": image.files,
                "build": format!("{:.1} s", image.build_ms / 1e3),
                "imports": image.engines.iter().map(|(k, e)| format!("{k} {:.2} s", e.import_ms / 1e3)).collect::<Vec<_>>().join(", "),
                "starts": starts,
            }))
        })
        .collect()
}

/// Rows of the side-by-side table: workload/env, one cell per run (median and ratio to that
/// run's native), and the runs that disagree beyond their CIs.
fn side_by_side(report: &Report) -> Vec<Value> {
    let labels: Vec<&str> = report.runs.iter().map(|r| r.label.as_str()).collect();
    report
        .across
        .iter()
        .map(|row| {
            let cells: Vec<String> = row
                .cells
                .iter()
                .map(|c| super::format::across_cell(c.as_ref()))
                .collect();
            json!({"workload": row.workload, "env": row.env, "unit": row.unit, "cells": cells, "disagree": super::format::disagreement(row, &labels)})
        })
        .collect()
}

/// The three stacks (native, container, VM: who answers a system call, where the hypervisor
/// sits), the same drawing as the lecture's.
fn stacks(lang: Lang) -> &'static str {
    match lang {
        Lang::En => include_str!("../../docs/three-stacks.svg"),
        Lang::Ko => include_str!("../../docs/three-stacks.ko.svg"),
    }
}

impl Exporter for Html {
    fn render(&self, report: &Report, lang: Lang) -> Result<String, ReportError> {
        let mut env = minijinja::Environment::new();
        // The `.html` name turns auto-escaping on: results files travel between people, and
        // nothing they hold may become live markup.
        env.add_template("report.html", TEMPLATE)?;
        let runs = report
            .runs
            .iter()
            .map(|r| run_context(r, lang, report.margin))
            .collect::<Result<Vec<_>, _>>()?;
        let ctx = json!({
            "lang": lang.code(),
            "l": labels(lang),
            "captions": captions(lang),
            "runs": runs,
            "labels": report.runs.iter().map(|r| r.label.clone()).collect::<Vec<_>>(),
            "side_by_side": (report.runs.len() > 1).then(|| side_by_side(report)),
            "across_note": super::notes::across(report, lang),
            "images_compared": (report.runs.len() > 1).then(|| images_compared(report)).filter(|v| v.len() > 1),
            "images_note": report.runs.first().map(|r| notes(r, lang, report.margin).image),
            "baseline": report.baseline,
            "generated_at": report.generated_at,
            "stacks": stacks(lang),
        });
        Ok(env.get_template("report.html")?.render(ctx)?)
    }
}
