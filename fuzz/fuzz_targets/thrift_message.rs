//! Thrift parsing on arbitrary server bytes: a frame length, and a message of either protocol
//! (header, TApplicationException fields, the skipping of every other type).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::thrift::wire::{self, Protocol};

fuzz_target!(|data: &[u8]| {
    if let Some(head) = data.get(..4) {
        let _ = wire::frame_len(head.try_into().expect("4 bytes"));
    }
    for p in [Protocol::Binary, Protocol::Compact] {
        if let Ok((m, used)) = wire::parse(p, data) {
            assert!(used <= data.len());
            if let Some(text) = m.exception.and_then(|x| x.message) {
                let _ = wire::language_hint(&text);
            }
        }
    }
});
