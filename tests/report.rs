//! Reports from real results: `compare` renders HTML (checked in a real headless Chromium),
//! Korean notes, Markdown, CSV and JSON exports, several runs side by side, a baseline, and
//! one-line errors for bad results files.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A directory for this test binary's shared fixtures, under cargo's per-target scratch space
/// (a `TempDir` held in a static would never be removed).
struct Fixtures(PathBuf);

impl Fixtures {
    fn path(&self) -> &Path {
        &self.0
    }
}

/// Two small real runs, made once for all tests of this file.
fn runs() -> &'static (Fixtures, PathBuf, PathBuf) {
    static RUNS: OnceLock<(Fixtures, PathBuf, PathBuf)> = OnceLock::new();
    RUNS.get_or_init(|| {
        let dir = Fixtures(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-fixtures"));
        let _ = std::fs::remove_dir_all(dir.path());
        std::fs::create_dir_all(dir.path()).unwrap();
        let envs = if common::is_root() {
            "native,container"
        } else {
            "native"
        };
        let mut paths = Vec::new();
        // The second run's containers run the busybox image, so the runs compare images too.
        // The first also measures container starts apart from the rounds, and runs the
        // container past its limits.
        for (name, image, spaced) in [("a.json", "minimal", "3"), ("b.json", "busybox", "0")] {
            let out = dir.path().join(name);
            let exceed = (spaced != "0").then_some("--exceed-limits");
            common::vmbench()
                .args(["run", "--image", image, "--spaced-starts", spaced])
                .args(exceed)
                .args([
                    "--env",
                    envs,
                    "--workload",
                    "noop,cpu-int,syscall",
                    "--reps",
                    "3",
                    "--warmup",
                    "0",
                    "--size",
                    "small",
                    "--quiet",
                    "--out",
                ])
                .arg(&out)
                .assert()
                .success();
            paths.push(out);
        }
        (dir, paths[0].clone(), paths[1].clone())
    })
}

fn compare(args: &[&str], files: &[&Path], out: &Path) -> String {
    common::vmbench()
        .arg("compare")
        .args(files)
        .args(args)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn html_is_self_contained_with_charts_notes_and_host() {
    let (dir, a, _) = runs();
    let html = compare(&[], &[a], &dir.path().join("report.html"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.matches("<svg").count() >= 3, "charts are inline SVG");
    for needle in [
        "Startup: launch to ready",
        "Lecture notes",
        "Host and configuration",
        "cpu-int",
        "startup time (ms, log scale)",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    // Self-contained: nothing is fetched from the network.
    // (The SVG namespace URI is an identifier, not a fetch.)
    for forbidden in [
        "<script src",
        "<link rel=\"stylesheet\"",
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
    ] {
        assert!(!html.contains(forbidden), "{forbidden} found");
    }
    if common::is_root() {
        assert!(
            html.contains("Cost relative to native"),
            "ratio chart with a container present"
        );
    }
}

#[test]
fn korean_notes_markdown_csv_and_json_exports() {
    let (dir, a, _) = runs();
    let ko = compare(&["--lang", "ko"], &[a], &dir.path().join("ko.html"));
    assert!(ko.contains("lang=\"ko\"") && ko.contains("강의 노트") && ko.contains("네임스페이스"));
    let md = compare(&["--format", "md"], &[a], &dir.path().join("r.md"));
    assert!(md.starts_with("# vmbench report") && md.contains("| env | n | median |"));
    let csv = compare(&[], &[a], &dir.path().join("r.csv"));
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("run,workload,metric,unit,better,env,n,median"));
    assert!(csv.lines().count() > 3);
    let json: serde_json::Value =
        serde_json::from_str(&compare(&[], &[a], &dir.path().join("r.json"))).unwrap();
    assert!(json["runs"][0]["workloads"].as_array().unwrap().len() >= 3);
}

#[test]
fn markdown_carries_the_lecture_notes_in_the_chosen_language() {
    let (dir, a, _) = runs();
    let md = compare(
        &["--format", "md", "--lang", "ko"],
        &[a],
        &dir.path().join("ko.md"),
    );
    assert!(
        md.starts_with("# vmbench 보고서"),
        "{}",
        &md[..200.min(md.len())]
    );
    assert!(md.contains("> **강의 노트.**") && md.contains("인스턴스 안에서 보이는 것"));
    assert!(
        md.contains("| 커널 릴리스 (uname -r) |"),
        "the instance's view as a table"
    );
    let en = compare(&["--format", "md"], &[a], &dir.path().join("en.md"));
    assert!(en.contains("> **Lecture notes.**") && en.contains("### How this was measured"));
}

#[test]
fn slides_get_every_chart_as_svg_png_and_caption() {
    let (dir, a, _) = runs();
    let charts = dir.path().join("slides");
    compare(
        &["--lang", "ko", "--charts-dir", charts.to_str().unwrap()],
        &[a],
        &dir.path().join("slides.html"),
    );
    let svg = std::fs::read_to_string(charts.join("startup.svg")).unwrap();
    assert!(
        svg.contains("<title>startup</title><desc>점 하나가"),
        "Korean caption inside"
    );
    assert!(
        svg.contains("시작 시간: 실행부터 ready까지"),
        "Korean chart title"
    );
    let caption = std::fs::read_to_string(charts.join("startup.txt")).unwrap();
    assert!(caption.starts_with("점 하나가"));
    let png = png::Decoder::new(std::fs::File::open(charts.join("startup.png")).unwrap());
    let reader = png.read_info().unwrap();
    assert_eq!(reader.info().width, 1800, "twice the SVG's 900 px");
    for section in ["timeline", "memory"] {
        assert!(charts.join(format!("{section}.png")).is_file(), "{section}");
    }
}

#[test]
fn a_quick_run_is_a_labelled_demo() {
    let dir = common::scratch();
    let out = dir.path().join("q.json");
    // Its own registry: the fixtures of this binary may be running beside it.
    let state = dir.path().join("state");
    common::vmbench()
        .env("VMBENCH_STATE", &state)
        .args(["run", "--quick", "--env", "native", "--quiet", "--out"])
        .arg(&out)
        .assert()
        .success();
    let r = vmbench::results::Results::load(&out).unwrap();
    assert!(r.config.demo);
    assert_eq!(r.config.size, vmbench_workload::Size::Small);
    assert_eq!(r.trials.len(), 2 * 3, "noop and cpu-int, 3 repetitions");
    let html = compare(&[], &[&out], &dir.path().join("q.html"));
    assert!(html.contains("A demo run (--quick)"));
    // Demo settings are one flag: asking for workloads too is a usage error.
    common::vmbench()
        .args(["run", "--quick", "--workload", "noop"])
        .assert()
        .code(2);
}

#[test]
fn several_runs_side_by_side_and_a_baseline() {
    let (dir, a, b) = runs();
    let side = compare(&[], &[a, b], &dir.path().join("side.html"));
    assert!(
        side.contains("Runs side by side") && side.contains("a.json") && side.contains("b.json")
    );
    let out = dir.path().join("base.md");
    common::vmbench()
        .arg("compare")
        .arg(b)
        .arg("--baseline")
        .arg(a)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let md = std::fs::read_to_string(out).unwrap();
    assert!(md.contains("vs baseline"));
    assert!(["no significant change", "regression", "improvement"]
        .iter()
        .any(|v| md.contains(v)));
}

#[test]
fn where_a_container_start_goes_and_the_images_compared() {
    let (dir, a, b) = runs();
    if !common::capability(
        "where_a_container_start_goes_and_the_images_compared",
        common::is_root(),
        "the fixtures ran no container (not root)",
    ) {
        return;
    }
    let html = compare(&[], &[a, b], &dir.path().join("images.html"));
    for needle in [
        "Where a container&#x27;s start goes",
        "the kernel&#x27;s part of a container",
        "Images compared",
        "static BusyBox",
        "the static workload binary and file-layer&#x27;s lower file",
        "think of it as the class",
    ] {
        assert!(html.contains(needle), "missing {needle:?}");
    }
    // Starts apart from the rounds: recorded beside the rounds, never among them.
    let r = vmbench::results::Results::load(a).unwrap();
    assert!(r.trials.iter().all(|t| t.spacing.is_none()));
    for spacing in [
        vmbench::results::StartSpacing::Isolated,
        vmbench::results::StartSpacing::BackToBack,
    ] {
        let n = r
            .start_trials
            .iter()
            .filter(|t| t.spacing == Some(spacing) && t.error.is_none())
            .count();
        assert_eq!(n, 3, "{spacing:?}");
    }
    assert!(r
        .start_trials
        .iter()
        .all(|t| t.env == vmbench::ids::EnvKind::Container
            && t.workload == vmbench_workload::Workload::Noop));
    for needle in [
        "id=\"spaced-starts\"",
        "after 500 ms with nothing started",
        "cgroup_threadgroup_rwsem",
    ] {
        assert!(html.contains(needle), "missing {needle:?}");
    }
    // Run past its limits: the OOM killer ended it inside its cgroup, fork failed at pids.max,
    // and the claims checklist says the claim is supported.
    let kinds: Vec<_> = r.limit_trials.iter().map(|t| t.exceeded).collect();
    assert_eq!(
        kinds,
        [
            Some(vmbench::results::Exceeded::Memory),
            Some(vmbench::results::Exceeded::Pids)
        ]
    );
    for t in &r.limit_trials {
        assert!(
            t.contained(),
            "{:?}: {:?} {:?}",
            t.exceeded,
            t.exit,
            t.error
        );
    }
    assert!(r.limit_trials[0].exit.oom);
    assert!(html.contains("exceeded on purpose"), "the claims checklist");
    let md = compare(&["--format", "md"], &[a], &dir.path().join("spaced.md"));
    assert!(
        md.lines().any(|l| l.contains("cgroups limit")
            && l.contains("were killed by the OOM killer")
            && l.ends_with("| supported |")),
        "{md}"
    );
    assert!(
        md.contains("| env | in the rounds | isolated (n) | back to back (n) |"),
        "{md}"
    );
    let ko = compare(&["--lang", "ko"], &[a], &dir.path().join("spaced-ko.html"));
    assert!(
        ko.contains("조용한 뒤 (ms, 횟수)") && ko.contains("연달아"),
        "{ko}"
    );
    let md = compare(&["--format", "md"], &[b], &dir.path().join("images.md"));
    assert!(md.contains("### Where a container's start goes"), "{md}");
    assert!(!md.contains("in the rounds"), "no spaced starts in b: {md}");
    assert!(md.contains("### Image\n\nbusybox"), "{md}");
    let ko = compare(&["--lang", "ko"], &[b], &dir.path().join("images-ko.html"));
    assert!(ko.contains("컨테이너 시작 시간은 어디에 쓰이나"));
    assert!(ko.contains("클래스로"));
}

#[test]
fn bad_results_files_get_one_line_errors() {
    let dir = common::scratch();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ truncated").unwrap();
    for (file, needle) in [
        (bad.clone(), "malformed results file"),
        (dir.path().join("missing.json"), "cannot read results file"),
    ] {
        let out = common::vmbench()
            .arg("compare")
            .arg(&file)
            .arg("--out")
            .arg(dir.path().join("r.html"))
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(needle) && stderr.contains(file.to_str().unwrap()),
            "{stderr}"
        );
    }
    let out = common::vmbench()
        .args(["compare", "--lang", "fr"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("en or ko"));
}

/// Chromium, or a visible skip (a failure in CI) when it is not installed.
fn chromium(test: &str) -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(vmbench::tool::which);
    common::capability(
        test,
        found.is_some(),
        "chromium not installed (apt-get install chromium)",
    )
    .then_some(found)
    .flatten()
}

#[test]
fn the_report_renders_in_a_real_browser() {
    let Some(chromium) = chromium("the_report_renders_in_a_real_browser") else {
        return;
    };
    let (dir, a, b) = runs();
    let report = dir.path().join("browser.html");
    compare(&[], &[a, b], &report);
    let profile = common::scratch();
    let base_args = |cmd: &mut std::process::Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let mut dump = std::process::Command::new(&chromium);
    base_args(&mut dump);
    let dom = dump
        .arg("--dump-dom")
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.matches("<svg").count() >= 3,
        "charts missing from the rendered DOM ({} bytes)",
        dom.len()
    );
    assert!(dom.contains("Runs side by side"));

    let shot = dir.path().join("shot.png");
    let mut capture = std::process::Command::new(&chromium);
    base_args(&mut capture);
    let status = capture
        .arg("--window-size=1200,1600")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixels = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let non_white = pixels
        .chunks(step)
        .filter(|p| p.iter().take(3).any(|c| *c < 200))
        .count();
    let total = pixels.len() / step;
    assert!(
        non_white * 100 > total,
        "screenshot is blank: {non_white} of {total} pixels have ink"
    );
}

#[test]
fn the_committed_korean_sample_renders_in_a_real_browser() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/sample");
    let results = vmbench::results::Results::load(&sample.join("results.json")).unwrap();
    let bytes = std::fs::metadata(sample.join("results.json"))
        .unwrap()
        .len();
    assert!(bytes < 2_000_000, "{bytes} bytes");
    assert!(
        results.note.as_deref().unwrap_or("").contains("thinned"),
        "the file says so"
    );
    let Some(chromium) = chromium("the_committed_korean_sample_renders_in_a_real_browser") else {
        return;
    };
    let profile = common::scratch();
    let dom = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!(
            "file://{}",
            sample.join("report.ko.html").display()
        ))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for korean in [
        "강의 노트",
        "인스턴스 안에서 보이는 것",
        "격리의 스펙트럼",
        "시작 시간",
        "흔한 주장, 이번 측정으로 확인하기",
        "뒷받침됨",
        "세 가지 스택: 시스템 콜에 누가 답하고, 하이퍼바이저는 어디에 있나",
        "레이어와 copy-on-write",
        "네트워크 경로",
        "밀도",
    ] {
        assert!(
            dom.contains(korean),
            "missing {korean:?} ({} bytes)",
            dom.len()
        );
    }
    assert!(
        dom.matches("<svg").count() >= 5,
        "charts missing from the rendered DOM"
    );
    assert!(dom.contains("tcg"), "the accelerator is stated");
    // The images the lecture compares ship beside it, rendered together.
    let images = std::fs::read_to_string(sample.join("images.ko.html")).unwrap();
    assert!(
        images.contains("이미지 비교"),
        "images.ko.html compares the images"
    );
    for kind in ["minimal", "busybox", "debian"] {
        let run =
            vmbench::results::Results::load(&sample.join(format!("images/{kind}.json"))).unwrap();
        assert_eq!(run.image.unwrap().kind.name(), kind);
    }
}

#[test]
fn a_results_file_from_the_first_version_renders_the_same_figures() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = common::scratch();
    let csv = compare(
        &[],
        &[&fixtures.join("results-v1-before-env-trait.json")],
        &dir.path().join("old.csv"),
    );
    let expected = std::fs::read_to_string(fixtures.join("report-before-env-trait.csv")).unwrap();
    // The expected file is this results file's CSV as the vmbench before the session refactor
    // rendered it: every column keeps its figures, ratios and verdicts included. Columns
    // added later are allowed; none may change.
    let table = |text: &str| -> Vec<std::collections::BTreeMap<String, String>> {
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
        lines
            .map(|l| {
                header
                    .iter()
                    .cloned()
                    .zip(l.split(',').map(String::from))
                    .collect()
            })
            .collect()
    };
    let (now, then) = (table(&csv), table(&expected));
    assert_eq!(now.len(), then.len());
    for (row_now, row_then) in now.iter().zip(&then) {
        for (column, value) in row_then {
            assert_eq!(&row_now[column], value, "{column} of {row_then:?}");
        }
    }
    let html = compare(
        &[],
        &[&fixtures.join("results-v1-before-env-trait.json")],
        &dir.path().join("old.html"),
    );
    assert!(html.contains("vm-tcg") && html.contains("container-crun"));
}

/// The committed results files and their reports: the expected reports were rendered by the
/// vmbench of addbc99 (before the session refactor) and are re-blessed only when a change to
/// what a report says is deliberate: `VMBENCH_BLESS=1 cargo test --test report committed`.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports")
}

/// Unpacks `tests/fixtures/reports/NAME.gz` into `dir`.
fn unpack(dir: &Path, name: &str) -> PathBuf {
    use std::io::Read;
    let packed = fixtures().join(format!("{name}.gz"));
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&packed).unwrap())
        .read_to_end(&mut text)
        .unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The committed report, its one time stamp (when it was rendered) blanked.
fn expected_report(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(unpack(dir, name)).unwrap();
    without_stamp(&text)
}

fn without_stamp(text: &str) -> String {
    text.lines()
        .map(|l| {
            let stamp = [
                "class=\"muted\">Generated ",
                "class=\"muted\">생성 시각 ",
                "\"generated_at\": ",
            ];
            if stamp.iter().any(|s| l.contains(s)) {
                "GENERATED"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes `text` as the committed expectation `name` (gzipped).
fn bless(name: &str, text: &str) {
    use std::io::Write;
    let file = std::fs::File::create(fixtures().join(format!("{name}.gz"))).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
}

#[test]
fn committed_results_render_byte_for_byte_as_their_committed_reports() {
    let blessing = std::env::var_os("VMBENCH_BLESS").is_some();
    let dir = common::scratch();
    let (net, sample) = (
        unpack(dir.path(), "net.json"),
        unpack(dir.path(), "sample.json"),
    );
    // The schema is unchanged: a file loaded and written again holds the same JSON.
    for file in [&net, &sample] {
        let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let loaded = vmbench::results::Results::load(file).unwrap();
        assert_eq!(
            serde_json::to_value(&loaded).unwrap(),
            raw,
            "{}",
            file.display()
        );
    }
    let cases: [(&[&Path], &str, &[&str]); 13] = [
        (&[&net], "net.report.md", &[]),
        (&[&net], "net.report.ko.md", &["--lang", "ko"]),
        (&[&net], "net.report.csv", &[]),
        (&[&net], "net.report.json", &[]),
        (&[&net], "net.report.html", &[]),
        (&[&net], "net.report.ko.html", &["--lang", "ko"]),
        (&[&sample], "sample.report.md", &[]),
        (&[&sample], "sample.report.ko.md", &["--lang", "ko"]),
        (&[&sample], "sample.report.csv", &[]),
        (&[&sample], "sample.report.json", &[]),
        (&[&sample], "sample.report.html", &[]),
        (&[&sample], "sample.report.ko.html", &["--lang", "ko"]),
        (&[&net, &sample], "both.report.md", &[]),
    ];
    for (files, name, args) in cases {
        let ext = name.rsplit('.').next().unwrap();
        let out = dir.path().join(format!("now-{name}.{ext}"));
        let rendered = compare(args, files, &out);
        if blessing {
            bless(name, &rendered);
            continue;
        }
        let now = without_stamp(&rendered);
        let before = expected_report(dir.path(), name);
        if now != before {
            let at = now
                .lines()
                .zip(before.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(now.lines().count().min(before.lines().count()));
            panic!(
                "{name} differs from before, first at line {}:\n now:    {:.300}\n before: {:.300}",
                at + 1,
                now.lines().nth(at).unwrap_or("<end>"),
                before.lines().nth(at).unwrap_or("<end>")
            );
        }
    }
    let both = compare(&[], &[&net, &sample], &dir.path().join("both.html"));
    if blessing {
        bless("both.report.html", &both);
        return;
    }
    assert_eq!(
        without_stamp(&both),
        expected_report(dir.path(), "both.report.html")
    );
}

/// Replaces every free-text string of a results file with markup (enum-like fields keep their
/// values, or the file would not load).
fn poison(value: &mut serde_json::Value, key: &str, hostile: &str) {
    const KEEP: [&str; 12] = [
        "env",
        "workload",
        "envs",
        "workloads",
        "better",
        "mode",
        "order",
        "size",
        "vm_machine",
        "cgroup_attach",
        "created_at",
        "updated_at",
    ];
    match value {
        serde_json::Value::String(s) if !KEEP.contains(&key) => *s = hostile.to_string(),
        serde_json::Value::Array(items) => {
            for v in items {
                poison(v, key, hostile);
            }
        }
        serde_json::Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let mut v = map.remove(&k).unwrap();
                poison(&mut v, &k, hostile);
                // Map keys are typed (phases): a hostile one is refused on load, tested below.
                map.insert(k, v);
            }
        }
        _ => {}
    }
}

#[test]
fn a_results_file_with_an_unknown_phase_is_refused_naming_it() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let text = std::fs::read_to_string(fixtures.join("results-v1-before-env-trait.json")).unwrap();
    let text = text.replacen("\"first_output\"", "\"first_output<script>\"", 1);
    let dir = common::scratch();
    let path = dir.path().join("phase.json");
    std::fs::write(&path, text).unwrap();
    let out = common::vmbench()
        .arg("compare")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("r.html"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown phase") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn hostile_strings_in_a_results_file_never_become_live_markup() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let text = std::fs::read_to_string(fixtures.join("results-v1-before-env-trait.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hostile = r#"<script>alert("k")</script><img src=x onerror=alert(1)>"#;
    poison(&mut value, "", hostile);
    let dir = common::scratch();
    let path = dir.path().join("<b>label<i>.json");
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    vmbench::results::Results::load(&path).expect("the poisoned file still loads");
    for lang in ["en", "ko"] {
        let html = compare(&["--lang", lang], &[&path], &dir.path().join("r.html"));
        assert!(
            html.contains("&lt;script&gt;"),
            "the strings are shown, escaped"
        );
        for live in ["<script>alert", "<img src=x", "<b>label"] {
            assert!(!html.contains(live), "{live} is live in the {lang} report");
        }
    }
}

#[test]
fn hostile_strings_stay_text_in_the_markdown_report() {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let text = std::fs::read_to_string(fixtures.join("results-v1-before-env-trait.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hostile = "MARK<script>alert(1)</script> | `code` *em* [l](x) &amp; <img src=x onerror=alert(1)>\n# injected\n<script>bad()</script>\n| a | b |";
    poison(&mut value, "", hostile);
    let dir = common::scratch();
    let path = dir.path().join("hostile.json");
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let shown = hostile.replace('\n', " ");
    for lang in ["en", "ko"] {
        let markdown = compare(&["--lang", lang], &[&path], &dir.path().join("r.md"));
        assert!(markdown.contains("MARK"), "the strings are shown");
        let mut open: Vec<String> = Vec::new();
        let mut tables = 0;
        for event in Parser::new_ext(&markdown, Options::ENABLE_TABLES) {
            match event {
                Event::Html(h) | Event::InlineHtml(h) => {
                    panic!("raw HTML in the {lang} Markdown: {h}")
                }
                Event::Start(tag) => {
                    if let Tag::Heading { .. } = tag {
                        open.push("heading: ".into());
                    } else {
                        open.push(String::new());
                    }
                    tables += usize::from(matches!(tag, Tag::Table(_)));
                }
                Event::Text(t) | Event::Code(t) => {
                    if let Some(top) = open.last_mut() {
                        top.push_str(&t);
                    }
                }
                Event::SoftBreak | Event::HardBreak => {
                    if let Some(top) = open.last_mut() {
                        top.push(' ');
                    }
                }
                Event::End(end) => {
                    let text = open.pop().unwrap();
                    let leaf = matches!(
                        end,
                        TagEnd::TableCell | TagEnd::Heading(_) | TagEnd::Paragraph
                    );
                    if leaf && text.contains("MARK") {
                        assert!(
                            text.contains(&shown),
                            "a hostile string was cut or became markup in the {lang} Markdown: {text}"
                        );
                    }
                    assert!(
                        !text.starts_with("heading: injected"),
                        "an injected heading"
                    );
                    // What a cell held stays in its cell: the row above keeps it.
                    if let Some(parent) = open.last_mut() {
                        parent.push_str(&text);
                    }
                }
                _ => {}
            }
        }
        assert!(tables > 3, "the tables are still tables ({tables})");
    }
}

/// The cells of one Markdown table row (a `\|` inside a cell is text, not a border).
fn cells(row: &str) -> usize {
    row.trim()
        .trim_matches('|')
        .replace("\\|", "")
        .split('|')
        .count()
}

#[test]
fn every_markdown_table_has_as_many_cells_in_each_row_as_in_its_header() {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let dir = common::scratch();
    for name in [
        "net.report.md",
        "net.report.ko.md",
        "sample.report.md",
        "sample.report.ko.md",
    ] {
        let md = std::fs::read_to_string(unpack(dir.path(), name)).unwrap();
        let lines: Vec<&str> = md.lines().collect();
        let mut separators = 0;
        for (i, line) in lines.iter().enumerate().skip(1) {
            let is_separator = line.starts_with("|---") || line.starts_with("|:--");
            if !is_separator {
                continue;
            }
            separators += 1;
            let header = cells(lines[i - 1]);
            assert_eq!(cells(line), header, "{name}: {}\n{line}", lines[i - 1]);
            for row in lines[i + 1..].iter().take_while(|l| l.starts_with('|')) {
                assert_eq!(cells(row), header, "{name}: {}\n{row}", lines[i - 1]);
            }
        }
        let tables = Parser::new_ext(&md, Options::ENABLE_TABLES)
            .filter(|e| matches!(e, Event::Start(Tag::Table(_))))
            .count();
        assert!(separators > 3, "{name} has tables");
        assert_eq!(tables, separators, "{name}: every table parses as one");
    }
}
