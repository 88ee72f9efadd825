//! The `opcua` probe's failure and warning codes: the one place they are named, so that
//! results, `portproof codes` and `portproof explain` say the same thing.

crate::codes! {
    /// The peer closed without answering the Hello.
    NO_RESPONSE = failure "opcua.no_response" at Open {
        about: "the peer closed the connection without answering the OPC UA Hello, and does not complete a TLS handshake either",
        hint: "the port accepts connections but does not speak OPC UA TCP: check the port, and whether the server limits its clients",
        spec: "OPC 10000-6 §7.1.2.3",
    }
    /// The answer to the Hello is broken.
    MALFORMED = failure "opcua.malformed" at Open {
        about: "the answer to the Hello is not a well-formed OPC UA TCP Acknowledge or Error: another message type, a size beyond what an answer to Hello may be, or fields that do not decode",
        hint: "the peer frames like OPC UA TCP but its answer is broken: it is not a working OPC UA server",
        spec: "OPC 10000-6 §7.1.2",
    }
    /// The Acknowledge raises a limit the client offered.
    ACK_LIMITS_RAISED = warning "opcua.ack_limits_raised" at Speaks {
        about: "the Acknowledge answers with a limit (message size, chunk count, buffer size) above what the Hello offered, which the specification does not allow; clients clamp it to their own",
        hint: "harmless for clients that clamp; check the server's transport limits or firmware if some clients fail",
        spec: "OPC 10000-6 §7.1.2.4",
    }
    /// The Acknowledge announces limits no client can work with.
    BAD_ACKNOWLEDGE = failure "opcua.bad_acknowledge" at Speaks {
        about: "the Acknowledge announces impossible transport limits (a buffer below the 8192-byte minimum, or larger than the client's own)",
        hint: "the server's transport limits break OPC 10000-6 7.1.2.4; clients will fail on it: check its configuration or firmware",
        spec: "OPC 10000-6 §7.1.2.4",
    }
    /// The server answered the Hello with an Error message.
    ERR = failure family "opcua.err" at Speaks {
        about: "the server answered the Hello with an Error message (ERR); the code ends in its StatusCode (Bad_TcpEndpointUrlInvalid, Bad_TcpServerTooBusy, ...), or its hex value when the code is unknown",
        hint: "the server refused the Hello with this StatusCode; its log says why",
        spec: "OPC 10000-6 §7.1.2.5; StatusCodes: OPC 10000-4 §7.38",
    }
    /// A discovery step failed with a StatusCode.
    STATUS = failure family "opcua.status" at Speaks {
        about: "the Hello proved OPC UA, but a later step (OpenSecureChannel with SecurityPolicy None, GetEndpoints, the session, the ServerStatus read) failed; the code ends in the StatusCode",
        hint: "the server refused discovery; its log says why",
        spec: "OPC 10000-4 §7.38",
    }
    /// GetEndpoints answered with an empty list.
    NO_ENDPOINTS = failure "opcua.no_endpoints" at Speaks {
        about: "GetEndpoints answered, but listed no endpoint for the URL the probe asked about",
        hint: "the server has no endpoint configured for this URL: check opcua.endpoint_url and its endpoint configuration",
        spec: "OPC 10000-4 §5.4.4",
    }
    /// FindServers failed after GetEndpoints worked.
    FIND_SERVERS_FAILED = warning "opcua.find_servers_failed" at Speaks {
        about: "GetEndpoints worked, but FindServers was refused or failed, so the applications a discovery server knows are not listed",
        hint: "a server without a discovery role may refuse FindServers; otherwise its log says why",
        spec: "OPC 10000-4 §5.4.2",
    }
    /// No endpoint allows the anonymous status read.
    STATUS_UNREADABLE = failure "opcua.status_unreadable" at Speaks {
        about: "opcua.read_status asks for the ServerStatus, but no endpoint offers anonymous access over SecurityPolicy None, the only session the probe opens",
        hint: "the server is discoverable (its endpoints are in the facts); reading its status needs anonymous access, or drop opcua.read_status",
        spec: "",
    }
    /// The server says it is not Running.
    SERVER_STATE = failure family "opcua.server_state" at Speaks {
        about: "Server_ServerStatus says the server is in a state other than Running; the code ends in that state (Failed, NoConfiguration, Suspended, Shutdown, Test, CommunicationFault, Unknown)",
        hint: "the server is up but not serving: see its log (Failed, NoConfiguration, Suspended, Shutdown, CommunicationFault)",
        spec: "OPC 10000-5 §12.6",
    }
    /// Only unsecured endpoints.
    SECURITY_NONE_ONLY = warning "opcua.security_none_only" at Speaks {
        about: "every endpoint uses SecurityPolicy None: the server offers no signed or encrypted endpoint",
        hint: "configure a Sign or SignAndEncrypt endpoint (Basic256Sha256 or newer) on the server, and make clients use it",
        spec: "OPC 10000-4 §5.4.4",
    }
    /// An advertised endpoint URL that clients cannot use.
    ENDPOINT_URL_MISMATCH = warning "opcua.endpoint_url_mismatch" at Speaks {
        about: "an endpoint URL the server advertises names a port or a host that does not lead back to this server (another port, loopback, the wildcard address, a name that resolves elsewhere or not at all): clients connect, discover, then fail",
        hint: "set the server's advertised host name and port to what clients use (behind NAT or a container port mapping, the external ones)",
        spec: "OPC 10000-4 §5.4.4",
    }
    /// The server certificate expires soon or has expired.
    CERT_EXPIRING = warning "opcua.cert_expiring" at Speaks {
        about: "the server's application instance certificate (from its endpoints) expires within the warning window (opcua.expiry_warning_days, 30 days by default), or has expired",
        hint: "renew the server's application instance certificate, and have clients trust the new one",
        spec: "OPC 10000-6 §6.2.2",
    }
    /// The server certificate does not parse.
    CERT_UNPARSABLE = warning "opcua.cert_unparsable" at Speaks {
        about: "the server certificate the endpoints carry is not a DER X.509 certificate the probe can read",
        hint: "reissue the server's application instance certificate; clients will not be able to use a secured endpoint with it",
        spec: "OPC 10000-6 §6.2.2",
    }
}
