//! An instance's output is untrusted: any bytes must give a bounded record and never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let seen = vmbench::env::watch::observe_bytes(data);
    assert!(seen.errors.len() <= 20);
    assert!(seen.noise.len() <= 30);
    assert!(seen.results.len() <= vmbench::env::watch::MAX_EVENTS);
});
