//! The `ws-discovery` probe's failure and warning codes: the one place they are named, so that
//! results, `portproof codes` and `portproof explain` say the same thing.

crate::codes! {
    /// No ProbeMatches for our Probe came back before the deadline.
    NO_RESPONSE = failure "ws_discovery.no_response" at Unreachable {
        about: "no ProbeMatches answering this Probe came back within the deadline: an answer must be a SOAP 1.2 envelope whose Action is ProbeMatches and whose RelatesTo is the Probe's MessageID; datagrams that are not are ignored, and the message counts them",
        hint: "nothing answered as a WS-Discovery target service: check that the service runs and listens on this UDP port (3702), that it answers directed (unicast) Probes, and that no firewall drops UDP, including the answer, which comes from another source port",
        spec: "WS-Discovery 1.1 (OASIS 2009) §5.3, SOAP-over-UDP 1.1 §3",
    }
    /// The service answered with an empty ProbeMatches.
    NO_MATCHES = failure "ws_discovery.no_matches" at Speaks {
        about: "the service answered the Probe with a ProbeMatches that lists no endpoint: it speaks WS-Discovery but offers nothing to a Probe without Types or Scopes",
        hint: "the discovery service runs but announces no endpoint: check that the application behind it (the PADS4 server, ...) has started and registered itself",
        spec: "WS-Discovery 1.1 (OASIS 2009) §5.3",
    }
}
