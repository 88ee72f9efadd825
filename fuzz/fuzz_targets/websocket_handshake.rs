//! WebSocket parsing on arbitrary server bytes: the upgrade answer's head (httparse, bounded),
//! frame headers and a Close payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::websocket::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((head, n))) = wire::parse_head(data) {
        assert!(n <= data.len());
        let _ = head.has_token("connection", "upgrade");
        let _ = head.get("sec-websocket-accept");
    }
    if let Ok(Some(h)) = wire::frame_header(data) {
        assert!(h.header_len <= data.len());
    }
    let _ = wire::close_payload(data);
});
