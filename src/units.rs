//! How a number or a duration is written, the same in every report and in the run's own
//! messages (a trial that timed out says after how long).

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

/// A duration in seconds, as precise as it needs to be (`0.1 s`, `300 s`).
pub fn seconds(s: f64) -> String {
    if s >= 10.0 || s == s.trunc() {
        format!("{s:.0} s")
    } else {
        format!("{} s", num(s))
    }
}
