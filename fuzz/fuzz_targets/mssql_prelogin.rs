//! SQL Server's answers on arbitrary bytes: TDS packet header, the PRELOGIN option table and the
//! SQL Server Browser's SVR_RESP.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::mssql::wire;

fuzz_target!(|data: &[u8]| {
    if let Some(head) = data.get(..8).and_then(|h| <&[u8; 8]>::try_from(h).ok()) {
        if let Ok(h) = wire::header(head) {
            let _ = h.body_len();
        }
    }
    let body = data.get(8..).unwrap_or_default();
    if let Ok(p) = wire::prelogin(body) {
        let _ = p.version_string();
        if let Some(e) = p.encryption() {
            let _ = e.describe();
        }
        if let Some((major, minor, _, _)) = p.version {
            let _ = wire::release_name(major, minor);
        }
    }
    let _ = wire::browser_response(data);
});
