//! Modbus TCP parsing on arbitrary server bytes: the MBAP header and its checks, then the PDU
//! it delimits as the answer to each kind of request the probe sends (registers, bits, Read
//! Device Identification with its object list, exceptions), and the object list on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portproof_probes::modbus::wire::{self, DeviceIdCode, MBAP_LEN, Mbap, Request};

const REQUESTS: [Request; 5] = [
    Request::ReadDeviceId { code: DeviceIdCode::Basic, first: 0 },
    Request::ReadHoldingRegister { address: 0 },
    Request::ReadInputRegister { address: 0 },
    Request::ReadCoil { address: 0 },
    Request::ReadDiscreteInput { address: 0 },
];

fuzz_target!(|data: &[u8]| {
    if let Some(head) = data.get(..MBAP_LEN) {
        let h = Mbap::parse(head.try_into().expect("7 bytes"));
        // Check against the transaction id the frame claims, so the length check is reached.
        if let Ok(n) = h.check(h.transaction)
            && let Some(pdu) = data[MBAP_LEN..].get(..n)
        {
            for r in &REQUESTS {
                if let Ok(wire::Answer::Data(wire::Data::DeviceId(d))) = wire::answer(r, pdu) {
                    for (id, _) in &d.objects {
                        let _ = d.text(*id);
                        let _ = wire::object_name(*id);
                    }
                }
            }
        }
    }
    for r in &REQUESTS {
        let _ = wire::answer(r, data);
    }
    let _ = wire::device_id(data);
    if let Some(&c) = data.first() {
        let _ = wire::exception_name(c);
    }
});
