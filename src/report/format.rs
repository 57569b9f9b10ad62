//! How figures are written in every output: numbers with sensible precision, sizes, ratios
//! with their intervals, durations.

use vmbench_workload::Better;

/// A number with sensible precision for tables.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
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

/// A duration in seconds, as precise as it needs to be (`0.1 s`, `300 s`).
pub fn seconds(s: f64) -> String {
    if s >= 10.0 || s == s.trunc() {
        format!("{s:.0} s")
    } else {
        format!("{} s", num(s))
    }
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
        return format!("{factor:.1}x {word}");
    }
    format!("{:.1}% {word}", change.abs())
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
        assert_eq!(ratio_words(1936.0, Better::Lower), "1936.0x worse");
        assert_eq!(ratio_words(0.161, Better::Higher), "6.2x worse");
    }

    #[test]
    fn durations_keep_their_precision() {
        assert_eq!(seconds(0.1), "0.100 s");
        assert_eq!(seconds(300.0), "300 s");
        assert_eq!(seconds(2.5), "2.500 s");
        assert_eq!(seconds(1.0), "1 s");
    }
}
