//! How figures are written in every output: numbers with sensible precision, sizes, ratios
//! with their intervals, durations.

use super::lang::Lang;
use crate::stats::Verdict;
pub use crate::units::{num, seconds};
use vmbench_workload::Better;

/// An axis tick: at most three decimals, trailing zeros dropped (`1`, `0.25`, `10000`).
pub fn tick(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// What a KVM figure from a nested run is, in one sentence without a full stop.
pub fn nested_kvm_words(nested: &crate::results::NestedKvm, lang: Lang) -> String {
    use crate::results::NestedKvm;
    match (nested, lang) {
        (_, Lang::En) => nested.describe(),
        (NestedKvm::InsideEmulated, Lang::Ko) => "에뮬레이션된 게스트 안의 중첩 KVM: 그 게스트의 네이티브 대비 비율이며, KVM의 절대 속도가 아닙니다".into(),
        (NestedKvm::InsideGuest(h), Lang::Ko) => format!("{h}의 게스트 안의 중첩 KVM: 그 게스트의 네이티브 대비 비율이며, 물리 서버에서의 KVM 속도가 아닙니다"),
    }
}

/// What a run without root was, when its containers ran rootless.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rootless {
    /// The uid their processes had on the host.
    pub uid: Option<u32>,
    /// Whether they ran without cgroup limits (the tree not delegated to the user).
    pub unlimited: bool,
}

impl Rootless {
    /// The facts of a run without root that ran containers; none for any other run.
    pub fn of(results: &crate::results::Results) -> Option<Rootless> {
        let container =
            |t: &&crate::results::Trial| t.env.family() == crate::ids::Family::Container;
        if results.host.root || !results.trials.iter().any(|t| container(&t)) {
            return None;
        }
        Some(Rootless {
            uid: results
                .trials
                .iter()
                .filter(container)
                .find_map(|t| t.host_uid),
            unlimited: results
                .trials
                .iter()
                .any(|t| t.cgroup_attach == Some(crate::results::AttachPath::NoLimits))
                || results.host.engines.values().any(|e| e.no_limits.is_some()),
        })
    }

    /// What it means, in the report's language.
    pub fn words(&self, lang: Lang) -> String {
        let uid = self.uid.map_or_else(|| "?".to_string(), |u| u.to_string());
        let unlimited = self.unlimited;
        match lang {
            Lang::En => format!(
                "run without root: its containers ran rootless, in a user namespace that shows uid 0 inside while the process is uid {uid} on the host{}",
                if unlimited { "; they ran without cgroup limits (the environments list says why)" } else { "" }
            ),
            Lang::Ko => format!(
                "root 없이 실행: 컨테이너는 rootless로, 안에서는 uid 0으로 보이지만 호스트에서는 uid {uid}인 사용자 네임스페이스에서 실행되었습니다{}",
                if unlimited { ". cgroup 자원 한도 없이 실행되었습니다(이유는 환경 목록에 있습니다)" } else { "" }
            ),
        }
    }
}

/// A ratio with its interval, `1.012× [0.998, 1.030]`.
pub fn ratio_text(r: &crate::stats::Ratio) -> String {
    match r.ci {
        Some(ci) => format!("{:.3}× [{:.3}, {:.3}]", r.value, ci.lo, ci.hi),
        None => format!("{:.3}×", r.value),
    }
}

/// Bytes in MiB with one decimal.
pub fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

/// Words for a ratio env/native given which direction is better.
pub fn ratio_words(ratio: f64, better: Better) -> String {
    let change = (ratio - 1.0) * 100.0;
    if change.abs() < 0.05 {
        return "same".into();
    }
    let worse = match better {
        Better::Higher => ratio < 1.0,
        Better::Lower => ratio > 1.0,
    };
    let word = if worse { "worse" } else { "better" };
    let factor = ratio.max(1.0 / ratio);
    if factor >= 2.0 {
        return format!("{factor:.1}× {word}");
    }
    format!("{:.1}% {word}", change.abs())
}

/// A verdict in words: `same within ±3%`, `no difference detected (CI ±8.2%)`,
/// `12.0% worse`, `2.5× better`, in the report's language.
pub fn verdict_words(v: Verdict, better: Better, lang: Lang) -> String {
    let pct = |x: f64| {
        let p = x * 100.0;
        if p < 10.0 && p != p.round() {
            format!("{p:.1}")
        } else {
            format!("{p:.0}")
        }
    };
    match (v, lang) {
        (Verdict::Same { margin }, Lang::En) => format!("same within ±{}%", pct(margin)),
        (Verdict::Same { margin }, Lang::Ko) => format!("±{}% 안에서 같음", pct(margin)),
        (Verdict::NoDifference { half_width }, Lang::En) => {
            format!("no difference detected (CI ±{:.1}%)", half_width * 100.0)
        }
        (Verdict::NoDifference { half_width }, Lang::Ko) => {
            format!("차이를 찾지 못함 (신뢰구간 ±{:.1}%)", half_width * 100.0)
        }
        (Verdict::Worse { ratio } | Verdict::Better { ratio }, lang) => {
            let words = ratio_words(ratio, better);
            match lang {
                Lang::En => words,
                Lang::Ko => words
                    .replace("× worse", "배 느림")
                    .replace("× better", "배 빠름")
                    .replace("% worse", "% 느림")
                    .replace("% better", "% 빠름"),
            }
        }
        (Verdict::Undetermined, Lang::En) => "too few repetitions to tell".into(),
        (Verdict::Undetermined, Lang::Ko) => "반복이 적어 판단할 수 없음".into(),
    }
}

/// A change against a baseline in words: a regression, an improvement, or no significant change.
pub fn change_words(v: Verdict, better: Better, lang: Lang) -> String {
    let words = verdict_words(v, better, lang);
    match (v, lang) {
        (Verdict::Worse { .. }, Lang::En) => format!("regression: {words}"),
        (Verdict::Better { .. }, Lang::En) => format!("improvement: {words}"),
        (_, Lang::En) => format!("no significant change ({words})"),
        (Verdict::Worse { .. }, Lang::Ko) => format!("회귀: {words}"),
        (Verdict::Better { .. }, Lang::Ko) => format!("개선: {words}"),
        (_, Lang::Ko) => format!("유의한 변화 없음 ({words})"),
    }
}

/// Words marking an adaptive pair whose interval did not reach its target.
pub fn not_converged(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "not converged",
        Lang::Ko => "수렴하지 않음",
    }
}

/// A side-by-side cell: the run's median and, in brackets, its ratio to that run's native.
pub fn across_cell(cell: Option<&super::model::AcrossCell>) -> String {
    match cell {
        None => "—".into(),
        Some(c) => match &c.ratio {
            Some(r) => format!("{} ({})", num(c.median), ratio_text(r)),
            None => num(c.median),
        },
    }
}

/// The runs of a side-by-side row that disagree, as `a ≠ b` pairs named by `labels`.
pub fn disagreement(row: &super::model::AcrossRow, labels: &[&str]) -> String {
    row.disagree
        .iter()
        .map(|&(a, b)| format!("{} ≠ {}", labels[a], labels[b]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A figure as a table cell: `41.2 (1.12× [1.05, 1.20], 12.0% worse)`.
pub fn path_cell(f: Option<&super::network::PathFigure>, better: Better, lang: Lang) -> String {
    let Some(f) = f else {
        return "—".into();
    };
    match (f.ratio, f.verdict) {
        (Some(r), Some(v)) => format!(
            "{} ({}, {})",
            num(f.median),
            ratio_text(&r),
            verdict_words(v, better, lang)
        ),
        _ => num(f.median),
    }
}

/// The network path table's header cells, in the report's language.
pub fn network_headers(lang: Lang) -> [&'static str; 7] {
    match lang {
        Lang::En => [
            "environment",
            "path",
            "round trip p50, µs (× native)",
            "p99, µs",
            "p50 with the peer on the instance's CPU, µs",
            "stream host → instance, Gbit/s (× native)",
            "stream instance → host, Gbit/s (× native)",
        ],
        Lang::Ko => [
            "환경",
            "경로",
            "왕복 p50, µs (네이티브 대비)",
            "p99, µs",
            "피어를 인스턴스의 CPU에 둔 p50, µs",
            "호스트 → 인스턴스 스트림, Gbit/s (네이티브 대비)",
            "인스턴스 → 호스트 스트림, Gbit/s (네이티브 대비)",
        ],
    }
}

/// Each row of the network path table as its cells, in the order of [`network_headers`].
pub fn network_cells(view: &super::network::NetworkView, lang: Lang) -> Vec<[String; 7]> {
    view.rows
        .iter()
        .map(|r| {
            [
                r.env.to_string(),
                match r.mtu {
                    Some(m) => format!("{} · MTU {m}", r.path.label()),
                    None => r.path.label().to_string(),
                },
                path_cell(r.rtt.as_ref(), Better::Lower, lang),
                r.rtt_p99.map_or_else(|| "—".into(), num),
                r.rtt_same_cpu.map_or_else(|| "—".into(), num),
                path_cell(r.stream_in.as_ref(), Better::Higher, lang),
                path_cell(r.stream_out.as_ref(), Better::Higher, lang),
            ]
        })
        .collect()
}

/// The layers tables' header cells: the images' layers, then the writes on a layer.
pub fn layers_headers(lang: Lang) -> ([&'static str; 5], [&'static str; 6]) {
    match lang {
        Lang::En => (
            ["engine", "layer", "holds", "size, MB", "digest"],
            [
                "environment",
                "where the writes went",
                "first 4 KiB write + fsync into the image's file, ms (× native)",
                "second write, ms (× native)",
                "new file on the layer, MB/s (× native)",
                "file-io on /data, MB/s",
            ],
        ),
        Lang::Ko => (
            ["엔진", "레이어", "내용", "크기, MB", "다이제스트"],
            [
                "환경",
                "쓰기가 간 곳",
                "이미지 파일에 첫 4 KiB 쓰기 + fsync, ms (네이티브 대비)",
                "두 번째 쓰기, ms (네이티브 대비)",
                "레이어 위 새 파일, MB/s (네이티브 대비)",
                "/data의 file-io, MB/s",
            ],
        ),
    }
}

/// The rows of the layers tables, in the order of [`layers_headers`].
pub fn layers_cells(
    view: &super::layers::LayersView,
    lang: Lang,
) -> (Vec<[String; 5]>, Vec<[String; 6]>) {
    let images = view
        .images
        .iter()
        .flat_map(|i| {
            i.layers.iter().enumerate().map(|(n, l)| {
                [
                    i.engine.clone(),
                    (n + 1).to_string(),
                    match lang {
                        Lang::En => l.holds.clone(),
                        Lang::Ko => l
                            .holds
                            .replacen("base: ", "베이스: ", 1)
                            .replacen("the mount points", "마운트 지점", 1)
                            .replacen("the workload, ", "워크로드: ", 1)
                            .replacen(" and ", ", ", 1),
                    },
                    format!("{:.2}", l.bytes as f64 / 1e6),
                    l.digest.chars().take(19).collect::<String>() + "…",
                ]
            })
        })
        .collect();
    let writes = view
        .rows
        .iter()
        .map(|r| {
            [
                r.env.to_string(),
                r.io_path.clone().unwrap_or_else(|| "—".into()),
                path_cell(r.first_write.as_ref(), Better::Lower, lang),
                path_cell(r.rewrite.as_ref(), Better::Lower, lang),
                path_cell(r.layer_write.as_ref(), Better::Higher, lang),
                r.data_write.map_or_else(|| "—".into(), num),
            ]
        })
        .collect();
    (images, writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_words_follow_the_metric_direction() {
        assert_eq!(ratio_words(0.9, Better::Higher), "10.0% worse");
        assert_eq!(ratio_words(0.9, Better::Lower), "10.0% better");
        assert_eq!(ratio_words(1.25, Better::Lower), "25.0% worse");
        assert_eq!(ratio_words(1.0, Better::Lower), "same");
        assert_eq!(ratio_words(1936.0, Better::Lower), "1936.0× worse");
        assert_eq!(ratio_words(0.161, Better::Higher), "6.2× worse");
    }

    #[test]
    fn verdicts_read_in_both_languages() {
        let en = |v| verdict_words(v, Better::Higher, Lang::En);
        assert_eq!(en(Verdict::Same { margin: 0.03 }), "same within ±3%");
        assert_eq!(
            en(Verdict::NoDifference { half_width: 0.082 }),
            "no difference detected (CI ±8.2%)"
        );
        assert_eq!(en(Verdict::Worse { ratio: 0.88 }), "12.0% worse");
        assert_eq!(en(Verdict::Worse { ratio: 0.1 }), "10.0× worse");
        assert_eq!(
            verdict_words(Verdict::Worse { ratio: 0.1 }, Better::Higher, Lang::Ko),
            "10.0배 느림"
        );
        assert_eq!(
            verdict_words(Verdict::Same { margin: 0.025 }, Better::Lower, Lang::Ko),
            "±2.5% 안에서 같음"
        );
    }

    #[test]
    fn ticks_drop_trailing_zeros() {
        assert_eq!(tick(1.0), "1");
        assert_eq!(tick(10000.0), "10000");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(0.1 + 0.2), "0.3");
        assert_eq!(tick(-0.0001), "0");
    }

    #[test]
    fn durations_keep_their_precision() {
        assert_eq!(seconds(0.1), "0.100 s");
        assert_eq!(seconds(300.0), "300 s");
        assert_eq!(seconds(2.5), "2.500 s");
        assert_eq!(seconds(1.0), "1 s");
    }
}
