//! Apache Ignite's thin-client handshake answers and the communication port's NodeIdMessage, on arbitrary server bytes: every parser of `portproof_probes::ignite::wire`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portproof_probes::ignite::wire::fuzz(data);
});
