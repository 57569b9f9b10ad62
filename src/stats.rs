//! Statistics over repetitions: pure functions over `&[f64]`.
//!
//! Medians rather than means (benchmark timings are skewed), percentile-bootstrap confidence
//! intervals for the median and for ratios of medians, and outliers flagged by the MAD-based
//! modified z-score — flagged and warned about, never dropped.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use vmbench_workload::Better;

/// Bootstrap resamples used for confidence intervals.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
/// Modified z-score above which a value is an outlier (Iglewicz and Hoaglin).
pub const OUTLIER_Z: f64 = 3.5;
/// Coefficient of variation above which a series is called noisy.
pub const NOISY_CV: f64 = 0.10;

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

impl Interval {
    /// Half the width relative to `centre`, as a fraction.
    pub fn relative_half_width(&self, centre: f64) -> f64 {
        if centre == 0.0 {
            return f64::INFINITY;
        }
        (self.hi - self.lo) / 2.0 / centre.abs()
    }
}

/// Summary of one series of measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub stddev: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 95% bootstrap confidence interval of the median (None below 2 values).
    pub median_ci: Option<Interval>,
    /// Indices of outliers by modified z-score.
    pub outliers: Vec<usize>,
    /// stddev / mean.
    pub cv: f64,
}

impl Summary {
    /// Summarises a non-empty series; `None` when it is empty or holds non-finite values.
    pub fn of(xs: &[f64]) -> Option<Summary> {
        if xs.is_empty() || xs.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let mean = mean(xs)?;
        let sd = stddev(xs).unwrap_or(0.0);
        Some(Summary {
            n: xs.len(),
            median: median(xs)?,
            mean,
            stddev: sd,
            min: xs.iter().copied().fold(f64::INFINITY, f64::min),
            max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            p95: percentile(xs, 95.0)?,
            p99: percentile(xs, 99.0)?,
            median_ci: bootstrap_median_ci(xs, 0.95, BOOTSTRAP_RESAMPLES, seed_of(xs)),
            outliers: outliers(xs),
            cv: if mean == 0.0 { 0.0 } else { sd / mean.abs() },
        })
    }

    /// Whether the series varies more than [`NOISY_CV`].
    pub fn is_noisy(&self) -> bool {
        self.cv > NOISY_CV
    }
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Median (mean of the two middle values for even counts).
pub fn median(xs: &[f64]) -> Option<f64> {
    percentile(xs, 50.0)
}

/// Arithmetic mean.
pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Sample standard deviation (n − 1); `None` below two values.
pub fn stddev(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs)?;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
    Some(var.sqrt())
}

/// Percentile `p` in 0..=100 by linear interpolation between closest ranks.
pub fn percentile(xs: &[f64], p: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let v = sorted(xs);
    let rank = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

/// Median absolute deviation.
pub fn mad(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    let dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

/// Indices whose modified z-score `0.6745 (x − median) / MAD` exceeds [`OUTLIER_Z`].
pub fn outliers(xs: &[f64]) -> Vec<usize> {
    let (Some(m), Some(d)) = (median(xs), mad(xs)) else {
        return Vec::new();
    };
    if d == 0.0 {
        // Over half the values are identical: with enough values, anything else stands out.
        if xs.len() < 4 {
            return Vec::new();
        }
        return (0..xs.len()).filter(|&i| xs[i] != m).collect();
    }
    (0..xs.len())
        .filter(|&i| (0.6745 * (xs[i] - m) / d).abs() > OUTLIER_Z)
        .collect()
}

/// A deterministic seed from the data, so reports are reproducible.
fn seed_of(xs: &[f64]) -> u64 {
    xs.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ x.to_bits()).wrapping_mul(0x0100_0000_01b3)
    })
}

fn resample_median(xs: &[f64], rng: &mut StdRng, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend((0..xs.len()).map(|_| xs[rng.gen_range(0..xs.len())]));
    buf.sort_by(f64::total_cmp);
    let n = buf.len();
    if n % 2 == 1 {
        buf[n / 2]
    } else {
        (buf[n / 2 - 1] + buf[n / 2]) / 2.0
    }
}

fn interval_of(mut stats: Vec<f64>, confidence: f64) -> Option<Interval> {
    stats.retain(|x| x.is_finite());
    let alpha = (1.0 - confidence) / 2.0 * 100.0;
    Some(Interval {
        lo: percentile(&stats, alpha)?,
        hi: percentile(&stats, 100.0 - alpha)?,
    })
}

/// Percentile-bootstrap confidence interval of the median.
pub fn bootstrap_median_ci(
    xs: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    if xs.len() < 2 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut buf = Vec::with_capacity(xs.len());
    let meds = (0..resamples)
        .map(|_| resample_median(xs, &mut rng, &mut buf))
        .collect();
    interval_of(meds, confidence)
}

/// A ratio of medians with its bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// median(numerator) / median(denominator).
    pub value: f64,
    /// 95% interval, resampling both series independently (None below 2 values each).
    pub ci: Option<Interval>,
}

/// The ratio of the medians of two independent series, with a percentile-bootstrap interval.
pub fn ratio_of_medians(num: &[f64], den: &[f64]) -> Option<Ratio> {
    let value = median(num)? / median(den)?;
    if !value.is_finite() {
        return None;
    }
    let ci = (num.len() >= 2 && den.len() >= 2).then(|| {
        let mut rng = StdRng::seed_from_u64(seed_of(num) ^ seed_of(den).rotate_left(17));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ratios = (0..BOOTSTRAP_RESAMPLES)
            .map(|_| {
                resample_median(num, &mut rng, &mut a) / resample_median(den, &mut rng, &mut b)
            })
            .collect();
        interval_of(ratios, 0.95)
    });
    Some(Ratio {
        value,
        ci: ci.flatten(),
    })
}

/// The ratio of two series measured in interleaved rounds, each value tagged with its round:
/// the median of the per-round ratios, so that drift a round shares (a busy neighbour, a
/// slower host for a while) cancels out, with a percentile-bootstrap interval over rounds.
/// With fewer than two rounds holding both, the ratio of the medians.
pub fn paired_ratio(num: &[(u32, f64)], den: &[(u32, f64)]) -> Option<Ratio> {
    let ratios = round_ratios(num, den);
    if ratios.len() < 2 {
        let values = |xs: &[(u32, f64)]| xs.iter().map(|(_, x)| *x).collect::<Vec<f64>>();
        return ratio_of_medians(&values(num), &values(den));
    }
    Some(Ratio {
        value: median(&ratios)?,
        ci: bootstrap_median_ci(&ratios, 0.95, BOOTSTRAP_RESAMPLES, seed_of(&ratios)),
    })
}

/// The ratio of each round that both series measured (a round is a repetition number).
pub fn round_ratios(num: &[(u32, f64)], den: &[(u32, f64)]) -> Vec<f64> {
    num.iter()
        .filter_map(|(round, x)| {
            let (_, y) = den.iter().find(|(r, _)| r == round)?;
            Some(x / y)
        })
        .filter(|r| r.is_finite())
        .collect()
}

/// The default equivalence margin: a ratio whose CI stays within ±3% of 1 is "the same".
pub const DEFAULT_MARGIN: f64 = 0.03;

/// What a ratio (environment / native, or now / baseline) says once its confidence interval
/// and an equivalence margin are taken into account: the one rule every output follows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Verdict {
    /// The whole 95% CI lies within [1 − margin, 1 + margin].
    Same {
        /// The margin, as a fraction.
        margin: f64,
    },
    /// The CI includes 1 but reaches past the margin: the run cannot tell.
    NoDifference {
        /// Half the CI's width relative to the ratio, as a fraction.
        half_width: f64,
    },
    /// The whole CI lies on the worse side of 1.
    Worse {
        /// The ratio.
        ratio: f64,
    },
    /// The whole CI lies on the better side of 1.
    Better {
        /// The ratio.
        ratio: f64,
    },
    /// Too few repetitions for an interval.
    Undetermined,
}

impl Verdict {
    /// Whether the verdict states a difference (worse or better).
    pub fn is_difference(self) -> bool {
        matches!(self, Verdict::Worse { .. } | Verdict::Better { .. })
    }
}

/// The verdict on a ratio for a metric where `better` says which way is good.
pub fn verdict(ratio: &Ratio, better: Better, margin: f64) -> Verdict {
    let Some(ci) = ratio.ci else {
        return Verdict::Undetermined;
    };
    if ci.lo >= 1.0 - margin && ci.hi <= 1.0 + margin {
        return Verdict::Same { margin };
    }
    if ci.lo <= 1.0 && 1.0 <= ci.hi {
        return Verdict::NoDifference {
            half_width: ci.relative_half_width(ratio.value),
        };
    }
    let above = ci.lo > 1.0;
    let worse = match better {
        Better::Higher => !above,
        Better::Lower => above,
    };
    if worse {
        Verdict::Worse { ratio: ratio.value }
    } else {
        Verdict::Better { ratio: ratio.value }
    }
}

/// Whether a ratio's verdict can still change kind with more repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// The whole CI lies within the margin: the same, and more repetitions only confirm it.
    Same,
    /// The whole CI lies beyond the margin on one side: a difference however wide the CI
    /// ("5.5× worse [5.2, 5.9]" needs no more repetitions).
    Different,
    /// The CI reaches into the margin, or past it on both sides: more repetitions could
    /// still make it a difference or the same.
    Undecided,
}

/// The decision on a ratio with margin `margin`: the same rule as [`verdict`], asked whether
/// its kind is settled.
pub fn decision(ratio: &Ratio, margin: f64) -> Decision {
    let Some(ci) = ratio.ci else {
        return Decision::Undecided;
    };
    if ci.lo >= 1.0 - margin && ci.hi <= 1.0 + margin {
        Decision::Same
    } else if ci.lo > 1.0 + margin || ci.hi < 1.0 - margin {
        Decision::Different
    } else {
        Decision::Undecided
    }
}

/// About how many rounds in all a paired ratio needs before its decision is settled, from
/// its per-round ratios: their robust spread (1.4826 × MAD, which one wild round barely
/// moves, where the percentile interval of a few rounds is their whole range), as the
/// half-width of a median's 95% interval at n rounds (1.96 × 1.2533 × σ / √n), against the
/// distance from the ratio to the margin's nearer edge. `None` when no number of rounds
/// would settle it (the ratio sits on the edge); at least one more round while it is not.
pub fn rounds_to_decide(ratio: &Ratio, per_round: &[f64], margin: f64) -> Option<u32> {
    let rounds = per_round.len() as u32;
    if decision(ratio, margin) != Decision::Undecided {
        return Some(rounds);
    }
    let sigma = 1.4826 * mad(per_round)?;
    let room = ((ratio.value - 1.0).abs() - margin).abs();
    if room <= 1e-9 {
        return None;
    }
    let needed = (1.96 * 1.2533 * sigma / room).powi(2);
    let needed = needed.ceil().min(f64::from(u32::MAX)) as u32;
    Some(needed.max(rounds + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    fn ratio(value: f64, lo: f64, hi: f64) -> Ratio {
        Ratio {
            value,
            ci: Some(Interval { lo, hi }),
        }
    }

    #[test]
    fn a_decision_is_settled_only_when_no_more_rounds_could_change_its_kind() {
        let m = 0.03;
        assert_eq!(decision(&ratio(1.0, 0.98, 1.02), m), Decision::Same);
        assert_eq!(decision(&ratio(5.5, 5.2, 5.9), m), Decision::Different);
        assert_eq!(decision(&ratio(0.5, 0.4, 0.6), m), Decision::Different);
        // A worse verdict whose CI still reaches into the margin could become "the same".
        assert_eq!(decision(&ratio(1.03, 1.01, 1.05), m), Decision::Undecided);
        assert_eq!(decision(&ratio(1.0, 0.9, 1.1), m), Decision::Undecided);
        assert_eq!(
            decision(
                &Ratio {
                    value: 1.0,
                    ci: None
                },
                m
            ),
            Decision::Undecided
        );
        // Rounds to decide, from the rounds' robust spread: σ = 1.4826 × MAD.
        let spread = [0.96, 0.98, 1.0, 1.02, 1.04, 1.3];
        let sigma = 1.4826 * mad(&spread).unwrap();
        let expected = (1.96 * 1.2533 * sigma / 0.03).powi(2).ceil() as u32;
        assert_eq!(
            rounds_to_decide(&ratio(1.0, 0.96, 1.3), &spread, m),
            Some(expected),
            "a wild round barely moves it"
        );
        assert!((10..30).contains(&expected), "{expected}");
        assert_eq!(
            rounds_to_decide(&ratio(1.03, 1.0, 1.06), &spread, m),
            None,
            "on the edge"
        );
        assert_eq!(
            rounds_to_decide(&ratio(5.5, 5.2, 5.9), &[5.5; 3], m),
            Some(3),
            "decided"
        );
        // Still undecided with a spread already small enough: one more round.
        let tight = [1.0, 1.001, 0.999, 1.0];
        assert_eq!(
            rounds_to_decide(&ratio(1.0, 0.96, 1.04), &tight, m),
            Some(5)
        );
    }

    #[test]
    fn order_statistics() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.0), Some(1.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 100.0), Some(5.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 25.0), Some(2.0));
        assert!((stddev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap() - 2.138).abs() < 1e-3);
        assert_eq!(stddev(&[1.0]), None);
        assert_eq!(mad(&[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0]), Some(1.0));
    }

    #[test]
    fn normal_samples_recover_their_parameters() {
        let mut rng = StdRng::seed_from_u64(1);
        let normal = Normal::new(100.0, 5.0).unwrap();
        let xs: Vec<f64> = (0..2000).map(|_| normal.sample(&mut rng)).collect();
        let s = Summary::of(&xs).unwrap();
        assert!((s.mean - 100.0).abs() < 0.4, "{}", s.mean);
        assert!((s.median - 100.0).abs() < 0.5, "{}", s.median);
        assert!((s.stddev - 5.0).abs() < 0.3, "{}", s.stddev);
        // p95 of N(100, 5) is 108.22.
        assert!((s.p95 - 108.22).abs() < 0.8, "{}", s.p95);
        assert!(!s.is_noisy());
        let ci = s.median_ci.unwrap();
        assert!(ci.lo < 100.0 && 100.0 < ci.hi, "{ci:?}");
        // Few outliers beyond |z| > 3.5 in a normal sample (expected ~0.05%).
        assert!(s.outliers.len() < 10, "{}", s.outliers.len());
    }

    #[test]
    fn bootstrap_interval_covers_the_true_median_at_about_95_percent() {
        let normal = Normal::new(50.0, 5.0).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let trials = 200;
        let mut covered = 0;
        for t in 0..trials {
            let xs: Vec<f64> = (0..30).map(|_| normal.sample(&mut rng)).collect();
            let ci = bootstrap_median_ci(&xs, 0.95, 500, t).unwrap();
            assert!(ci.lo <= ci.hi);
            if ci.lo <= 50.0 && 50.0 <= ci.hi {
                covered += 1;
            }
        }
        let rate = covered as f64 / trials as f64;
        assert!((0.88..=0.995).contains(&rate), "coverage {rate}");
    }

    #[test]
    fn ratio_interval_contains_the_true_ratio_and_narrows_with_data() {
        let mut rng = StdRng::seed_from_u64(3);
        let a = Normal::new(110.0, 2.0).unwrap();
        let b = Normal::new(100.0, 2.0).unwrap();
        let small: (Vec<f64>, Vec<f64>) = (
            (0..5).map(|_| a.sample(&mut rng)).collect(),
            (0..5).map(|_| b.sample(&mut rng)).collect(),
        );
        let large: (Vec<f64>, Vec<f64>) = (
            (0..200).map(|_| a.sample(&mut rng)).collect(),
            (0..200).map(|_| b.sample(&mut rng)).collect(),
        );
        let rs = ratio_of_medians(&small.0, &small.1).unwrap();
        let rl = ratio_of_medians(&large.0, &large.1).unwrap();
        let (cs, cl) = (rs.ci.unwrap(), rl.ci.unwrap());
        assert!(cl.lo < 1.1 && 1.1 < cl.hi, "{cl:?}");
        assert!(cl.hi - cl.lo < cs.hi - cs.lo);
        assert!(ratio_of_medians(&[1.0], &[0.0]).is_none());
        assert!(ratio_of_medians(&[2.0], &[1.0]).unwrap().ci.is_none());
    }

    #[test]
    fn pairing_by_round_cancels_shared_drift() {
        // Both environments slow down together from round to round; the second is 2% slower.
        let drift = [1.0, 0.8, 1.1, 0.85, 1.05, 0.9, 1.0, 0.82, 1.08, 0.95];
        let den: Vec<(u32, f64)> = drift
            .iter()
            .enumerate()
            .map(|(i, d)| (i as u32, 100.0 * d))
            .collect();
        let num: Vec<(u32, f64)> = drift
            .iter()
            .enumerate()
            .map(|(i, d)| (i as u32, 98.0 * d))
            .collect();
        let paired = paired_ratio(&num, &den).unwrap();
        assert!((paired.value - 0.98).abs() < 1e-9);
        let ci = paired.ci.unwrap();
        assert!(ci.hi - ci.lo < 1e-9, "{ci:?}");
        let unpaired = ratio_of_medians(
            &num.iter().map(|x| x.1).collect::<Vec<_>>(),
            &den.iter().map(|x| x.1).collect::<Vec<_>>(),
        )
        .unwrap();
        let u = unpaired.ci.unwrap();
        assert!(
            u.hi - u.lo > 0.1,
            "unpaired, the drift widens the interval: {u:?}"
        );
        // Without common rounds: the ratio of medians.
        let alone = paired_ratio(&[(7, 2.0), (8, 2.0)], &[(1, 1.0)]).unwrap();
        assert_eq!(alone.value, 2.0);
    }

    #[test]
    fn verdicts_follow_the_interval_not_the_point_estimate() {
        let r = |value: f64, lo: f64, hi: f64| Ratio {
            value,
            ci: Some(Interval { lo, hi }),
        };
        let m = DEFAULT_MARGIN;
        // The issue's own examples: each interval includes 1, so the run could not tell.
        for (v, lo, hi) in [(0.902, 0.879, 1.046), (1.215, 0.781, 1.279)] {
            assert!(
                matches!(
                    verdict(&r(v, lo, hi), Better::Higher, m),
                    Verdict::NoDifference { .. }
                ),
                "{v} [{lo}, {hi}]"
            );
        }
        assert_eq!(
            verdict(&r(0.999, 0.983, 1.019), Better::Higher, m),
            Verdict::Same { margin: m }
        );
        assert_eq!(
            verdict(&r(1.01, 1.005, 1.02), Better::Lower, m),
            Verdict::Same { margin: m },
            "inside the margin even though the CI excludes 1"
        );
        assert_eq!(
            verdict(&r(0.9, 0.88, 0.92), Better::Higher, m),
            Verdict::Worse { ratio: 0.9 }
        );
        assert_eq!(
            verdict(&r(0.9, 0.88, 0.92), Better::Lower, m),
            Verdict::Better { ratio: 0.9 }
        );
        assert_eq!(
            verdict(&r(1500.0, 1400.0, 1600.0), Better::Lower, m),
            Verdict::Worse { ratio: 1500.0 }
        );
        let Verdict::NoDifference { half_width } = verdict(&r(1.0, 0.9, 1.1), Better::Lower, m)
        else {
            panic!("no difference")
        };
        assert!((half_width - 0.1).abs() < 1e-9);
        let no_ci = Ratio {
            value: 2.0,
            ci: None,
        };
        assert_eq!(verdict(&no_ci, Better::Lower, m), Verdict::Undetermined);
    }

    #[test]
    fn outliers_are_flagged_not_dropped() {
        let xs = [10.0, 10.2, 9.9, 10.1, 10.0, 25.0, 9.8];
        assert_eq!(outliers(&xs), vec![5]);
        let s = Summary::of(&xs).unwrap();
        assert_eq!(s.n, 7);
        assert_eq!(s.max, 25.0);
        assert!(s.is_noisy());
        assert_eq!(outliers(&[5.0, 5.0, 5.0, 5.0, 9.0]), vec![4]);
        assert!(Summary::of(&[f64::NAN]).is_none());
    }
}
