//! The sniffer's protocol signatures (TLS records and alerts, MySQL greetings, AMQP headers,
//! ...) on arbitrary first bytes of a peer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = portproof_probes::sniff::identify(data);
    let _ = portproof_probes::sniff::describe(data);
});
