//! MQTT 3.1.1 and 5.0 wire parsing on arbitrary broker bytes: the fixed header, then the body
//! it delimits as CONNACK, SUBACK and PUBLISH in both versions (with 5.0 property lists).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::MqttVersion;
use portproof_probes::mqtt::wire;

fn connack(body: &[u8]) {
    if let Ok(c) = wire::connack(body) {
        let _ = c.name();
        let _ = c.accepted();
        let _ = c.is_auth_refusal();
        let _ = c.is_version_refusal();
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(h)) = wire::fixed_header(data) {
        let rest = &data[h.len..];
        if let Some(body) = usize::try_from(h.remaining).ok().and_then(|n| rest.get(..n)) {
            connack(body);
            for v in [MqttVersion::V311, MqttVersion::V5] {
                let _ = wire::suback(v, body);
                let _ = wire::publish_in(v, h.flags, body);
            }
        }
    }
    connack(data);
});
