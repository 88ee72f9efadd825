//! MySQL/MariaDB handshake parsing on arbitrary server bytes: packet header, HandshakeV10 and
//! ERR packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::mysql::wire;

fuzz_target!(|data: &[u8]| {
    if let Some(head) = data.get(..4).and_then(|h| <&[u8; 4]>::try_from(h).ok()) {
        let _ = wire::header(head);
    }
    let payload = data.get(4..).unwrap_or_default();
    if let Ok(g) = wire::greeting(payload) {
        let _ = g.version();
        let _ = g.product();
        let _ = g.capability_names();
        let _ = wire::charset_name(g.charset);
    }
    let _ = wire::err_packet(payload);
});
