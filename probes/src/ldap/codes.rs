//! The codes of the `ldap` probe. The families end in the name RFC 4511 §4.1.9 gives the
//! server's result code (`ldap.bind.invalidCredentials`), or `code<N>` for one it does not name.

crate::codes! {
    /// Nothing came back.
    NO_RESPONSE = failure "ldap.no_response" at Open {
        about: "the port accepted the connection but closed it without answering the first LDAP request",
        hint: "not an LDAP port, or LDAP over TLS (use expect: ldaps, usually port 636)",
        spec: "RFC 4511 §4.1.1",
    }
    /// Not an LDAP answer.
    MALFORMED = failure "ldap.malformed" at Open {
        about: "the answer is not an LDAPMessage answering the request (not BER, another message id or operation, an absurd length or nesting)",
        hint: "the port speaks something other than LDAP: check the port number",
        spec: "RFC 4511 §4.1.1, §5.1",
    }
    /// The bind was refused.
    BIND = failure family "ldap.bind" at Speaks {
        about: "the server refused the simple bind with the result code named at the end (invalidCredentials, inappropriateAuthentication, confidentialityRequired, ...); with a login this fails the check",
        hint: "check the bind DN and its password; confidentialityRequired wants StartTLS (--starttls) or ldaps first",
        spec: "RFC 4511 §4.2.2, §4.1.9; RFC 4513 §5.1",
    }
    /// StartTLS was refused.
    STARTTLS = failure family "ldap.starttls" at Speaks {
        about: "the server refused the StartTLS extended operation with the result code named at the end (protocolError: the operation is not supported, unavailable: no TLS configured)",
        hint: "configure TLS on the directory server (OpenLDAP: olcTLSCertificateFile and olcTLSCertificateKeyFile), or use ldaps if it listens on 636",
        spec: "RFC 4511 §4.14.2",
    }
    /// The RootDSE search failed.
    SEARCH = failure family "ldap.search" at Speaks {
        about: "the server refused the RootDSE search (base \"\", scope base) with the result code named at the end",
        hint: "the directory's access rules hide the RootDSE from this identity: allow read on the root DSE (OpenLDAP: access to dn.base=\"\" by * read), or give a login",
        spec: "RFC 4512 §5.1; RFC 4511 §4.5",
    }
    /// The search succeeded without the entry.
    ROOTDSE_EMPTY = failure "ldap.rootdse_empty" at Speaks {
        about: "the RootDSE search ended in success without returning the entry: the server hides it from this identity",
        hint: "allow read on the root DSE for this identity, or give a login",
        spec: "RFC 4512 §5.1",
    }
    /// The server said it is disconnecting.
    DISCONNECTED = failure family "ldap.disconnected" at Speaks {
        about: "the server sent a Notice of Disconnection (an unsolicited notification) with the result code named at the end, and closed",
        hint: "the server is shutting down or refuses this client (unavailable, protocolError, strongerAuthRequired): see its logs",
        spec: "RFC 4511 §4.4.1",
    }
}
