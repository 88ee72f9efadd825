//! OPC UA TCP answers to a Hello on arbitrary bytes: the message header, Acknowledge (and the
//! check of its limits) and Error (with its StatusCode name).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::opcua::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = wire::header(data) {
        let _ = h.kind_str();
    }
    match wire::answer(data) {
        Ok(wire::Answer::Ack(l)) => {
            let _ = wire::ack_problems(&l);
            let _ = wire::ack_raises(&l);
        }
        Ok(wire::Answer::Err { status, .. }) => {
            let _ = wire::status_name(status);
            let _ = wire::status_hint(status);
        }
        Err(_) => {}
    }
    if let Ok(url) = std::str::from_utf8(data) {
        let _ = wire::hello(url);
    }
});
