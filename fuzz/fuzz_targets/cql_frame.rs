//! CQL native-protocol response frames (header, SUPPORTED multimap, ERROR, AUTHENTICATE) and the version texts of a refusal, on arbitrary server bytes: every parser of `portproof_probes::cql::wire`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portproof_probes::cql::wire::fuzz(data);
});
