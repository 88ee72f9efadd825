//! The codes of the `cql` probe. A server that wants a login answers STARTUP with
//! AUTHENTICATE: that is the core `auth.no_credentials`, not a code of this table.

crate::codes! {
    /// The answer is not a CQL frame.
    MALFORMED = failure "cql.malformed" at Open {
        about: "the answer does not have the shape of a CQL native-protocol response frame (a 9-byte header with the response bit, a known opcode and a bounded length)",
        hint: "the port speaks something other than the CQL native protocol: check the port (Cassandra's is 9042)",
        spec: "CQL native protocol v4 §2 (frame header), §4.2 (responses)",
    }
    /// Nothing came back to OPTIONS.
    NO_RESPONSE = failure "cql.no_response" at Open {
        about: "the port accepted the connection but closed it without answering OPTIONS",
        hint: "not a CQL port, or one that only speaks TLS (client_encryption_options): try over: tls",
        spec: "CQL native protocol v4 §4.1.3",
    }
    /// No protocol version both sides speak.
    NO_COMMON_VERSION = failure "cql.no_common_version" at Speaks {
        about: "the server refused every protocol version the probe offers (v5, v4 and v3), naming the versions it accepts",
        hint: "the server speaks only protocol versions older than v3 (Cassandra 2.0 or older): upgrade it, or check it with a driver of its age",
        spec: "CQL native protocol v4 §2.1, §9 (protocol error 0x000A); v5 §2.3",
    }
    /// The server answered with an ERROR frame.
    ERROR = failure family "cql.error" at Speaks {
        about: "the server answered the handshake with an ERROR frame; the suffix is its error code in hex (0x000a protocol error, 0x1001 overloaded, 0x1002 bootstrapping, 0x0100 bad credentials)",
        hint: "the server refused the handshake: the message says why (a node still bootstrapping, an overloaded node, a protocol error)",
        spec: "CQL native protocol v4 §4.2.1, §9",
    }
}
