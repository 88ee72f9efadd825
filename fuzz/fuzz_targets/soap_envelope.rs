//! WS-Discovery's SOAP-over-UDP parsing on arbitrary datagrams: the envelope, its addressing
//! headers and a ProbeMatches, within the parser's bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::ws_discovery::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = wire::parse(data) {
        assert!(m.matches.len() <= wire::MAX_MATCHES);
        for x in &m.matches {
            assert!(x.address.len() <= wire::MAX_TEXT);
        }
    }
});
