//! The PostgreSQL frontend/backend protocol 3.0, as far as a probe reads it before a login:
//! SSLRequest, StartupMessage, and the backend messages that answer them (Authentication*,
//! ErrorResponse, ParameterStatus, BackendKeyData, ReadyForQuery).
//!
//! Reference: PostgreSQL documentation, chapter "Frontend/Backend Protocol", sections
//! "Message Flow: Start-up" and "Message Formats".
//!
//! Every length is checked against the bytes that are there: a parse can fail, never read out
//! of bounds or allocate beyond the message it was given.

use std::collections::BTreeMap;

/// The SSLRequest code (1234 << 16 | 5679).
pub const SSL_REQUEST_CODE: u32 = 80_877_103;
/// Protocol version 3.0 in a StartupMessage.
pub const PROTOCOL_3_0: u32 = 196_608;
/// The largest backend message accepted before the session starts. Error texts and parameter
/// values are short; a length beyond this is a peer that is not PostgreSQL or is broken.
pub const MAX_STARTUP_MESSAGE: u32 = 64 * 1024;

pub use crate::WireError;
/// SSLRequest: length 8, then the code.
pub fn ssl_request() -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&8u32.to_be_bytes());
    b[4..].copy_from_slice(&SSL_REQUEST_CODE.to_be_bytes());
    b
}

/// StartupMessage for protocol 3.0 with `user`, `database` and an application name.
pub fn startup(user: &str, database: &str) -> Vec<u8> {
    let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", database), ("application_name", "portproof")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.replace('\0', "").as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = u32::try_from(body.len() + 4).unwrap_or(u32::MAX).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Terminate: the polite goodbye.
pub const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

/// A backend message header: its type byte and the length of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `R` authentication, `E` error, `S` parameter status, `K` key data, `Z` ready, ...
    pub kind: u8,
    /// Bytes of the body (the length field counts itself; this does not).
    pub body_len: u32,
}

/// Reads a message header from 5 bytes; an impossible length (under 4) is an error.
pub fn header(b: &[u8; 5]) -> Result<Header, WireError> {
    let len = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
    if len < 4 {
        return Err(WireError(format!("message {:?} claims a length of {len} (at least 4)", char::from(b[0]))));
    }
    Ok(Header { kind: b[0], body_len: len - 4 })
}

/// What the server asks for in an Authentication message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// AuthenticationOk: no password needed (trust, or a method already satisfied).
    Ok,
    /// Kerberos V5 (long gone from servers, still in the protocol).
    KerberosV5,
    /// A password in clear text.
    Cleartext,
    /// An MD5 hash of the password with this salt.
    Md5,
    /// GSSAPI.
    Gss,
    /// SSPI (Windows).
    Sspi,
    /// SASL with these mechanisms (`SCRAM-SHA-256`, `SCRAM-SHA-256-PLUS`).
    Sasl(Vec<String>),
    /// A code this probe does not know.
    Other(u32),
}

impl Auth {
    /// The method as pg_hba.conf names it.
    pub fn method(&self) -> String {
        match self {
            Auth::Ok => "trust".into(),
            Auth::KerberosV5 => "krb5".into(),
            Auth::Cleartext => "password".into(),
            Auth::Md5 => "md5".into(),
            Auth::Gss => "gss".into(),
            Auth::Sspi => "sspi".into(),
            Auth::Sasl(m) if m.iter().any(|m| m.starts_with("SCRAM-SHA-256")) => "scram-sha-256".into(),
            Auth::Sasl(m) => format!("sasl ({})", m.join(", ")),
            Auth::Other(c) => format!("unknown ({c})"),
        }
    }
}

/// Decodes an Authentication message's body. Continuation messages (SASL challenges, GSS
/// data) are not expected before a password is sent and come back as `Other`.
pub fn auth(body: &[u8]) -> Result<Auth, WireError> {
    let code = body.get(..4).ok_or_else(|| WireError("Authentication message shorter than its code".into()))?;
    let code = u32::from_be_bytes([code[0], code[1], code[2], code[3]]);
    Ok(match code {
        0 => Auth::Ok,
        2 => Auth::KerberosV5,
        3 => Auth::Cleartext,
        5 => {
            if body.len() < 8 {
                return Err(WireError("AuthenticationMD5Password without its 4-byte salt".into()));
            }
            Auth::Md5
        }
        7 => Auth::Gss,
        9 => Auth::Sspi,
        10 => Auth::Sasl(cstrings(&body[4..]).into_iter().filter(|s| !s.is_empty()).collect()),
        other => Auth::Other(other),
    })
}

/// An ErrorResponse or NoticeResponse: field type letters to values (`S` severity, `V`
/// non-localized severity, `C` SQLSTATE, `M` message, `D` detail, `H` hint, ...).
pub fn fields(body: &[u8]) -> BTreeMap<char, String> {
    let mut out = BTreeMap::new();
    let mut rest = body;
    while let Some((&kind, tail)) = rest.split_first() {
        if kind == 0 {
            break;
        }
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        out.insert(char::from(kind), String::from_utf8_lossy(&tail[..end]).into_owned());
        rest = tail.get(end + 1..).unwrap_or_default();
    }
    out
}

/// A ParameterStatus body: name and value.
pub fn parameter(body: &[u8]) -> Option<(String, String)> {
    let mut parts = cstrings(body).into_iter();
    Some((parts.next()?, parts.next()?))
}

fn cstrings(b: &[u8]) -> Vec<String> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    b.split(|&c| c == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_request_and_startup_are_well_formed() {
        assert_eq!(ssl_request(), [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
        let s = startup("postgres", "postgres");
        assert_eq!(u32::from_be_bytes(s[..4].try_into().unwrap()) as usize, s.len());
        assert_eq!(&s[4..8], &[0, 3, 0, 0]);
        assert!(s.ends_with(b"application_name\0portproof\0\0"));
    }

    #[test]
    fn authentication_requests_decode() {
        // R | len 23 | 10 SASL | "SCRAM-SHA-256\0\0": what PostgreSQL 15 sends for scram-sha-256.
        let sasl = b"\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00";
        assert_eq!(auth(sasl).unwrap().method(), "scram-sha-256");
        assert_eq!(auth(&[0, 0, 0, 5, 1, 2, 3, 4]).unwrap(), Auth::Md5);
        assert!(auth(&[0, 0, 0, 5, 1]).is_err());
        assert_eq!(auth(&[0, 0, 0, 0]).unwrap().method(), "trust");
        assert!(auth(&[0, 0]).is_err());
        assert_eq!(auth(&[0, 0, 0, 99]).unwrap(), Auth::Other(99));
    }

    #[test]
    fn error_fields_decode_and_tolerate_truncation() {
        let body = b"SFATAL\0VFATAL\0C28000\0Mno pg_hba.conf entry for host \"127.0.0.1\"\0\0";
        let f = fields(body);
        assert_eq!(f[&'C'], "28000");
        assert!(f[&'M'].starts_with("no pg_hba.conf entry"));
        let f = fields(b"C53300\0Mtoo many");
        assert_eq!((f[&'C'].as_str(), f[&'M'].as_str()), ("53300", "too many"));
        assert!(fields(b"").is_empty());
    }

    #[test]
    fn headers_refuse_impossible_lengths() {
        assert_eq!(header(b"R\0\0\0\x08").unwrap(), Header { kind: b'R', body_len: 4 });
        assert!(header(b"E\0\0\0\x02").is_err());
        assert_eq!(parameter(b"server_version\x0015.2\0"), Some(("server_version".into(), "15.2".into())));
        assert_eq!(parameter(b"only"), None);
    }
}
