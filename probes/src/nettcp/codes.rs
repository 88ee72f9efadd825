//! The codes of the `nettcp` probe.

crate::codes! {
    /// The server answered the preamble with a Fault record.
    FAULT = failure family "nettcp.fault" at Speaks {
        about: "the server speaks .NET Message Framing but answered the preamble with a Fault record, named by the fault URI's last segment (EndpointNotFound, ContentTypeInvalid, UnsupportedVersion, UnsupportedMode, ServiceActivationFailed, ...)",
        hint: "a WCF net.tcp listener that refused this preamble: the fault names why (the hint of each well-known fault says what to check)",
        spec: "[MC-NMF] §2.2.3.8 (Fault Record), §3.1.5.2",
    }
    /// The server ended the session straight after acknowledging.
    ENDED = failure "nettcp.ended" at Speaks {
        about: "the server acknowledged the preamble and then sent an End record at once: it takes no session",
        hint: "the WCF service accepted the framing but closes every session: check the service's state and its throttling limits",
        spec: "[MC-NMF] §2.2.3.7 (End Record), §2.2.3.10",
    }
    /// Nothing came back to the preamble.
    NO_RESPONSE = failure "nettcp.no_response" at Open {
        about: "the port accepted the connection but closed it without answering the .NET Message Framing preamble",
        hint: "not a net.tcp port, or a listener that wants TLS or Windows negotiation first: check the port and the service's binding",
        spec: "[MC-NMF] §2.2.6 (Preamble Message), §3.1.5.2",
    }
    /// The answer has the wrong shape.
    MALFORMED = failure "nettcp.malformed" at Open {
        about: "the answer to the preamble is neither a PreambleAck nor a well-formed Fault record",
        hint: "the port speaks something other than .NET Message Framing: check the port number",
        spec: "[MC-NMF] §2.2.2, §2.2.3",
    }
}
