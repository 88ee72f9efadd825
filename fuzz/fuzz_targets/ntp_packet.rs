//! NTP parsing on arbitrary server bytes: the 48-byte header and what the probe derives from it
//! (kiss code, reference id), the mode-6 control response and its variable list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::ntp::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = wire::parse(data) {
        let _ = wire::kiss_code(p.refid);
        let _ = wire::refid_text(p.stratum, p.refid);
        let _ = wire::diff(p.transmit, p.receive);
        let _ = wire::short_secs(p.root_delay);
    }
    if let Ok(c) = wire::parse_control(data) {
        assert!(wire::parse_vars(&c.data).len() <= wire::MAX_VARS);
    }
    assert!(wire::parse_vars(data).len() <= wire::MAX_VARS);
});
