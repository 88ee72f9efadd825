//! The `http` probe's codes, `http.*`: also those of the presets built on it (`rabbitmq-api`),
//! whose requests are the same exchange.

crate::codes! {
    /// The HTTP client could not start on the connection.
    ERROR = failure "http.error" at Open {
        about: "the HTTP/1.1 client could not start its exchange on the connection",
        hint: "the connection broke before the request could be sent; the message gives the reason",
        spec: "",
    }
    /// The answer's head is over the limit.
    OVERSIZED_HEAD = failure "http.oversized_head" at Speaks {
        about: "the response head (status line and headers) is larger than the 64 KiB a probe reads",
        hint: "the server sends absurdly large headers: it is broken or hostile",
        spec: "RFC 9112 §2.3",
    }
    /// The connection closed without an answer.
    NO_RESPONSE = failure "http.no_response" at Open {
        about: "the peer took the request and closed the connection without answering",
        hint: "the port accepts connections but the service drops HTTP requests: check the port, or whether it needs TLS",
        spec: "",
    }
    /// The answer is not HTTP/1.x.
    MALFORMED = failure "http.malformed" at Open {
        about: "the peer answered with bytes that are not an HTTP/1.x response",
        hint: "the port speaks something other than HTTP/1.x: check the port number",
        spec: "RFC 9112 §4",
    }
    /// The Location of a redirect is not a URL.
    BAD_REDIRECT = failure "http.bad_redirect" at Speaks {
        about: "the server redirects to a Location that is not a valid URL",
        hint: "fix the redirect on the server, or point the check at the page it should lead to",
        spec: "RFC 9110 §10.2.2",
    }
    /// Redirects without end.
    REDIRECT_LOOP = failure "http.redirect_loop" at Speaks {
        about: "the server redirected more than 5 times on the same host",
        hint: "the server redirects in a circle: check its URL rewriting and forced-HTTPS settings",
        spec: "RFC 9110 §15.4",
    }
    /// A redirect to another host, not followed.
    REDIRECT_OFFSITE = failure "http.redirect_offsite" at Speaks {
        about: "the server redirects to another host, which the check does not follow (credentials stay with the origin)",
        hint: "point the check at that host, or accept the redirect with http.status: [301, 302]",
        spec: "",
    }
    /// The body broke off.
    BODY_ERROR = failure "http.body_error" at Speaks {
        about: "the response body ended before its announced length or last chunk",
        hint: "the server or a proxy cut the answer short",
        spec: "RFC 9112 §6.3",
    }
    /// A status the check does not accept.
    STATUS = failure "http.status" at Speaks {
        about: "the server answered with a status the check does not accept (by default any 2xx)",
        hint: "the server answered, but not with a status the check accepts: check http.status",
        spec: "RFC 9110 §15",
    }
    /// The Location header is missing or points elsewhere than stated.
    LOCATION = failure "http.location" at Speaks {
        about: "the answer has no Location header, or it does not start with http.location (a redirect to HTTPS that is not there)",
        hint: "the server does not redirect where the check says: for Ignition, set gateway.requireSSL and gateway.forceSecureRedirect in gateway.xml",
        spec: "RFC 9110 §10.2.2",
    }
    /// The body lacks the text or pattern asked for.
    BODY_MISMATCH = failure "http.body_mismatch" at Speaks {
        about: "the body does not contain http.body_contains, or does not match http.body_regex",
        hint: "the page served is not the one expected: check the path and the application behind it",
        spec: "",
    }
    /// The body is not JSON.
    NOT_JSON = failure "http.not_json" at Speaks {
        about: "the check reads a JSON field, but the body is not JSON",
        hint: "the path does not serve the JSON status document: check http.path",
        spec: "RFC 8259",
    }
    /// The JSON has no such field.
    JSON_FIELD_MISSING = failure "http.json_field_missing" at Speaks {
        about: "the JSON body has no field at http.json.pointer",
        hint: "the status document has another shape: check http.json.pointer",
        spec: "RFC 6901",
    }
    /// The service reports a state other than healthy.
    UNHEALTHY_STATE = failure "http.unhealthy_state" at Speaks {
        about: "the JSON field the check reads holds another value than the healthy one (Ignition's /StatusPing not RUNNING)",
        hint: "the service reports itself unhealthy: look at its status page and logs",
        spec: "",
    }
    /// A password sent over plain HTTP.
    CLEARTEXT_CREDENTIALS = warning "http.cleartext_credentials" at Healthy {
        about: "the login went to a host other than loopback over plain HTTP, readable by anyone on the path",
        hint: "check the endpoint over HTTPS (expect: https) when it takes a password",
        spec: "RFC 7617 §4",
    }
    /// Only part of the body was read.
    BODY_TRUNCATED = warning "http.body_truncated" at Healthy {
        about: "the body is longer than http.max_body; only that much was read and checked",
        hint: "raise http.max_body (at most 8 MiB) if the checks need the rest of the body",
        spec: "",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_code_the_http_tests_know_is_in_a_table() {
        for c in [
            // http's tests
            "config.invalid",
            "http.unhealthy_state",
            "http.status",
            "http.body_mismatch",
            "http.not_json",
            "http.json_field_missing",
            "proto.mismatch",
            "http.body_truncated",
            // tests/http.rs, tests/nginx.rs, tests/reports.rs
            "http.malformed",
            "http.no_response",
            "http.redirect_offsite",
            "http.redirect_loop",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
    }

    #[test]
    fn the_table_defines_only_http_codes() {
        for c in super::CODES {
            assert!(c.name.starts_with("http."), "{} belongs in another table", c.name);
        }
    }
}
