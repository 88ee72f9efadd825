//! The codes of the `ignite` probe. A thin-client port that wants a login refuses the
//! handshake as unauthenticated: that is the core `auth.no_credentials`.

crate::codes! {
    /// The answer is not Ignite's.
    MALFORMED = failure "ignite.malformed" at Open {
        about: "the answer is not Apache Ignite's: not a thin-client handshake answer, nor the node id a communication port sends first",
        hint: "the port speaks something other than Ignite: check the port (thin clients 10800, discovery 47500, communication 47100) and ignite.port_kind",
        spec: "Apache Ignite binary client protocol, Connection Handshake; TcpCommunicationSpi (NodeIdMessage)",
    }
    /// The port closed without an Ignite answer.
    NO_RESPONSE = failure "ignite.no_response" at Open {
        about: "the port closed the connection without a thin-client handshake answer and did not behave as a discovery port either",
        hint: "not an Ignite port, or one over TLS (sslContextFactory): try over: tls, or name the port's kind with ignite.port_kind",
        spec: "Apache Ignite binary client protocol, Connection Handshake; TcpDiscoverySpi",
    }
    /// The thin-client handshake was refused.
    REFUSED = failure "ignite.refused" at Speaks {
        about: "the thin-client port refused the handshake, with its own protocol version and message",
        hint: "the server refused the protocol version or this client (the message says which): thin clients may be disabled (ClientConnectorConfiguration.thinClientEnabled) or limited",
        spec: "Apache Ignite binary client protocol, Connection Handshake (failure response)",
    }
    /// A discovery port's header check could not be told from another server's behaviour.
    DISCOVERY_UNCONFIRMED = failure "ignite.discovery_unconfirmed" at Open {
        about: "asked to check a discovery port, the probe did not see Ignite's header check: a discovery port closes at once on a wrong 4-byte header and holds the connection after its own (00 00 47 47)",
        hint: "the port is not TcpDiscoverySpi's (47500 by default), or it is over TLS; the probe never sends a serialized discovery message, so nothing else can tell",
        spec: "TcpDiscoverySpi: the IGNITE_HEADER magic (0x00004747)",
    }
}
