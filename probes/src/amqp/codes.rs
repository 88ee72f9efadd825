//! The `amqp` probe's codes: what an AMQP 0-9-1 broker (or something in its place) can answer.
//!
//! The core codes it also uses (`auth.no_credentials`, `auth.rejected`, `proto.mismatch`,
//! `<phase>.timeout`, ...) live in [`crate::codes::core`]; the TLS engine's in its own table.

crate::codes! {
    /// Connected, but not a byte back to the protocol header.
    NO_RESPONSE = failure "amqp.no_response" at Open {
        about: "the port accepted the connection, then closed or reset it without answering the AMQP protocol header",
        hint: "the port accepts connections but does not speak AMQP 0-9-1: check the port, whether it needs TLS (amqps), or the broker's connection limits",
        spec: "AMQP 0-9-1 §4.2.2",
    }
    /// Bytes came back, but not AMQP frames that hold together.
    MALFORMED = failure "amqp.malformed" at Open {
        about: "the answer to the protocol header is not a well-formed AMQP 0-9-1 frame (wrong frame type or channel, a length beyond the limit, no 0xCE frame end, a Connection.Start that does not decode), or not AMQP at all",
        hint: "the peer frames like AMQP but its frames are broken: it is not a working AMQP 0-9-1 broker",
        spec: "AMQP 0-9-1 §4.2.3",
    }
    /// The server answered with the protocol header of another AMQP version.
    VERSION_MISMATCH = failure "amqp.version_mismatch" at Open {
        about: "the server refused AMQP 0-9-1 and answered with the protocol header of the version it speaks (AMQP 1.0, 0-10, 0-8, ...)",
        hint: "the broker speaks another AMQP version than 0-9-1: check the port and the client library",
        spec: "AMQP 0-9-1 §4.2.2",
    }
    /// The broker closed the connection or channel with a reply code.
    CLOSED = failure family "amqp.closed" at Speaks {
        about: "the broker sent Connection.Close or Channel.Close with this reply code (320 connection-forced, 403 access-refused, 404 not-found, 530 not-allowed, 541 internal-error, ...)",
        hint: "see the broker's message and its log",
        spec: "AMQP 0-9-1 §1.4.2.9 (connection.close), reply codes §1.2",
    }
    /// The login worked, the queue named in `amqp.queue` does not exist.
    QUEUE_MISSING = failure "amqp.queue_missing" at Speaks {
        about: "the passive declare of the queue named in amqp.queue was answered with 404 not-found: the queue does not exist in this vhost",
        hint: "declare the queue (its consumer or deployment usually does), or fix amqp.queue",
        spec: "AMQP 0-9-1 §1.7.2.1 (queue.declare, passive)",
    }
    /// The login worked, the vhost may not be opened.
    VHOST_DENIED = failure "amqp.vhost_denied" at Speaks {
        about: "the credentials were accepted but Connection.Open of the vhost was refused with 530 not-allowed: the vhost does not exist or the user has no permissions on it",
        hint: "create the vhost or grant the user permissions on it (rabbitmqctl set_permissions -p <vhost> <user> ...), or fix amqp.vhost",
        spec: "AMQP 0-9-1 §1.4.2.7 (connection.open)",
    }
    /// The broker offers no SASL mechanism the probe can log in with.
    MECHANISM_UNSUPPORTED = failure "auth.mechanism_unsupported" at Speaks {
        about: "Connection.Start offers neither PLAIN nor AMQPLAIN, the mechanisms that carry a user name and password",
        hint: "EXTERNAL means certificate login: enable PLAIN for a monitoring user, or check this port at level speaks",
        spec: "AMQP 0-9-1 §1.4.2.1 (connection.start, mechanisms)",
    }
    /// The AMQP client failed for a reason of its own.
    ERROR = failure "amqp.error" at Speaks {
        about: "the login connection failed in the AMQP client library for a reason other than a broker's reply code or a socket error (the message says which)",
        hint: "run again with PORTPROOF_LOG=debug and check the broker's log for the connection",
        spec: "",
    }
}
