//! The `mqtt` probe's codes: what an MQTT broker (or something in its place) can answer.
//!
//! A refusal for bad credentials is the core `auth.rejected`; the core codes and the TLS
//! engine's live in their own tables.

crate::codes! {
    /// Connected, but not a byte back to CONNECT.
    NO_RESPONSE = failure "mqtt.no_response" at Open {
        about: "the port accepted the connection, then closed or reset it without answering CONNECT with a CONNACK",
        hint: "the port accepts connections but does not answer MQTT: check the port, whether it needs TLS (mqtts), or the broker's limits",
        spec: "MQTT 3.1.1 §3.2; MQTT 5.0 §3.2",
    }
    /// Bytes came back, but not MQTT packets that hold together.
    MALFORMED = failure "mqtt.malformed" at Open {
        about: "the answer is not a well-formed MQTT packet (a first byte other than CONNACK's, a bad remaining length, a packet cut short or one that does not decode), or not MQTT at all",
        hint: "the peer frames like MQTT but its packets are broken: it is not a working MQTT broker",
        spec: "MQTT 3.1.1 §2.2, §4.8; MQTT 5.0 §2.1, §4.13",
    }
    /// The broker refused the connection, by the CONNACK's return or reason code.
    CONNACK = failure family "mqtt.connack" at Speaks {
        about: "the broker answered CONNECT with a refusing CONNACK; the suffix is the 3.1.1 return code or 5.0 reason code by name (server_unavailable, server_busy, banned, server_moved, unacceptable_protocol_version, ...)",
        hint: "see the broker's log for the reason",
        spec: "MQTT 3.1.1 §3.2.2.3 (Table 3.1); MQTT 5.0 §3.2.2.2",
    }
    /// The round trip's subscription was refused.
    SUBSCRIBE_REFUSED = failure "mqtt.subscribe_refused" at Speaks {
        about: "the broker answered the round trip's SUBSCRIBE with a failure code (0x80 or above) in SUBACK",
        hint: "the broker's ACL does not let this client subscribe to the probe topic: allow it or set mqtt.topic",
        spec: "MQTT 3.1.1 §3.9.3; MQTT 5.0 §3.9.3",
    }
    /// The round trip's publish was refused.
    PUBLISH_REFUSED = failure "mqtt.publish_refused" at Speaks {
        about: "the broker answered the round trip's PUBLISH with a PUBACK reason code of 0x80 or above (MQTT 5 only; 3.1.1 drops a refused publish silently)",
        hint: "the broker's ACL does not let this client publish to the probe topic: allow it or set mqtt.topic",
        spec: "MQTT 5.0 §3.4.2.1",
    }
}
