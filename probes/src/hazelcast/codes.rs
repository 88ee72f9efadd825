//! The codes of the `hazelcast` probe.

crate::codes! {
    /// The answer is not Hazelcast's.
    MALFORMED = failure "hazelcast.malformed" at Open {
        about: "the answer to the client protocol's CP2 preamble and authentication is not a Hazelcast client message (frames of length and flags, an authentication response echoing the request's correlation id)",
        hint: "the port speaks something other than Hazelcast's client protocol (Hazelcast 4 and later): check the port (5701, or the product's own, such as WSO2's 4000)",
        spec: "Hazelcast Open Binary Client Protocol 2.x: client message frames, ClientAuthentication (0x000100/0x000101)",
    }
    /// Nothing came back.
    NO_RESPONSE = failure "hazelcast.no_response" at Open {
        about: "the port closed the connection on the client protocol's preamble and authentication without an answer",
        hint: "not a Hazelcast member port, a Hazelcast 3.x member (client protocol 1.x, which the probe does not speak), or one over TLS: check the port and over: tls",
        spec: "Hazelcast Open Binary Client Protocol 2.x, §Connection (the CP2 preamble)",
    }
    /// The member refused the authentication.
    AUTH_FAILED = failure family "hazelcast.auth_failed" at Speaks {
        about: "a Hazelcast member answered, but refused the client's authentication; the suffix is the status (credentials_failed: a wrong cluster name or credentials required; serialization_version_mismatch; not_allowed_in_cluster)",
        hint: "set hazelcast.cluster_name to the cluster's name (the default is dev); a cluster with security enabled wants credentials, which the probe does not send",
        spec: "Hazelcast Open Binary Client Protocol 2.x: ClientAuthentication, AuthenticationStatus",
    }
    /// The member answered with an error message.
    ERROR = failure "hazelcast.error" at Speaks {
        about: "a Hazelcast member answered the authentication with an error message (an exception, named by its class)",
        hint: "the member refused the client for the reason the exception gives (a client filter, a member still starting)",
        spec: "Hazelcast Open Binary Client Protocol 2.x: Error (0x000000), ErrorHolder",
    }
    /// The REST health endpoint could not be read.
    HEALTH_UNAVAILABLE = failure "hazelcast.health_unavailable" at Speaks {
        about: "the check asked for the REST health endpoint (/hazelcast/health), and the member did not serve it",
        hint: "enable the REST API's HEALTH_CHECK endpoint group (hazelcast.rest.enabled on 3.x/4.x, rest-api in 5.x), or do not ask for health",
        spec: "Hazelcast Reference Manual: REST API, Health Check (/hazelcast/health)",
    }
    /// The REST health endpoint says the member or the cluster is not active.
    NOT_ACTIVE = failure "hazelcast.not_active" at Speaks {
        about: "the REST health endpoint answered, but the node state or the cluster state is not ACTIVE",
        hint: "the member is shutting down or passive, or the cluster was frozen or made passive (cluster state FROZEN, PASSIVE, NO_MIGRATION): see the member's log",
        spec: "Hazelcast Reference Manual: REST API, Health Check; Cluster state",
    }
}
