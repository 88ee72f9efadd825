//! The `postgres` probe's codes: PostgreSQL's answers before and during a login.
//!
//! A wrong password (SQLSTATE 28P01) is the core `auth.rejected`, a server that wants a
//! password the core `auth.no_credentials`; an ErrorResponse without a code of its own here is
//! `postgres.error.<SQLSTATE>`.

crate::codes! {
    /// Closed on SSLRequest without a byte.
    NO_RESPONSE = failure "postgres.no_response" at Open {
        about: "the port accepted the connection, then closed it without answering SSLRequest or the StartupMessage",
        hint: "the port accepts connections but does not speak PostgreSQL: check the port number",
        spec: "PostgreSQL docs, Frontend/Backend Protocol: Message Flow, Start-up and SSL Session Encryption",
    }
    /// Bytes came back, but not PostgreSQL messages that hold together.
    MALFORMED = failure "postgres.malformed" at Open {
        about: "the answer is not a well-formed PostgreSQL backend message (an unknown type byte, a length beyond the limit, an Authentication message that does not decode), or not PostgreSQL at all",
        hint: "the peer frames like PostgreSQL but its messages are broken: it is not a working PostgreSQL",
        spec: "PostgreSQL docs, Frontend/Backend Protocol: Message Formats",
    }
    /// The server does not offer TLS, and the check requires it.
    SSL_REFUSED = failure "postgres.ssl_refused" at Speaks {
        about: "the server answered SSLRequest with N (no TLS) or something else, and postgres.sslmode requires TLS",
        hint: "enable ssl = on (with a certificate) in postgresql.conf, or relax sslmode",
        spec: "PostgreSQL docs, Frontend/Backend Protocol: SSL Session Encryption",
    }
    /// TLS on the first connection, none on the login connection.
    SSL_DOWNGRADED = failure "postgres.ssl_downgraded" at Speaks {
        about: "the server offered TLS on the first connection and refused it on the login connection; no password was sent",
        hint: "something between here and the server strips TLS, or another server answers: investigate before logging in",
        spec: "PostgreSQL docs, Frontend/Backend Protocol: SSL Session Encryption",
    }
    /// No TLS offered, and the probe sends no password in clear text unless told to.
    PLAINTEXT_LOGIN_REFUSED = failure "postgres.plaintext_login_refused" at Speaks {
        about: "the check has a password but the server offers no TLS; the probe does not send a password outside TLS unless postgres.sslmode is disable",
        hint: "enable ssl on the server, or allow a plain-text login explicitly with postgres.sslmode: disable",
        spec: "",
    }
    /// The server closed the session.
    CLOSED = failure "postgres.closed" at Speaks {
        about: "the server closed the connection during start-up or before answering the query",
        hint: "the server ended the session: its log says why (a restart, a terminated backend, a crash)",
        spec: "",
    }
    /// SQLSTATE 28000 naming pg_hba.conf.
    NO_HBA_ENTRY = failure "postgres.no_hba_entry" at Speaks {
        about: "the server refused the start-up with SQLSTATE 28000 because no pg_hba.conf line matches (or a reject line does) this host, user, database and SSL mode",
        hint: "pg_hba.conf has no line (or a reject line) for this host, user, database and SSL mode: add one and reload",
        spec: "PostgreSQL docs, Appendix A (SQLSTATE 28000 invalid_authorization_specification); Client Authentication: The pg_hba.conf File",
    }
    /// SQLSTATE 28000 otherwise.
    INVALID_AUTHORIZATION = failure "postgres.invalid_authorization" at Speaks {
        about: "the server refused the start-up with SQLSTATE 28000 invalid_authorization_specification: usually the role does not exist or may not log in",
        hint: "the role may not exist or may not log in",
        spec: "PostgreSQL docs, Appendix A (SQLSTATE 28000 invalid_authorization_specification)",
    }
    /// SQLSTATE 3D000.
    DATABASE_MISSING = failure "postgres.database_missing" at Speaks {
        about: "the server refused the start-up with SQLSTATE 3D000 invalid_catalog_name: the database does not exist",
        hint: "the database does not exist: create it or fix postgres.database",
        spec: "PostgreSQL docs, Appendix A (SQLSTATE 3D000 invalid_catalog_name)",
    }
    /// SQLSTATE 53300.
    TOO_MANY_CONNECTIONS = failure "postgres.too_many_connections" at Speaks {
        about: "the server refused the start-up with SQLSTATE 53300 too_many_connections: every connection slot is taken",
        hint: "every connection slot is taken: raise max_connections or use a pooler (PgBouncer)",
        spec: "PostgreSQL docs, Appendix A (SQLSTATE 53300 too_many_connections)",
    }
    /// SQLSTATE 57P03.
    STARTING = failure "postgres.starting" at Speaks {
        about: "the server refused the start-up with SQLSTATE 57P03 cannot_connect_now: it is starting up, shutting down or in recovery",
        hint: "the server is starting up, shutting down or in recovery: retry later",
        spec: "PostgreSQL docs, Appendix A (SQLSTATE 57P03 cannot_connect_now)",
    }
    /// Any other ErrorResponse, by its SQLSTATE.
    SERVER_ERROR = failure family "postgres.error" at Speaks {
        about: "the server answered with an ErrorResponse whose SQLSTATE (the suffix) has no code of its own here",
        hint: "see the server's message and log",
        spec: "PostgreSQL docs, Appendix A (PostgreSQL Error Codes)",
    }
    /// The client library failed without an ErrorResponse.
    ERROR = failure "postgres.error" at Speaks {
        about: "the login or query failed in the PostgreSQL client library without an ErrorResponse from the server (the message says why)",
        hint: "see the server's log for the reason",
        spec: "",
    }
}
