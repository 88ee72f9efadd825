//! The MySQL client/server protocol (MySQL and MariaDB), as far as a probe reads it before a
//! login: packets, the server's Protocol::HandshakeV10, ERR_Packet, and the client's
//! SSLRequest and HandshakeResponse41.
//!
//! Reference: MySQL Source Code Documentation, "Client/Server Protocol": Basic Packets,
//! Connection Phase, Protocol::HandshakeV10, Protocol::SSLRequest,
//! Protocol::HandshakeResponse41, ERR_Packet; MariaDB's "Connection" page for its extended
//! capabilities and the `5.5.5-` version prefix.
//!
//! Every length is checked against the bytes that are there: a parse can fail, never read out
//! of bounds or allocate beyond the packet it was given.

/// Capability flags (Protocol::CapabilityFlags).
pub mod caps {
    /// CLIENT_LONG_PASSWORD.
    pub const LONG_PASSWORD: u32 = 0x0000_0001;
    /// CLIENT_CONNECT_WITH_DB.
    pub const CONNECT_WITH_DB: u32 = 0x0000_0008;
    /// CLIENT_COMPRESS.
    pub const COMPRESS: u32 = 0x0000_0020;
    /// CLIENT_PROTOCOL_41.
    pub const PROTOCOL_41: u32 = 0x0000_0200;
    /// CLIENT_SSL: the server can switch to TLS.
    pub const SSL: u32 = 0x0000_0800;
    /// CLIENT_TRANSACTIONS.
    pub const TRANSACTIONS: u32 = 0x0000_2000;
    /// CLIENT_SECURE_CONNECTION (4.1 authentication).
    pub const SECURE_CONNECTION: u32 = 0x0000_8000;
    /// CLIENT_MULTI_STATEMENTS.
    pub const MULTI_STATEMENTS: u32 = 0x0001_0000;
    /// CLIENT_PLUGIN_AUTH.
    pub const PLUGIN_AUTH: u32 = 0x0008_0000;
    /// CLIENT_CONNECT_ATTRS.
    pub const CONNECT_ATTRS: u32 = 0x0010_0000;
    /// CLIENT_DEPRECATE_EOF.
    pub const DEPRECATE_EOF: u32 = 0x0100_0000;
    /// The names of the flags worth reporting, lowest bit first.
    pub const NAMES: &[(u32, &str)] = &[
        (CONNECT_WITH_DB, "connect_with_db"),
        (COMPRESS, "compress"),
        (PROTOCOL_41, "protocol_41"),
        (SSL, "ssl"),
        (TRANSACTIONS, "transactions"),
        (SECURE_CONNECTION, "secure_connection"),
        (MULTI_STATEMENTS, "multi_statements"),
        (PLUGIN_AUTH, "plugin_auth"),
        (CONNECT_ATTRS, "connect_attrs"),
        (DEPRECATE_EOF, "deprecate_eof"),
    ];
}

/// The largest packet read before a login; greetings and errors are a few hundred bytes.
pub const MAX_HANDSHAKE_PACKET: usize = 64 * 1024;

pub use crate::WireError;
use crate::wire_err as err;

/// A packet header: 3-byte little-endian payload length and a sequence id.
pub fn header(b: &[u8; 4]) -> (usize, u8) {
    (usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16, b[3])
}

/// Frames `payload` as a packet with sequence id `seq`.
pub fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len().min(0xFF_FFFF);
    let mut out = vec![(n & 0xff) as u8, (n >> 8 & 0xff) as u8, (n >> 16 & 0xff) as u8, seq];
    out.extend_from_slice(&payload[..n]);
    out
}

/// The server's greeting, Protocol::HandshakeV10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// Always 10 for servers since 3.21.
    pub protocol: u8,
    /// The version string as sent (MariaDB's starts `5.5.5-`).
    pub raw_version: String,
    /// Connection id.
    pub connection_id: u32,
    /// Capability flags (both halves).
    pub capabilities: u32,
    /// Default character set id.
    pub charset: u8,
    /// Status flags.
    pub status: u16,
    /// Default authentication plugin, when sent.
    pub auth_plugin: Option<String>,
    /// MariaDB's extended capabilities (the last 4 reserved bytes), when the server is MariaDB.
    pub mariadb_caps: Option<u32>,
}

impl Greeting {
    /// The version with MariaDB's `5.5.5-` compatibility prefix removed.
    pub fn version(&self) -> &str {
        self.raw_version.strip_prefix("5.5.5-").unwrap_or(&self.raw_version)
    }

    /// `MariaDB` or `MySQL`, from the version string.
    pub fn product(&self) -> &'static str {
        if self.raw_version.to_ascii_lowercase().contains("mariadb") { "MariaDB" } else { "MySQL" }
    }

    /// Whether the server offers TLS.
    pub fn offers_tls(&self) -> bool {
        self.capabilities & caps::SSL != 0
    }

    /// The names of the notable capabilities set.
    pub fn capability_names(&self) -> Vec<&'static str> {
        caps::NAMES.iter().filter(|(bit, _)| self.capabilities & bit != 0).map(|(_, n)| *n).collect()
    }
}

/// The name of a character set id, for the common ones.
pub fn charset_name(id: u8) -> String {
    match id {
        8 => "latin1_swedish_ci".into(),
        33 => "utf8mb3_general_ci".into(),
        45 => "utf8mb4_general_ci".into(),
        46 => "utf8mb4_bin".into(),
        63 => "binary".into(),
        224 => "utf8mb4_unicode_ci".into(),
        255 => "utf8mb4_0900_ai_ci".into(),
        other => format!("charset {other}"),
    }
}

/// Decodes Protocol::HandshakeV10.
pub fn greeting(p: &[u8]) -> Result<Greeting, WireError> {
    let mut c = Cursor(p);
    let protocol = c.u8()?;
    if protocol != 10 {
        return err(format!("protocol version {protocol}, not 10"));
    }
    let raw_version = c.cstring()?;
    let connection_id = c.u32()?;
    c.take(8)?; // auth-plugin-data-part-1
    c.take(1)?; // filler
    let low = u32::from(c.u16()?);
    // A 3.x-era greeting ends here.
    if c.0.is_empty() {
        return Ok(Greeting {
            protocol,
            raw_version,
            connection_id,
            capabilities: low,
            charset: 0,
            status: 0,
            auth_plugin: None,
            mariadb_caps: None,
        });
    }
    let charset = c.u8()?;
    let status = c.u16()?;
    let capabilities = low | u32::from(c.u16()?) << 16;
    let auth_len = c.u8()?;
    let reserved = c.take(10)?;
    let mariadb_caps = (capabilities & caps::LONG_PASSWORD == 0 || raw_version.contains("MariaDB"))
        .then(|| u32::from_le_bytes([reserved[6], reserved[7], reserved[8], reserved[9]]))
        .filter(|_| raw_version.contains("MariaDB"));
    if capabilities & caps::SECURE_CONNECTION != 0 {
        let n = usize::from(auth_len).saturating_sub(8).max(13);
        c.take(n.min(c.0.len()))?;
    }
    let auth_plugin = if capabilities & caps::PLUGIN_AUTH != 0 && !c.0.is_empty() {
        // Some servers omit the terminating NUL of the last field.
        let end = c.0.iter().position(|&b| b == 0).unwrap_or(c.0.len());
        Some(String::from_utf8_lossy(&c.0[..end]).into_owned())
    } else {
        None
    };
    Ok(Greeting { protocol, raw_version, connection_id, capabilities, charset, status, auth_plugin, mariadb_caps })
}

/// An ERR_Packet: code, SQLSTATE when marked, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    /// The error number (1045, 1129, 1130, 1040, 3159, ...).
    pub code: u16,
    /// The SQLSTATE, when the packet carries the `#` marker.
    pub sqlstate: Option<String>,
    /// The server's words.
    pub message: String,
}

/// Decodes an ERR_Packet (first byte 0xFF).
pub fn err_packet(p: &[u8]) -> Result<ErrPacket, WireError> {
    let mut c = Cursor(p);
    if c.u8()? != 0xFF {
        return err("not an ERR packet");
    }
    let code = c.u16()?;
    let sqlstate = if c.0.first() == Some(&b'#') && c.0.len() >= 6 {
        let s = String::from_utf8_lossy(&c.0[1..6]).into_owned();
        c.take(6)?;
        Some(s)
    } else {
        None
    };
    Ok(ErrPacket { code, sqlstate, message: String::from_utf8_lossy(c.0).into_owned() })
}

/// The client capabilities the probe announces: 4.1 protocol and authentication, plugins.
pub const CLIENT_CAPS: u32 =
    caps::LONG_PASSWORD | caps::PROTOCOL_41 | caps::SECURE_CONNECTION | caps::PLUGIN_AUTH | caps::TRANSACTIONS;

/// Protocol::SSLRequest: the first 32 bytes of a HandshakeResponse41 with CLIENT_SSL set.
pub fn ssl_request() -> Vec<u8> {
    let mut p = (CLIENT_CAPS | caps::SSL).to_le_bytes().to_vec();
    p.extend_from_slice(&(16u32 << 20).to_le_bytes()); // max packet size
    p.push(45); // utf8mb4_general_ci
    p.extend_from_slice(&[0; 23]);
    p
}

/// Protocol::HandshakeResponse41 for `user` with an empty authentication response: the probe
/// sends no password. It answers the greeting so the server counts an authentication error,
/// not a handshake error (`max_connect_errors` blocks a host after too many of those).
pub fn handshake_response(user: &str, tls: bool, plugin: Option<&str>) -> Vec<u8> {
    let mut flags = CLIENT_CAPS;
    if tls {
        flags |= caps::SSL;
    }
    let mut p = flags.to_le_bytes().to_vec();
    p.extend_from_slice(&(16u32 << 20).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(user.replace('\0', "").as_bytes());
    p.push(0);
    p.push(0); // auth response length 0
    p.extend_from_slice(plugin.unwrap_or("mysql_native_password").as_bytes());
    p.push(0);
    p
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.0.len() {
            return err(format!("a field claims {n} bytes where only {} remain", self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn cstring(&mut self) -> Result<String, WireError> {
        let end = self.0.iter().position(|&b| b == 0).ok_or_else(|| WireError("a string without its NUL".into()))?;
        let s = String::from_utf8_lossy(&self.0[..end]).into_owned();
        self.0 = &self.0[end + 1..];
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MariaDB 10.11.19's greeting on this machine's 3306, captured on loopback.
    const MARIADB: &[u8] = include_bytes!("fixtures/mariadb-10.11-greeting.bin");

    #[test]
    fn mariadb_greeting_decodes() {
        let (len, seq) = header(MARIADB[..4].try_into().unwrap());
        assert_eq!((len + 4, seq), (MARIADB.len(), 0));
        let g = greeting(&MARIADB[4..]).unwrap();
        assert_eq!(g.protocol, 10);
        assert!(g.raw_version.starts_with("5.5.5-10.11"), "{}", g.raw_version);
        assert!(g.version().starts_with("10.11"));
        assert_eq!(g.product(), "MariaDB");
        assert_eq!(g.auth_plugin.as_deref(), Some("mysql_native_password"));
        assert!(g.capability_names().contains(&"protocol_41"));
        assert!(g.mariadb_caps.is_some());
    }

    #[test]
    fn err_packets_with_and_without_sqlstate() {
        // ff | 6a 04 = 1130 | "Host '10.0.0.9' is not allowed..." (sent before the greeting: no marker)
        let mut p = vec![0xff, 0x6a, 0x04];
        p.extend_from_slice(b"Host '10.0.0.9' is not allowed to connect to this MariaDB server");
        let e = err_packet(&p).unwrap();
        assert_eq!((e.code, e.sqlstate.as_deref()), (1130, None));
        // ff | 15 04 = 1045 | #28000 | "Access denied ..."
        let mut p = vec![0xff, 0x15, 0x04, b'#'];
        p.extend_from_slice(b"28000Access denied for user 'x'@'localhost' (using password: NO)");
        let e = err_packet(&p).unwrap();
        assert_eq!((e.code, e.sqlstate.as_deref()), (1045, Some("28000")));
        assert!(e.message.starts_with("Access denied"));
        assert!(err_packet(&[0xff, 1]).is_err());
    }

    #[test]
    fn truncated_greetings_fail_without_panicking() {
        for n in 0..MARIADB.len() - 4 {
            let _ = greeting(&MARIADB[4..4 + n]);
        }
        assert!(greeting(&[9, b'x', 0]).unwrap_err().0.contains("protocol version 9"));
        assert!(greeting(&[10, b'x']).is_err());
    }

    #[test]
    fn client_packets_are_well_formed() {
        assert_eq!(ssl_request().len(), 32);
        let p = packet(1, &ssl_request());
        assert_eq!(&p[..4], &[32, 0, 0, 1]);
        let r = handshake_response("portproof", true, Some("caching_sha2_password"));
        assert_eq!(u32::from_le_bytes(r[..4].try_into().unwrap()) & caps::SSL, caps::SSL);
        assert!(r.ends_with(b"portproof\0\0caching_sha2_password\0"));
    }
}
