//! AMQP 0-9-1 wire parsing on arbitrary server bytes: the 8-byte opening (protocol header
//! reply or frame header), frame headers, and method payloads (`Connection.Start` with its
//! nested field tables, `Connection.Close`), both as the whole input and after a 7-byte header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::amqp::wire;

fn method(payload: &[u8]) {
    if let Ok(wire::Method::Start(s)) = wire::method(payload) {
        let _ = s.capabilities();
        let _ = s.property("product");
        let _ = s.closes_on_auth_failure();
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(first) = data.first_chunk::<8>() {
        if let Some(wire::Opening::Header(h)) = wire::opening(first) {
            let _ = h.describe();
            let _ = h.identified();
        }
    }
    let _ = wire::frame_header(data);
    method(data);
    if let Some(payload) = data.get(wire::FRAME_HEADER_LEN..) {
        method(payload);
    }
});
