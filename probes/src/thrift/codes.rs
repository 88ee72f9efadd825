//! The codes of the `thrift` probe.

crate::codes! {
    /// No stack drew an answer.
    NO_RESPONSE = failure "thrift.no_response" at Open {
        about: "the port accepted the connections but answered none of the three calls (binary unframed, binary framed, compact framed): it closed, reset or kept silent each time",
        hint: "not a Thrift port, a Thrift server over TLS (use expect: thrifts), or a stack the probe does not try (JSON protocol, HTTP transport, THeader)",
        spec: "Apache Thrift: thrift-binary-protocol.md, thrift-compact-protocol.md",
    }
    /// The answer has the wrong shape.
    MALFORMED = failure "thrift.malformed" at Open {
        about: "the port answered a call, but not with a Thrift message answering it (wrong header, sequence id or method name, or a broken struct)",
        hint: "the port speaks something other than Thrift: check the port number",
        spec: "Apache Thrift: thrift-binary-protocol.md, thrift-compact-protocol.md",
    }
    /// The server answered with another TApplicationException than UNKNOWN_METHOD.
    EXCEPTION = failure family "thrift.exception" at Speaks {
        about: "a Thrift server answered the call of a method that does not exist with a TApplicationException other than UNKNOWN_METHOD, named by its type (PROTOCOL_ERROR, INTERNAL_ERROR, ...)",
        hint: "the server speaks Thrift but could not dispatch the call: its logs say why (a multiplexed server wants a service name before the method, TMultiplexedProtocol)",
        spec: "Apache Thrift TApplicationException types",
    }
    /// The server claims a method that cannot exist.
    UNEXPECTED_REPLY = failure "thrift.unexpected_reply" at Speaks {
        about: "the server answered the call of a method no service has with something other than UNKNOWN_METHOD (a reply, or a call of its own): it speaks Thrift but does not dispatch as a Thrift server does",
        hint: "a proxy or a catch-all handler in front of the service; check what listens on the port",
        spec: "Apache Thrift: thrift-rpc.md",
    }
}
