//! The `mysql` probe's codes: MySQL's and MariaDB's answers before and during a login.
//!
//! The refusal of the probe's password-less login is the expected core `auth.no_credentials`,
//! a refused password the core `auth.rejected`; an ERR packet without a code of its own here is
//! `mysql.error.<number>`.

crate::codes! {
    /// Connected, but no greeting.
    NO_RESPONSE = failure "mysql.no_response" at Open {
        about: "the port accepted the connection and closed it without the greeting a MySQL server sends at once",
        hint: "MySQL greets at once: this port is not MySQL, or the server refused this client before greeting",
        spec: "MySQL Client/Server Protocol: Connection Phase, Protocol::HandshakeV10",
    }
    /// Bytes came, but not MySQL packets that hold together.
    MALFORMED = failure "mysql.malformed" at Open {
        about: "the server's bytes are not a well-formed MySQL packet (a length beyond the limit, a greeting or ERR packet that does not decode), or not MySQL at all",
        hint: "the peer frames like MySQL but its packets are broken: it is not a working MySQL server",
        spec: "MySQL Client/Server Protocol: MySQL Packets, Protocol::HandshakeV10, ERR_Packet",
    }
    /// No TLS offered, and the check requires it.
    SSL_REFUSED = failure "mysql.ssl_refused" at Speaks {
        about: "the greeting does not offer TLS (no CLIENT_SSL capability), and mysql.sslmode is require",
        hint: "configure ssl_cert and ssl_key (MySQL 8 makes its own at start-up; MariaDB does not)",
        spec: "MySQL Client/Server Protocol: Protocol::SSLRequest (CLIENT_SSL)",
    }
    /// TLS on the first connection, none on the login connection.
    SSL_DOWNGRADED = failure "mysql.ssl_downgraded" at Speaks {
        about: "the server offered TLS on the first connection and not on the login connection; no password was sent",
        hint: "something between here and the server strips TLS, or another server answers: investigate before logging in",
        spec: "MySQL Client/Server Protocol: Protocol::SSLRequest (CLIENT_SSL)",
    }
    /// No TLS offered, and the probe sends no password in clear text unless told to.
    PLAINTEXT_LOGIN_REFUSED = failure "mysql.plaintext_login_refused" at Speaks {
        about: "the check has a password but the server offers no TLS; the probe does not send a password outside TLS unless mysql.sslmode is disable",
        hint: "configure TLS on the server, or allow a plain-text login explicitly with mysql.sslmode: disable",
        spec: "",
    }
    /// The server let the probe in without a password.
    PASSWORDLESS_LOGIN = warning "mysql.passwordless_login" at Speaks {
        about: "the server accepted the probe's login without a password: the account is open to anyone who can reach the port",
        hint: "a user without a password is open to anyone who can reach the port: set one (ALTER USER ... IDENTIFIED BY ...)",
        spec: "",
    }
    /// Error 1129.
    HOST_BLOCKED = failure "mysql.host_blocked" at Speaks {
        about: "the server refused the connection with error 1129 (ER_HOST_IS_BLOCKED): this host made more than max_connect_errors broken connections, often health checks that connect and hang up",
        hint: "too many broken connections from this host: run mysqladmin flush-hosts (FLUSH HOSTS) and check what connects without logging in",
        spec: "MySQL Server Error Message Reference: ER_HOST_IS_BLOCKED (1129)",
    }
    /// Error 1130.
    HOST_NOT_ALLOWED = failure "mysql.host_not_allowed" at Speaks {
        about: "the server refused the connection with error 1130 (ER_HOST_NOT_PRIVILEGED): no account may connect from this client's address",
        hint: "no account may connect from this host: create the user for this client's address (see the message) or fix bind and grants",
        spec: "MySQL Server Error Message Reference: ER_HOST_NOT_PRIVILEGED (1130)",
    }
    /// Error 1040.
    TOO_MANY_CONNECTIONS = failure "mysql.too_many_connections" at Speaks {
        about: "the server refused the connection with error 1040 (ER_CON_COUNT_ERROR): every connection slot is taken",
        hint: "every connection slot is taken: raise max_connections or find the leak",
        spec: "MySQL Server Error Message Reference: ER_CON_COUNT_ERROR (1040)",
    }
    /// Error 1049.
    DATABASE_MISSING = failure "mysql.database_missing" at Speaks {
        about: "the server refused the login with error 1049 (ER_BAD_DB_ERROR): the database named in mysql.database does not exist",
        hint: "the database does not exist: create it or fix mysql.database",
        spec: "MySQL Server Error Message Reference: ER_BAD_DB_ERROR (1049)",
    }
    /// Error 3159.
    INSECURE_TRANSPORT_REFUSED = failure "mysql.insecure_transport_refused" at Speaks {
        about: "the server refused the connection with error 3159 (ER_SECURE_TRANSPORT_REQUIRED): require_secure_transport is on and the connection is not TLS",
        hint: "the server requires TLS (require_secure_transport): connect with TLS",
        spec: "MySQL Server Error Message Reference: ER_SECURE_TRANSPORT_REQUIRED (3159)",
    }
    /// Any other ERR packet, by its error number.
    SERVER_ERROR = failure family "mysql.error" at Speaks {
        about: "the server answered with an ERR packet whose error number (the suffix) has no code of its own here",
        hint: "see the server's message and its error log",
        spec: "MySQL Server Error Message Reference",
    }
    /// The client library or the relay failed without an ERR packet.
    ERROR = failure "mysql.error" at Speaks {
        about: "the login or query failed in the MySQL client library (or its login relay) without an ERR packet from the server (the message says why)",
        hint: "see the server's error log",
        spec: "",
    }
    /// This machine could not set up the login relay.
    LOCAL_ERROR = failure "run.local_error" at Speaks {
        about: "the login relay could not make its private directory or Unix socket on this machine; the server was not at fault",
        hint: "the login relay needs a writable temporary directory (TMPDIR)",
        spec: "",
    }
}
