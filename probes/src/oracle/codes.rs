//! The `oracle` probe's failure and warning codes: the one place they are named, so that
//! results, `portproof codes` and `portproof explain` say the same thing. Oracle Net has no
//! public specification; the references are the numbers in Oracle's Database Error Messages.

crate::codes! {
    /// Nothing to ask the listener for.
    NO_SERVICE = failure "oracle.no_service" at Speaks {
        about: "the port is an Oracle listener (it answered the version command), but the check names no service or SID, so whether the database behind it accepts connections was not asked",
        hint: "give oracle.service_name (--service-name) to check that the listener knows the database service",
        spec: "",
    }
    /// TNS-12514: the listener does not know the service.
    SERVICE_UNKNOWN = failure "oracle.service_unknown" at Speaks {
        about: "the listener refused the CONNECT: it knows no service by the name asked for (TNS-12514)",
        hint: "the listener does not know this service: `lsnrctl services` on the database host lists the ones it knows; check the instance's service_names (SHOW PARAMETER service_names, a PDB's name), that the instance registers with this listener (LOCAL_LISTENER, ALTER SYSTEM REGISTER), and that the database is open; an instance just started registers within a minute",
        spec: "Oracle Database Error Messages, TNS-12514",
    }
    /// TNS-12505: the listener does not know the SID.
    SID_UNKNOWN = failure "oracle.sid_unknown" at Speaks {
        about: "the listener refused the CONNECT: it knows no instance by the SID asked for (TNS-12505)",
        hint: "the listener knows no instance by this SID: `lsnrctl status` lists the instances; connect by service name instead (oracle.service_name), or register the SID statically (SID_LIST_LISTENER in listener.ora)",
        spec: "Oracle Database Error Messages, TNS-12505",
    }
    /// TNS-12516, 12519, 12520: no handler free for the service.
    NO_HANDLER = failure "oracle.no_handler" at Speaks {
        about: "the listener knows the service but has no handler (dedicated server or dispatcher) able to take the connection (TNS-12516, TNS-12519, TNS-12520)",
        hint: "the listener knows the service but has no handler free for it: the instance may have reached its processes or sessions limit (SHOW PARAMETER processes; v$resource_limit), be blocked while starting, or, for shared server, have no dispatcher for this protocol; `lsnrctl services` shows each handler's state",
        spec: "Oracle Database Error Messages, TNS-12516, TNS-12519, TNS-12520",
    }
    /// TNS-12526: the instance is in restricted mode.
    RESTRICTED = failure "oracle.restricted" at Speaks {
        about: "the listener refused the CONNECT because the instance is in restricted mode (TNS-12526)",
        hint: "the instance is in restricted mode (maintenance, or started with STARTUP RESTRICT): ALTER SYSTEM DISABLE RESTRICTED SESSION when it is over; only users with RESTRICTED SESSION may connect meanwhile",
        spec: "Oracle Database Error Messages, TNS-12526",
    }
    /// A REFUSE without an error number.
    REFUSED = failure "oracle.refused" at Speaks {
        about: "the listener refused the CONNECT without giving an error number",
        hint: "the listener gave no error number: see its log (listener.log)",
        spec: "",
    }
    /// A REFUSE with another error number.
    REFUSED_WITH = failure family "oracle.refused" at Speaks {
        about: "the listener refused the CONNECT with the TNS error number the code ends in (one without a code of its own)",
        hint: "look the number up as TNS-<number> in Oracle's Database Error Messages, and see `lsnrctl status` and the listener's log (listener.log)",
        spec: "Oracle Database Error Messages, TNS-00000 to TNS-12699",
    }
    /// The answer is not well-formed TNS.
    MALFORMED = failure "oracle.malformed" at Open {
        about: "the peer's answer is not a well-formed TNS packet (a bad header, a length beyond the SDU, a packet that does not decode, or an answer of a type that does not answer the CONNECT)",
        hint: "the peer frames like TNS but its packets are broken: it is not a working Oracle listener",
        spec: "",
    }
    /// The peer closed without answering the CONNECT.
    NO_RESPONSE = failure "oracle.no_response" at Open {
        about: "the peer closed the connection without answering the CONNECT, and does not complete a TLS handshake either",
        hint: "a listener answers every CONNECT: this port is not an Oracle listener, or valid node checking (tcp.validnode_checking, tcp.invited_nodes in sqlnet.ora) or a firewall drops this client",
        spec: "",
    }
    /// The listeners redirect to each other.
    REDIRECT_LOOP = failure "oracle.redirect_loop" at Speaks {
        about: "the listener redirected the CONNECT more times than the probe follows",
        hint: "the listeners redirect to each other: check REMOTE_LISTENER and the dispatchers' addresses",
        spec: "",
    }
    /// A REDIRECT the probe does not follow.
    REDIRECTED = failure "oracle.redirected" at Speaks {
        about: "the listener redirected the CONNECT to an address the probe does not follow: another host (without oracle.follow_redirects), a protocol other than TCP or TCPS, or a loopback, link-local, multicast or other special address",
        hint: "clients are sent to the address the message names: check from where they are that it answers, or set oracle.follow_redirects (--follow-redirects) to let the probe follow redirects to other hosts",
        spec: "",
    }
    /// The redirect target does not answer.
    REDIRECT_UNREACHABLE = failure "oracle.redirect_unreachable" at Speaks {
        about: "the listener redirected the CONNECT to an address that does not resolve or does not accept a connection from here",
        hint: "the listener hands clients an address (a dispatcher's, another node's, the host's own name) that they must reach too: check the dispatchers' and LOCAL_LISTENER addresses, DNS, and the firewall",
        spec: "",
    }
    /// The redirect names a host this machine cannot resolve.
    REDIRECT_UNRESOLVABLE = warning "oracle.redirect_unresolvable" at Speaks {
        about: "the listener redirects clients to a host name this machine cannot resolve",
        hint: "check the dispatchers' and LOCAL_LISTENER addresses (they should name a host clients can resolve), and DNS",
        spec: "",
    }
    /// A failure at the address a REDIRECT pointed to.
    REDIRECT_TARGET = failure family "oracle.redirect_target" at Speaks {
        about: "the checked port speaks TNS and redirected the CONNECT; the failure the code ends in (malformed, mismatch, no_response, timeout, ...) happened at the redirect target, not at the checked port",
        hint: "check the dispatcher or listener at the redirect target (`lsnrctl services` lists each handler's address), or why the listener hands out that address",
        spec: "",
    }
}
