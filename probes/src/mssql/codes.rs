//! The `mssql` probe's failure and warning codes: the one place they are named, so that
//! results, `portproof codes` and `portproof explain` say the same thing. The certificate's
//! codes (`tls.*`) are the TLS engine's, and a rejected login is the core `auth.rejected`.

crate::codes! {
    /// The peer closed without answering PRELOGIN.
    NO_RESPONSE = failure "mssql.no_response" at Open {
        about: "the peer closed the connection without answering PRELOGIN (in clear text, or inside TLS for TDS 8.0)",
        hint: "the port accepts connections but does not speak TDS: check the port number, and whether the instance listens on TCP",
        spec: "[MS-TDS] 2.2.6.5",
    }
    /// The answer is not TDS as SQL Server sends it.
    MALFORMED = failure "mssql.malformed" at Open {
        about: "the peer's answer is not TDS as SQL Server sends it: not a tabular-result packet, a PRELOGIN answer that does not decode, or a login exchange the TDS client could not follow",
        hint: "the peer frames like TDS but its answer is broken: it is not a working SQL Server",
        spec: "[MS-TDS] 2.2.3.1, 2.2.6.5",
    }
    /// The server is not the instance the check names.
    INSTANCE_MISMATCH = failure "mssql.instance_mismatch" at Open {
        about: "the PRELOGIN answer says the server on this port is not the instance mssql.instance names (INSTOPT)",
        hint: "named instances listen on their own (often dynamic) port: ask the SQL Server Browser with mssql.browser: true",
        spec: "[MS-TDS] 2.2.6.5",
    }
    /// The server supports no encryption at all.
    NO_ENCRYPTION = warning "mssql.no_encryption" at Speaks {
        about: "the server answered PRELOGIN with ENCRYPT_NOT_SUP: it has no certificate, so logins cross the network in clear text (obfuscated, not encrypted)",
        hint: "install a certificate for SQL Server (Configuration Manager, Protocols, Certificate) and turn on Force Encryption",
        spec: "[MS-TDS] 2.2.6.5",
    }
    /// Encryption is mandatory, the server has none.
    ENCRYPTION_REFUSED = failure "mssql.encryption_refused" at Speaks {
        about: "mssql.encrypt is mandatory, and the server supports no encryption",
        hint: "install a certificate for SQL Server (Configuration Manager, Protocols, Certificate), or relax mssql.encrypt",
        spec: "[MS-TDS] 2.2.6.5",
    }
    /// The server forces encryption, the check disables it.
    ENCRYPTION_REQUIRED = failure "mssql.encryption_required" at Speaks {
        about: "mssql.encrypt is disable, and the server forces encryption (Force Encryption)",
        hint: "drop mssql.encrypt: disable; the server accepts only encrypted sessions",
        spec: "[MS-TDS] 2.2.6.5",
    }
    /// The login connection was offered no encryption.
    ENCRYPTION_DOWNGRADED = failure "mssql.encryption_downgraded" at Speaks {
        about: "the server offered encryption on the first connection and refused it on the login connection, so no password was sent",
        hint: "something between here and the server strips encryption, or another server answers: investigate before logging in",
        spec: "[MS-TDS] 2.2.6.5",
    }
    /// No TLS, and the probe sends no password in clear.
    PLAINTEXT_LOGIN_REFUSED = failure "mssql.plaintext_login_refused" at Speaks {
        about: "a login is asked for, the server supports no encryption, and the probe sends no password outside TLS",
        hint: "install a certificate on the server (SQL Server Configuration Manager), or allow a plain-text login explicitly with mssql.encrypt: disable",
        spec: "[MS-TDS] 2.2.6.5",
    }
    /// The server routes the session elsewhere.
    ROUTED = failure "mssql.routed" at Speaks {
        about: "the server accepted the login but routes the session to another server (ENVCHANGE routing), which the probe does not follow",
        hint: "Azure SQL (redirect policy) or an availability group listener sends clients elsewhere: check that address too",
        spec: "[MS-TDS] 2.2.7.9",
    }
    /// The login connection broke.
    IO = failure "mssql.io" at Speaks {
        about: "the connection failed while the TDS client logged in or queried",
        hint: "the server or the network dropped the login connection: check the server's error log and the path to it",
        spec: "",
    }
    /// The login failed for a reason without a code of its own.
    ERROR = failure "mssql.error" at Speaks {
        about: "the login or the query failed for a reason the message gives (not a numbered server error)",
        hint: "see the SQL Server error log for the reason",
        spec: "",
    }
    /// A numbered server error without a code of its own.
    SERVER_ERROR = failure family "mssql.error" at Speaks {
        about: "the server refused the login or the query with the error number the code ends in",
        hint: "see the SQL Server error log for the reason",
        spec: "[MS-TDS] 2.2.7.10",
    }
    /// Error 18452.
    WINDOWS_AUTH_ONLY = failure "mssql.windows_auth_only" at Speaks {
        about: "the server refused a SQL Server login because it accepts Windows authentication only (error 18452)",
        hint: "the server accepts Windows authentication only: switch it to SQL Server and Windows Authentication mode and restart the service",
        spec: "SQL Server error 18452",
    }
    /// Error 18470.
    LOGIN_DISABLED = failure "mssql.login_disabled" at Speaks {
        about: "the login exists but is disabled (error 18470)",
        hint: "the login is disabled: ALTER LOGIN ... ENABLE",
        spec: "SQL Server error 18470",
    }
    /// Error 18486.
    LOGIN_LOCKED = failure "mssql.login_locked" at Speaks {
        about: "the login is locked out by the password policy after failed attempts (error 18486)",
        hint: "the login is locked out by the password policy: ALTER LOGIN ... WITH PASSWORD ... UNLOCK",
        spec: "SQL Server error 18486",
    }
    /// Errors 18487 and 18488.
    PASSWORD_EXPIRED = failure "mssql.password_expired" at Speaks {
        about: "the login's password has expired or must be changed before first use (errors 18487, 18488)",
        hint: "the password has expired or must be changed before first use",
        spec: "SQL Server errors 18487, 18488",
    }
    /// Error 4060.
    DATABASE_UNAVAILABLE = failure "mssql.database_unavailable" at Speaks {
        about: "the login was accepted but the database asked for cannot be opened (error 4060)",
        hint: "the database does not exist, is offline, or the login has no user in it: fix mssql.database or map the login",
        spec: "SQL Server error 4060",
    }
    /// Error 4064.
    DEFAULT_DATABASE_UNAVAILABLE = failure "mssql.default_database_unavailable" at Speaks {
        about: "the login's default database cannot be opened (error 4064)",
        hint: "the login's default database cannot be opened: ALTER LOGIN ... WITH DEFAULT_DATABASE",
        spec: "SQL Server error 4064",
    }
    /// Errors 17809 and 17810.
    TOO_MANY_CONNECTIONS = failure "mssql.too_many_connections" at Speaks {
        about: "the server refused the login because its user connection limit is reached (errors 17809, 17810)",
        hint: "the server's user connection limit is reached",
        spec: "SQL Server errors 17809, 17810",
    }
    /// Error 40615.
    FIREWALL = failure "mssql.firewall" at Speaks {
        about: "Azure SQL refused the login because its firewall does not allow this client address (error 40615)",
        hint: "the Azure SQL firewall does not allow this client address",
        spec: "SQL Server error 40615",
    }
    /// Error 40532.
    SERVER_UNKNOWN = failure "mssql.server_unknown" at Speaks {
        about: "Azure SQL cannot open the server the login names (error 40532)",
        hint: "Azure SQL: the server name in the login does not match; use the full name or user@server",
        spec: "SQL Server error 40532",
    }
    /// The Browser did not answer in time.
    BROWSER_SILENT = warning "mssql.browser_silent" at Open {
        about: "mssql.browser asked the SQL Server Browser (UDP 1434) for the host's instances, and it did not answer in time: stopped, or filtered",
        hint: "start the SQL Server Browser service, or open UDP 1434 to this client; the TCP check does not depend on it",
        spec: "[MC-SQLR] 2.2.2",
    }
    /// The Browser could not be asked.
    BROWSER_UNREACHABLE = warning "mssql.browser_unreachable" at Open {
        about: "the SQL Server Browser could not be asked: its host did not resolve, the datagram could not be sent, or the port answered unreachable",
        hint: "check that the SQL Server Browser service runs and that UDP 1434 is reachable from here",
        spec: "[MC-SQLR] 2.2.2",
    }
    /// The Browser's port answered, but not as the Browser.
    BROWSER_MALFORMED = warning "mssql.browser_malformed" at Open {
        about: "the Browser's UDP port answered, but not with an SVR_RESP the probe can read",
        hint: "something other than the SQL Server Browser answers on that UDP port: check mssql.browser_port",
        spec: "[MC-SQLR] 2.2.5",
    }
    /// The Browser lists the instance on another port.
    INSTANCE_ELSEWHERE = warning "mssql.instance_elsewhere" at Open {
        about: "the SQL Server Browser says the named instance listens on another TCP port than the one checked",
        hint: "check the port the Browser names for this instance, or give the instance a static port",
        spec: "[MC-SQLR] 2.2.5",
    }
    /// The Browser does not list the instance.
    INSTANCE_UNLISTED = warning "mssql.instance_unlisted" at Open {
        about: "the SQL Server Browser does not list the instance mssql.instance names",
        hint: "check the instance name, and that the instance runs and is not hidden from the Browser (HideInstance)",
        spec: "[MC-SQLR] 2.2.5",
    }
}
