//! The `modbus` probe's failure and warning codes: the one place they are named, so that
//! results, `portproof codes` and `portproof explain` say the same thing.

crate::codes! {
    /// The device answered a read with an exception response.
    EXCEPTION = failure family "modbus.exception" at Speaks {
        about: "the device answered with a Modbus exception response (function code | 0x80); the name says which: illegal_function, illegal_data_address, illegal_data_value, server_device_failure, acknowledge, server_device_busy, memory_parity_error, gateway_path_unavailable, gateway_target_failed, or code_<n> for one the specification does not define. It proves Modbus, but the read asked for was not served",
        hint: "see the device's documentation for this exception code",
        spec: "MODBUS Application Protocol Specification V1.1b3 §7",
    }
    /// The answer is not a well-formed Modbus TCP frame.
    MALFORMED = failure "modbus.malformed" at Open {
        about: "the peer answered, but not with a well-formed Modbus TCP answer to the request: a wrong MBAP protocol or transaction id, a length beyond the largest PDU, a frame cut short, an undefined exception code (0), or a PDU that does not answer the function asked",
        hint: "the peer does not answer as a Modbus TCP server: check the port, and whether a gateway or proxy sits in between",
        spec: "MODBUS Messaging on TCP/IP Implementation Guide V1.0b §3.1.3",
    }
    /// The device closed the connection without answering.
    NO_RESPONSE = failure "modbus.no_response" at Open {
        about: "the peer closed (or reset) the connection without answering a request",
        hint: "the port accepts connections but closed this one without an answer: the device may allow only a few clients at once, accept only listed client addresses, or not speak Modbus TCP",
        spec: "",
    }
    /// The answer names another unit than the one asked.
    UNIT_MISMATCH = failure "modbus.unit_mismatch" at Speaks {
        about: "the answer's MBAP unit id is not the unit asked for: a failure when modbus.unit is stated (only an answer naming that unit proves it is there), otherwise a warning",
        hint: "a gateway may route this unit id elsewhere: check its routing table and modbus.unit",
        spec: "MODBUS Messaging on TCP/IP Implementation Guide V1.0b §3.1.3",
    }
    /// Read Device Identification got no answer in its slice of the deadline.
    IDENTIFICATION_UNANSWERED = warning "modbus.identification_unanswered" at Open {
        about: "the device ignored Read Device Identification (0x2B / MEI 0x0E) instead of refusing it with illegal_function, so a register was read instead",
        hint: "nothing to fix for the check; a device that implements the function, or refuses it with an exception, answers faster",
        spec: "MODBUS Application Protocol Specification V1.1b3 §6.21",
    }
    /// The identification cannot prove the stated unit.
    IDENTITY_ANY_UNIT = warning "modbus.identity_any_unit" at Speaks {
        about: "the device identification came back for the stated unit, but gateways and servers answer it with their own identity for any unit id, and the register read that would prove the unit failed",
        hint: "check modbus.unit, and that the register read (modbus.register, modbus.kind) names a register that unit has",
        spec: "MODBUS Application Protocol Specification V1.1b3 §6.21",
    }
}
