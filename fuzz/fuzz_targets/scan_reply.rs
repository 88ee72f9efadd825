//! The scanner's ServerHello / HelloRetryRequest / alert parser on arbitrary server bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = portproof_probes::tls::scan::parse_reply(data);
});
