//! Hazelcast client-protocol frames, the authentication response or error message they carry, and the REST health body, on arbitrary server bytes: every parser of `portproof_probes::hazelcast::wire`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portproof_probes::hazelcast::wire::fuzz(data);
});
