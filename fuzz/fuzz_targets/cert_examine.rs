//! Certificate analysis on arbitrary DER, alone and as a two-certificate chain, and the
//! distinguished-name decoder used for a server's acceptable CA names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::tls::cert;

fuzz_target!(|data: &[u8]| {
    let _ = cert::analyze(data);
    let (a, b) = data.split_at(data.len() / 2);
    let r = cert::examine(&[a, b], "gw.example", cert::EXPIRY_WARNING_DAYS);
    let _ = r.untrusted(None);
    let _ = cert::name_to_string(data);
});
