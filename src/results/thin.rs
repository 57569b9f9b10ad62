//! Thinning samples while they are read, for reports of large files.
use super::Sample;
use serde::de::{Deserializer, SeqAccess, Visitor};
use std::cell::Cell;

/// Samples a report keeps per trial (up to twice as many).
pub const KEPT: usize = 256;

thread_local! {
    static LIMIT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `f` with samples thinned to about `limit` per trial on this thread.
pub fn with_limit<T>(limit: usize, f: impl FnOnce() -> T) -> T {
    LIMIT.with(|l| l.set(Some(limit.max(1))));
    let out = f();
    LIMIT.with(|l| l.set(None));
    out
}

/// Deserializes a sample list, keeping every sample, or under [`with_limit`] between the
/// limit and twice it, evenly spaced: whenever twice the limit is kept, every other one
/// goes and the stride doubles.
pub fn samples<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Sample>, D::Error> {
    struct Thin(Option<usize>);
    impl<'de> Visitor<'de> for Thin {
        type Value = Vec<Sample>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of samples")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Sample>, A::Error> {
            let mut kept = Vec::new();
            let (mut stride, mut index) = (1usize, 0usize);
            loop {
                if index % stride != 0 {
                    if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                        break;
                    }
                } else {
                    let Some(s) = seq.next_element::<Sample>()? else {
                        break;
                    };
                    kept.push(s);
                    if self.0.is_some_and(|limit| kept.len() >= 2 * limit) {
                        let mut i = 0;
                        kept.retain(|_| {
                            i += 1;
                            i % 2 == 1
                        });
                        stride *= 2;
                    }
                }
                index += 1;
            }
            Ok(kept)
        }
    }
    d.deserialize_seq(Thin(LIMIT.with(Cell::get)))
}
