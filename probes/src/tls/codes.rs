//! The TLS engine's codes, `tls.*`: the `tls` probe's and those of every protocol run over TLS
//! (`https`, `amqps`, databases' TLS), so a bad certificate reads the same whatever runs inside.
//!
//! A connection closed, cut off or broken during the handshake is the core's phased
//! `tls.closed`, `tls.oversized`, `tls.error` and `tls.timeout`, not defined here.

crate::codes! {
    /// The bytes looked like TLS, but the messages do not parse.
    MALFORMED = failure "tls.malformed" at Open {
        about: "the server answered in TLS records, but its handshake messages are malformed",
        hint: "the server's TLS stack is broken or incompatible: check its logs and TLS library",
        spec: "RFC 8446 §4",
    }
    /// Silence, then a close, after our ClientHello.
    NO_RESPONSE = failure "tls.no_response" at Open {
        about: "the port accepted the connection, then closed it after our ClientHello without sending a byte",
        hint: "the port is not a TLS port, or it refuses this client before the handshake (IP allow-list, SNI routing)",
        spec: "",
    }
    /// A reset during the handshake.
    RESET = failure "tls.reset" at Open {
        about: "the peer reset the connection during the TLS handshake",
        hint: "a firewall, a load balancer or the server's own rules dropped the handshake",
        spec: "",
    }
    /// The peer answered the ClientHello in another protocol.
    NOT_TLS = failure "tls.not_tls" at Open {
        about: "the peer answered our ClientHello with bytes that are not TLS records (`identified` names the protocol when it is known)",
        hint: "this port speaks something other than TLS: check the port number",
        spec: "RFC 8446 §5.1",
    }
    /// The server wants a client certificate and has none from us.
    CLIENT_CERT_REQUIRED = failure "tls.client_cert_required" at Open {
        about: "the server requires a client certificate (mutual TLS) and refused this client without one",
        hint: "give a client identity with --client-cert FILE --client-key FILE (tls.client_cert and tls.client_key)",
        spec: "RFC 8446 §4.4.2.4",
    }
    /// The server refused the client certificate we sent.
    CLIENT_CERT_REJECTED = failure "tls.client_cert_rejected" at Open {
        about: "the server refused the client certificate this client sent (untrusted issuer, expired, revoked or not for client authentication)",
        hint: "use a client certificate issued by a CA the server trusts, valid now, with extendedKeyUsage clientAuth",
        spec: "RFC 8446 §4.4.2.4",
    }
    /// The server certificate has expired.
    CERT_EXPIRED = failure "tls.cert_expired" at Open {
        about: "a certificate of the server's chain is past its notAfter date",
        hint: "renew the server certificate and restart the service",
        spec: "RFC 5280 §4.1.2.5",
    }
    /// The server certificate is not valid yet.
    CERT_NOT_YET_VALID = failure "tls.cert_not_yet_valid" at Open {
        about: "a certificate of the server's chain is before its notBefore date",
        hint: "check the clocks of this machine and of the server, or the certificate's notBefore",
        spec: "RFC 5280 §4.1.2.5",
    }
    /// The certificate does not hold the name connected to.
    CERT_NAME_MISMATCH = failure "tls.cert_name_mismatch" at Open {
        about: "the server certificate's subjectAltName does not hold the name connected to (or the SNI given)",
        hint: "connect with a name the certificate holds (tls.sni), or reissue the certificate with this name",
        spec: "RFC 6125 §6",
    }
    /// The chain ends at a CA not trusted here.
    CERT_UNKNOWN_CA = failure "tls.cert_unknown_ca" at Open {
        about: "the server's chain ends at a CA this client does not trust: self-signed, or a private CA not given",
        hint: "give the issuing CA with --ca FILE (tls.ca in a manifest), or install a publicly trusted certificate",
        spec: "RFC 5280 §6.1",
    }
    /// The server sent its certificate without the intermediate(s).
    CERT_INCOMPLETE_CHAIN = failure "tls.cert_incomplete_chain" at Open {
        about: "the server sent its certificate alone, without the intermediate certificate(s) linking it to a trusted CA",
        hint: "configure the server to send its intermediate certificate(s) with its own (the full chain)",
        spec: "RFC 8446 §4.4.2",
    }
    /// The chain is out of order.
    CERT_CHAIN_ORDER = failure "tls.cert_chain_order" at Open {
        about: "a certificate of the server's chain is not followed by its issuer; named in the message of the verification failure it comes with",
        hint: "configure the server to send its certificate first, then each issuer in turn (the full chain, in order)",
        spec: "RFC 5246 §7.4.2",
    }
    /// Another verification failure, or a certificate that does not parse.
    CERT_INVALID = failure "tls.cert_invalid" at Open {
        about: "a server certificate failed verification for a reason other than dates, name or issuer, or does not parse",
        hint: "look at what the server sends (openssl s_client -showcerts) and reissue the certificate if it is broken",
        spec: "RFC 5280 §4.1",
    }
    /// No TLS version in common.
    PROTOCOL_VERSION = failure "tls.protocol_version" at Open {
        about: "the server accepts none of the TLS versions this client speaks (1.2 and 1.3)",
        hint: "the server likely speaks only TLS 1.0 or 1.1, which are obsolete (RFC 8996): enable TLS 1.2 or 1.3 on the server",
        spec: "RFC 8446 §4.2.1",
    }
    /// The server refused the name sent, or the lack of one.
    SNI_REQUIRED = failure "tls.sni_required" at Open {
        about: "the server does not serve the name sent in SNI, or refuses a handshake without one (an IP address sends none)",
        hint: "set tls.sni (--sni) to a name the server serves",
        spec: "RFC 6066 §3",
    }
    /// No parameters in common.
    INCOMPATIBLE = failure "tls.incompatible" at Open {
        about: "the server's TLS parameters (groups, signature schemes, extensions) share nothing this client accepts",
        hint: "compare the server's TLS configuration with a current profile (Mozilla intermediate); the message names what did not fit",
        spec: "",
    }
    /// The ALPN answer does not fit.
    ALPN = failure "tls.alpn" at Open {
        about: "the server's ALPN answer is not one of the protocols this client offered",
        hint: "check tls.alpn in the check against the application protocols the server serves",
        spec: "RFC 7301 §3.2",
    }
    /// The server ended the handshake with an alert (`tls.alert.<name>`).
    ALERT = failure family "tls.alert" at Open {
        about: "the server ended the handshake with the TLS alert named by the code's last part",
        hint: "the server refused the handshake: its logs say why, and the alert names the kind of problem",
        spec: "RFC 8446 §6.2",
    }
    /// Versions meet, cipher suites do not.
    NO_SHARED_CIPHER = failure "tls.no_shared_cipher" at Open {
        about: "the server speaks a TLS version this client does, but with no cipher suite this client offers",
        hint: "enable a modern suite on the server (ECDHE with AES-GCM or ChaCha20-Poly1305)",
        spec: "RFC 8446 §4.1.1",
    }
    /// The server asks for client certificates; the check says it should not.
    CLIENT_AUTH_REQUESTED = failure "tls.client_auth_requested" at Speaks {
        about: "the server asks for a client certificate, but the check says client_auth: none",
        hint: "turn client-certificate authentication off on the server, or expect it with client_auth: optional or required",
        spec: "RFC 8446 §4.3.2",
    }
    /// The check expects mutual TLS; the server lets clients in without a certificate.
    CLIENT_AUTH_NOT_REQUIRED = failure "tls.client_auth_not_required" at Speaks {
        about: "the check says client_auth: required, but the server lets clients in without asking for a certificate",
        hint: "enable client-certificate authentication on the server, or fix client_auth in the check",
        spec: "RFC 8446 §4.3.2",
    }
    /// The check expects the server to ask; it does not.
    CLIENT_AUTH_NOT_REQUESTED = failure "tls.client_auth_not_requested" at Speaks {
        about: "the check says client_auth: optional, but the server does not ask for a client certificate",
        hint: "enable optional client-certificate authentication on the server, or fix client_auth in the check",
        spec: "RFC 8446 §4.3.2",
    }
    /// The server asks, but lets clients in without a certificate.
    CLIENT_AUTH_OPTIONAL = failure "tls.client_auth_optional" at Speaks {
        about: "the check says client_auth: required; the server asks for a client certificate but lets this client in without one",
        hint: "make the server require client certificates; some servers (nginx's ssl_verify_client on) refuse only at the HTTP layer: check them with expect: https",
        spec: "RFC 8446 §4.4.2.4",
    }
    /// The check expects mutual TLS; the server let in a certificate from a CA it cannot know.
    CLIENT_AUTH_UNVERIFIED = failure "tls.client_auth_unverified" at Speaks {
        about: "the check says client_auth: required, but the server accepted a client certificate from a throwaway CA made for this check, which it cannot know: it does not verify client certificates",
        hint: "make the server verify client certificates against the CAs it trusts (OpenSSL: -verify_return_error; nginx: ssl_verify_client on, not optional_no_ca)",
        spec: "RFC 8446 §4.4.2.4",
    }
    /// A certificate expires soon.
    CERT_EXPIRING = warning "tls.cert_expiring" at Healthy {
        about: "a certificate of the server's chain expires within tls.expiry_warning_days (30 unless set)",
        hint: "renew the certificate before it expires",
        spec: "RFC 5280 §4.1.2.5",
    }
    /// A short key.
    WEAK_KEY = warning "tls.weak_key" at Healthy {
        about: "a certificate of the server's chain has a short key: RSA or DSA under 2048 bits, EC under 256",
        hint: "reissue the certificate with an RSA key of at least 2048 bits or an ECDSA P-256 key",
        spec: "CA/Browser Forum Baseline Requirements §6.1.5",
    }
    /// A SHA-1 or MD5 signature.
    WEAK_SIGNATURE = warning "tls.weak_signature" at Healthy {
        about: "a certificate of the server's chain is signed with SHA-1 or MD5, which can be forged",
        hint: "reissue the certificate with a SHA-256 (or stronger) signature",
        spec: "RFC 9155",
    }
    /// `insecure: true` let an unverified certificate pass.
    UNVERIFIED = warning "tls.unverified" at Healthy {
        about: "the server certificate does not verify, and insecure: true (or the protocol's own setting) let the check go on",
        hint: "fix the certificate (the message says what is wrong), or give its CA with --ca, then drop insecure",
        spec: "",
    }
    /// The server accepts client certificates it cannot verify.
    CLIENT_CERT_UNVERIFIED = warning "tls.client_cert_unverified" at Healthy {
        about: "the server asks for a client certificate and its handshake accepted one from a throwaway CA made for this check, which it cannot know: any certificate gets in unless the application refuses it afterwards (on a Gateway Network port such as Ignition's 8060, any machine can connect)",
        hint: "make the server verify client certificates against the CAs it trusts (OpenSSL: -verify_return_error; nginx: ssl_verify_client on, not optional_no_ca), or state client_auth: required to fail on it",
        spec: "RFC 8446 §4.4.2.4",
    }
    /// TLS 1.0 or 1.1 accepted.
    LEGACY_VERSION = warning "tls.legacy_version" at Healthy {
        about: "the server still accepts TLS 1.0 or 1.1, which are obsolete",
        hint: "disable TLS 1.0 and 1.1 on the server",
        spec: "RFC 8996",
    }
    /// Weak cipher suites accepted.
    WEAK_CIPHER = warning "tls.weak_cipher" at Healthy {
        about: "the server accepts cipher suites that are broken or weak (NULL, export, anonymous, RC4, DES, 3DES, MD5)",
        hint: "remove the named suites from the server's cipher list",
        spec: "RFC 9325 §4.1",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_code_the_tls_tests_know_is_in_a_table() {
        for c in [
            // tls::cert's tests
            "tls.cert_unknown_ca",
            "tls.cert_expired",
            "tls.cert_name_mismatch",
            "tls.cert_not_yet_valid",
            "tls.cert_expiring",
            "tls.cert_incomplete_chain",
            "tls.cert_chain_order",
            "tls.weak_key",
            "tls.weak_signature",
            "tls.cert_invalid",
            // tls's tests
            "tls.alert.decode_error",
            "tls.protocol_version",
            "tls.sni_required",
            "tls.client_cert_required",
            "tls.client_cert_rejected",
            "tls.reset",
            // tls::probe's tests
            "tls.client_auth_not_required",
            "tls.client_auth_optional",
            "tls.client_auth_not_requested",
            "tls.client_auth_requested",
            // tests/tls.rs and the TLS cases of tests/http.rs
            "tls.timeout",
            "tls.no_response",
            "tls.not_tls",
            "tls.no_shared_cipher",
            "tls.legacy_version",
            "tls.weak_cipher",
            "tls.alert.no_application_protocol",
            "tls.alert.internal_error",
            "tls.unverified",
            "tls.closed",
            "tls.client_cert_unverified",
            "tls.client_auth_unverified",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
    }

    #[test]
    fn the_engine_defines_only_tls_codes() {
        for c in super::CODES {
            assert!(c.name.starts_with("tls."), "{} belongs in another table", c.name);
        }
    }
}
