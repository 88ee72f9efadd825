//! Oracle TNS parsing on arbitrary listener bytes: packet headers in both framings, ACCEPT,
//! REFUSE, REDIRECT and DATA bodies, redirect targets, NV strings and the listener's answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::oracle::wire;

fuzz_target!(|data: &[u8]| {
    if let Some(head) = data.get(..wire::HEADER_LEN).and_then(|h| <&[u8; 8]>::try_from(h).ok()) {
        let _ = wire::header(head, false);
        let _ = wire::header(head, true);
    }
    let body = data.get(wire::HEADER_LEN..).unwrap_or_default();
    if let Ok(a) = wire::accept(body) {
        let answer = wire::listener_answer(&a.data);
        if let Some(v) = answer.vsnnum {
            let _ = wire::vsnnum(v);
        }
    }
    if let Ok(r) = wire::refuse(body) {
        let answer = wire::listener_answer(&r.data);
        let _ = answer.err.map(wire::error_text);
    }
    if let Ok((_, here)) = wire::redirect(body) {
        let _ = wire::redirect_target(here);
    }
    if let Ok((_, payload)) = wire::data(body) {
        let _ = wire::redirect_target(payload);
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(nv) = wire::parse_nv(&text) {
        let _ = wire::nv_find(&nv, "VSNNUM");
    }
});
