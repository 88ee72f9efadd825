//! PostgreSQL start-up parsing on arbitrary server bytes: message headers, Authentication
//! requests, ErrorResponse fields and ParameterStatus.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::postgres::wire;

fuzz_target!(|data: &[u8]| {
    if let Some(head) = data.get(..5).and_then(|h| <&[u8; 5]>::try_from(h).ok()) {
        let _ = wire::header(head);
    }
    let body = data.get(5..).unwrap_or_default();
    if let Ok(a) = wire::auth(body) {
        let _ = a.method();
    }
    let _ = wire::fields(body);
    let _ = wire::parameter(body);
});
