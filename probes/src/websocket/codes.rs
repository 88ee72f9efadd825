//! The codes of the `websocket` probe.

crate::codes! {
    /// Nothing came back to the upgrade.
    NO_RESPONSE = failure "websocket.no_response" at Open {
        about: "the port accepted the connection but closed it without answering the upgrade request",
        hint: "not an HTTP port, or a TLS one (use expect: wss): check the port",
        spec: "RFC 6455 §4.1",
    }
    /// Not an HTTP answer.
    MALFORMED = failure "websocket.malformed" at Open {
        about: "the answer to the upgrade request is not HTTP, or a frame after it breaks RFC 6455's framing",
        hint: "the port speaks something other than HTTP and WebSocket: check the port number",
        spec: "RFC 6455 §4.2.2, §5.2",
    }
    /// A 101 whose Sec-WebSocket-Accept is not the one the key calls for.
    ACCEPT_MISMATCH = failure "websocket.accept_mismatch" at Open {
        about: "the server answered 101 Switching Protocols, but its Sec-WebSocket-Accept is missing or is not base64(SHA-1(key + GUID)) for the key sent: a broken proxy or a fake upgrade, and no client will take it",
        hint: "a proxy in front of the WebSocket server rewrites or invents the handshake: check its WebSocket support (nginx needs proxy_http_version 1.1 and the Upgrade and Connection headers passed on)",
        spec: "RFC 6455 §4.1 (client step 4), §4.2.2 step 5.4",
    }
    /// A 101 that does not upgrade to websocket.
    UPGRADE_MISSING = failure "websocket.upgrade_missing" at Open {
        about: "the server answered 101 Switching Protocols without `Upgrade: websocket` and `Connection: Upgrade`",
        hint: "the 101 switches to another protocol, or a proxy drops the hop-by-hop headers: check the proxy's WebSocket settings",
        spec: "RFC 6455 §4.1 (client steps 2 and 3)",
    }
    /// 400.
    BAD_REQUEST = failure "websocket.bad_request" at Open {
        about: "the server answered the upgrade request with 400 Bad Request",
        hint: "the endpoint took the request for a bad one: a required header (Origin, a subprotocol) is missing, or a proxy mangles the upgrade; see the body in the message",
        spec: "RFC 6455 §4.2.1",
    }
    /// 404.
    NOT_FOUND = failure "websocket.not_found" at Open {
        about: "the server answered the upgrade request with 404 Not Found: no WebSocket endpoint at that path",
        hint: "set the endpoint's path (websocket.path, --path, or the URL's path)",
        spec: "RFC 6455 §4.1; RFC 9110 §15.5.5",
    }
    /// 426.
    VERSION_REFUSED = failure "websocket.upgrade_required" at Open {
        about: "the server answered 426 Upgrade Required: it did not take the upgrade as sent (its Sec-WebSocket-Version lists the versions it speaks)",
        hint: "the server wants another WebSocket version, or a proxy in front of it dropped the Upgrade and Connection headers",
        spec: "RFC 6455 §4.2.2, §4.4",
    }
    /// Another answer than 101.
    NOT_UPGRADED = failure family "websocket.not_upgraded" at Open {
        about: "the server answered the upgrade request with an ordinary HTTP status (named at the end of the code) instead of 101 Switching Protocols: a plain HTTP server or page at that path",
        hint: "the path is not a WebSocket endpoint, or the port is a plain web server: check the path and port",
        spec: "RFC 6455 §4.1 (client step 1)",
    }
    /// The server did not complete the close handshake.
    CLOSE_INCOMPLETE = failure "websocket.close_incomplete" at Speaks {
        about: "the upgrade succeeded, but the server did not answer the probe's Close frame with a Close of its own before closing the connection",
        hint: "the server drops connections instead of closing them: its clients will see abnormal closures (1006)",
        spec: "RFC 6455 §5.5.1, §7.1.2",
    }
    /// The server broke the framing after the upgrade.
    PROTOCOL_ERROR = failure "websocket.protocol_error" at Speaks {
        about: "the upgrade succeeded, but a frame the server sent breaks RFC 6455 (masked, reserved bits or opcode, an oversized control frame)",
        hint: "the server or a proxy after the upgrade is not speaking WebSocket framing: check what serves the endpoint",
        spec: "RFC 6455 §5.1, §5.2, §5.5",
    }
}
