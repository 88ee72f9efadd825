//! LDAP parsing on arbitrary server bytes: the framing (`frame`, the outer length and its
//! bound) and `parse` (the nesting check, then lber, then the operations the probe reads).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::ldap::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = wire::frame(data) {
        assert!(n <= wire::MAX_MESSAGE);
        if let Some(m) = data.get(..n) {
            let _ = wire::parse(m);
        }
    }
    let _ = wire::parse(data);
});
