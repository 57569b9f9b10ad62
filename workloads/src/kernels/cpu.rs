//! CPU-bound work: integer (sieve + hashing) and floating point (matrix multiply).

use super::{headline, secondary, Params, XorShift};
use crate::catalogue::Workload;
use crate::protocol::{Better, Metric};
use std::hint::black_box;
use std::time::Instant;

/// Counts primes below `limit` with a byte sieve; returns (primes, inner-loop operations).
fn sieve(limit: usize) -> (u64, u64) {
    let mut composite = vec![false; limit + 1];
    let mut ops = 0u64;
    let mut i = 2;
    while i * i <= limit {
        if !composite[i] {
            let mut j = i * i;
            while j <= limit {
                composite[j] = true;
                j += i;
                ops += 1;
            }
        }
        i += 1;
    }
    let primes = composite[2..].iter().filter(|c| !**c).count() as u64;
    (primes, ops + limit as u64)
}

/// Sieve rounds then hash rounds; the metric counts sieve marks, scanned numbers and hash rounds.
pub(super) fn integer(p: &Params) -> Vec<Metric> {
    let start = Instant::now();
    let mut ops = 0u64;
    let mut primes = 0u64;
    for _ in 0..p.sieve_rounds {
        let (count, sieve_ops) = sieve(black_box(p.sieve_limit as usize));
        primes = count;
        ops += sieve_ops;
    }
    let mut rng = XorShift::new(0x9e37_79b9_7f4a_7c15);
    let mut acc = 0u64;
    for _ in 0..p.hash_rounds {
        acc = acc.rotate_left(5) ^ rng.next_u64();
    }
    black_box(acc);
    ops += p.hash_rounds;
    let secs = start.elapsed().as_secs_f64();
    vec![
        headline(Workload::CpuInt, ops as f64 / secs / 1e6),
        secondary("primes_found", primes as f64, "primes", Better::Higher),
    ]
}

/// Multiplies two n×n matrices `rounds` times (i-k-j order, cache friendly).
pub(super) fn float(p: &Params) -> Vec<Metric> {
    let n = p.matrix_n as usize;
    let a: Vec<f64> = (0..n * n).map(|i| (i % 7) as f64 * 0.5).collect();
    let b: Vec<f64> = (0..n * n).map(|i| (i % 5) as f64 * 0.25).collect();
    let mut c = vec![0.0f64; n * n];
    let start = Instant::now();
    for _ in 0..p.matrix_rounds {
        c.iter_mut().for_each(|x| *x = 0.0);
        for i in 0..n {
            for k in 0..n {
                let aik = a[i * n + k];
                let row = &b[k * n..(k + 1) * n];
                let out = &mut c[i * n..(i + 1) * n];
                for (o, bkj) in out.iter_mut().zip(row) {
                    *o += aik * bkj;
                }
            }
        }
        black_box(&c);
    }
    let secs = start.elapsed().as_secs_f64();
    let flops = 2.0 * (n as f64).powi(3) * p.matrix_rounds as f64;
    vec![headline(Workload::CpuFloat, flops / secs / 1e9)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sieve_counts_primes() {
        assert_eq!(sieve(10).0, 4);
        assert_eq!(sieve(100).0, 25);
        assert_eq!(sieve(1_000_000).0, 78_498);
    }
}
