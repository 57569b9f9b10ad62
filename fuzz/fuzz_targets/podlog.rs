//! A pod's log is untrusted (any program in the pod writes to it): any text must give its
//! results block or an error, never a panic, and a decoded block must load or be refused.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let log = String::from_utf8_lossy(data);
    if let Ok(block) = vmbench::fleet::transport::decode(&log) {
        let _ = vmbench::fleet::check_node_name(&block.node);
        let _ = vmbench::results::Results::from_bytes(Path::new("pod"), &block.json);
    }
});
