//! The parts of TDS the `mssql` probe reads and writes itself: the packet header, PRELOGIN
//! ([MS-TDS] 2.2.6.5) and the SQL Server Browser's answer ([MC-SQLR] 2.2.5 SVR_RESP).
//!
//! tiberius does the login, but it keeps the PRELOGIN answer to itself: the server's version,
//! its encryption setting, whether it knows the instance and whether it needs federated
//! authentication are exactly what a diagnosis without credentials has to show. Pure functions
//! over byte slices, so the fuzz target and the fixtures reach them without a socket.

/// Packet type of PRELOGIN, and of the TLS handshake records TDS 7.x wraps in it.
pub const PRELOGIN: u8 = 0x12;
/// Packet type of every server answer ("tabular result").
pub const TABULAR: u8 = 0x04;
/// Status bit: the last packet of a message.
pub const END_OF_MESSAGE: u8 = 0x01;
/// Length of the packet header.
pub const HEADER_LEN: usize = 8;
/// The largest packet accepted: a PRELOGIN answer is a few dozen bytes, TLS handshake packets
/// at most the negotiated packet size (4096 by default, 32767 at most).
pub const MAX_PACKET: usize = 32_768;
/// The ALPN protocol of TDS 8.0 strict encryption.
pub const TDS8_ALPN: &[u8] = b"tds/8.0";

/// PRELOGIN option tokens.
const VERSION: u8 = 0x00;
const ENCRYPTION: u8 = 0x01;
const INSTOPT: u8 = 0x02;
const THREADID: u8 = 0x03;
const MARS: u8 = 0x04;
const FEDAUTHREQUIRED: u8 = 0x06;
const NONCEOPT: u8 = 0x07;
const TERMINATOR: u8 = 0xFF;
/// More options than any server sends (SQL Server 2022 sends at most 8).
const MAX_OPTIONS: usize = 32;

pub use crate::WireError;
use crate::wire_err as err;

/// A TDS packet header ([MS-TDS] 2.2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Packet type (0x04 tabular result, 0x12 PRELOGIN, ...).
    pub kind: u8,
    /// Status bits (0x01 end of message).
    pub status: u8,
    /// Length of the packet, header included.
    pub len: usize,
}

impl Header {
    /// Length of the data after the header.
    pub fn body_len(&self) -> usize {
        self.len - HEADER_LEN
    }
}

/// Decodes a packet header, refusing lengths no server sends.
pub fn header(b: &[u8; HEADER_LEN]) -> Result<Header, WireError> {
    let len = u16::from_be_bytes([b[2], b[3]]) as usize;
    if len < HEADER_LEN {
        return err(format!("a TDS packet header claims {len} bytes, less than the header itself"));
    }
    if len > MAX_PACKET {
        return err(format!("a TDS packet header claims {len} bytes (at most {MAX_PACKET})"));
    }
    Ok(Header { kind: b[0], status: b[1], len })
}

/// A packet of `kind` around `body`, the whole message in one packet.
pub fn packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(HEADER_LEN + body.len()).unwrap_or(u16::MAX);
    let mut p = Vec::with_capacity(HEADER_LEN + body.len());
    p.extend_from_slice(&[kind, END_OF_MESSAGE]);
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[0, 0, 1, 0]); // SPID 0, packet id 1, window 0
    p.extend_from_slice(body);
    p
}

/// The ENCRYPTION option, as the client asks and as the server answers
/// ([MS-TDS] 2.2.6.5; the server's answer follows the table in that section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// 0x00: TLS for the login packet only, the rest of the session in clear.
    Off,
    /// 0x01: TLS for the whole session.
    On,
    /// 0x02: no TLS at all (the server has no certificate, or the client cannot).
    NotSupported,
    /// 0x03: the server insists on TLS for the whole session (Force Encryption).
    Required,
    /// Anything else (0x80 ENCRYPT_CLIENT_CERT and combinations).
    Other(u8),
}

impl Encryption {
    /// From the option byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            0 => Encryption::Off,
            1 => Encryption::On,
            2 => Encryption::NotSupported,
            3 => Encryption::Required,
            other => Encryption::Other(other),
        }
    }

    /// The option byte.
    pub fn byte(self) -> u8 {
        match self {
            Encryption::Off => 0,
            Encryption::On => 1,
            Encryption::NotSupported => 2,
            Encryption::Required => 3,
            Encryption::Other(b) => b,
        }
    }

    /// The name the report shows.
    pub fn describe(self) -> String {
        match self {
            Encryption::Off => "off (TLS for the login only)".into(),
            Encryption::On => "on".into(),
            Encryption::NotSupported => "not supported".into(),
            Encryption::Required => "required".into(),
            Encryption::Other(b) => format!("0x{b:02x}"),
        }
    }

    /// Whether a TLS handshake follows this answer.
    pub fn uses_tls(self) -> bool {
        !matches!(self, Encryption::NotSupported)
    }
}

/// A PRELOGIN request: the client version portproof claims, the encryption it asks for and the
/// instance it means ("" for whichever listens on the port).
pub fn prelogin_request(encryption: Encryption, instance: &str) -> Vec<u8> {
    // Instance names are ASCII in practice; a name with NUL would cut the option short.
    let mut inst: Vec<u8> = instance.bytes().filter(|&b| b != 0).take(255).collect();
    inst.push(0);
    let options: [(u8, Vec<u8>); 5] = [
        // Client version: portproof 0.1 (major, minor, build BE, sub-build LE as drivers send).
        (VERSION, vec![0, 1, 0, 0, 0, 0]),
        (ENCRYPTION, vec![encryption.byte()]),
        (INSTOPT, inst),
        (THREADID, std::process::id().to_be_bytes().to_vec()),
        (MARS, vec![0]),
    ];
    let table_len = options.len() * 5 + 1;
    let mut table = Vec::with_capacity(table_len);
    let mut data = Vec::new();
    for (token, value) in &options {
        let offset = (table_len + data.len()) as u16;
        table.push(*token);
        table.extend_from_slice(&offset.to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
    }
    table.push(TERMINATOR);
    table.extend_from_slice(&data);
    packet(PRELOGIN, &table)
}

/// What a server's PRELOGIN answer says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prelogin {
    /// Server version: major, minor, build, sub-build.
    pub version: Option<(u8, u8, u16, u16)>,
    /// The encryption the server chose.
    pub encryption: Option<u8>,
    /// INSTOPT: 0 when the server is the instance the client named, otherwise not.
    pub instance_ok: Option<bool>,
    /// MARS: whether the server agreed to multiple active result sets.
    pub mars: Option<bool>,
    /// FEDAUTHREQUIRED: the server wants federated (Entra ID) authentication.
    pub fed_auth_required: Option<bool>,
    /// A NONCE came (Azure SQL with federated authentication).
    pub nonce: bool,
    /// Option tokens this parser does not know, in order.
    pub unknown: Vec<u8>,
}

impl Prelogin {
    /// The encryption answer as an [`Encryption`].
    pub fn encryption(&self) -> Option<Encryption> {
        self.encryption.map(Encryption::from_byte)
    }

    /// `16.0.4135.4`, when the server sent its version.
    pub fn version_string(&self) -> Option<String> {
        self.version.map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"))
    }
}

/// Parses the body of a PRELOGIN answer: the option table, each option within the body.
pub fn prelogin(body: &[u8]) -> Result<Prelogin, WireError> {
    let mut p = Prelogin::default();
    let mut at = 0;
    let mut seen = 0;
    loop {
        let Some(&token) = body.get(at) else {
            return err("the PRELOGIN option table has no terminator");
        };
        if token == TERMINATOR {
            break;
        }
        seen += 1;
        if seen > MAX_OPTIONS {
            return err(format!("the PRELOGIN option table lists more than {MAX_OPTIONS} options"));
        }
        let Some(entry) = body.get(at + 1..at + 5) else {
            return err("the PRELOGIN option table ends inside an entry");
        };
        let offset = u16::from_be_bytes([entry[0], entry[1]]) as usize;
        let len = u16::from_be_bytes([entry[2], entry[3]]) as usize;
        let Some(value) = body.get(offset..offset + len) else {
            return err(format!(
                "PRELOGIN option 0x{token:02x} points at bytes {offset}..{} of a {}-byte answer",
                offset + len,
                body.len()
            ));
        };
        match token {
            VERSION if len >= 6 => {
                p.version = Some((
                    value[0],
                    value[1],
                    u16::from_be_bytes([value[2], value[3]]),
                    u16::from_le_bytes([value[4], value[5]]),
                ))
            }
            VERSION => return err(format!("the PRELOGIN VERSION option has {len} bytes, not 6")),
            ENCRYPTION if len >= 1 => p.encryption = Some(value[0]),
            INSTOPT if len >= 1 => p.instance_ok = Some(value[0] == 0),
            MARS if len >= 1 => p.mars = Some(value[0] != 0),
            FEDAUTHREQUIRED if len >= 1 => p.fed_auth_required = Some(value[0] != 0),
            NONCEOPT => p.nonce = len > 0,
            ENCRYPTION | INSTOPT | MARS | FEDAUTHREQUIRED | THREADID => {}
            other => {
                if p.unknown.len() < MAX_OPTIONS {
                    p.unknown.push(other);
                }
            }
        }
        at += 5;
    }
    if p.version.is_none() {
        return err("the PRELOGIN answer has no VERSION option");
    }
    Ok(p)
}

/// Where the value of option `token` lies in a PRELOGIN body, if the body has it.
fn option_range(body: &[u8], token: u8) -> Option<std::ops::Range<usize>> {
    let mut at = 0;
    for _ in 0..MAX_OPTIONS {
        let t = *body.get(at)?;
        if t == TERMINATOR {
            return None;
        }
        let entry = body.get(at + 1..at + 5)?;
        let offset = u16::from_be_bytes([entry[0], entry[1]]) as usize;
        let len = u16::from_be_bytes([entry[2], entry[3]]) as usize;
        if t == token {
            return (offset + len <= body.len()).then_some(offset..offset + len);
        }
        at += 5;
    }
    None
}

/// Sets the one-byte ENCRYPTION option of a PRELOGIN body (the client's request or the
/// server's answer); false when the body has none.
pub fn set_encryption(body: &mut [u8], e: Encryption) -> bool {
    match option_range(body, ENCRYPTION) {
        Some(r) if !r.is_empty() => {
            body[r.start] = e.byte();
            true
        }
        _ => false,
    }
}

/// Zeroes the THREADID option of a server's PRELOGIN answer (servers send it empty; a
/// client may insist on that).
pub fn clear_thread_id(body: &mut [u8]) {
    if let Some(r) = option_range(body, THREADID) {
        body[r].fill(0);
    }
}

/// The marketing name of a SQL Server version, from the PRELOGIN major and minor numbers.
pub fn release_name(major: u8, minor: u8) -> Option<&'static str> {
    Some(match (major, minor) {
        (8, _) => "SQL Server 2000",
        (9, _) => "SQL Server 2005",
        (10, 50) => "SQL Server 2008 R2",
        (10, _) => "SQL Server 2008",
        (11, _) => "SQL Server 2012",
        (12, _) => "SQL Server 2014",
        (13, _) => "SQL Server 2016",
        (14, _) => "SQL Server 2017",
        (15, _) => "SQL Server 2019",
        (16, _) => "SQL Server 2022",
        (17, _) => "SQL Server 2025",
        _ => return None,
    })
}

/// CLNT_UCAST_EX ([MC-SQLR] 2.2.2): "list every instance on this machine".
pub const BROWSER_REQUEST: [u8; 1] = [0x03];

/// One instance the SQL Server Browser lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BrowserInstance {
    /// Name of the machine.
    pub server_name: String,
    /// Instance name (`MSSQLSERVER` for the default instance).
    pub instance: String,
    /// Whether it is part of a failover cluster.
    pub clustered: bool,
    /// Its version (`16.0.1000.6`).
    pub version: String,
    /// Its TCP port, when it listens on TCP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_port: Option<u16>,
    /// Its named pipe, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_pipe: Option<String>,
}

/// Parses SVR_RESP: 0x05, a little-endian length, then `key;value;...;;` per instance.
pub fn browser_response(b: &[u8]) -> Result<Vec<BrowserInstance>, WireError> {
    if b.len() < 3 || b[0] != 0x05 {
        return err("the answer is not a SQL Server Browser SVR_RESP (0x05)");
    }
    let len = u16::from_le_bytes([b[1], b[2]]) as usize;
    let Some(text) = b.get(3..3 + len) else {
        return err(format!("SVR_RESP claims {len} bytes and carries {}", b.len() - 3));
    };
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    for record in text.split(";;").filter(|r| !r.trim().is_empty()) {
        let fields: Vec<&str> = record.split(';').collect();
        let mut inst = BrowserInstance::default();
        for pair in fields.chunks(2) {
            let (k, v) = (pair[0], pair.get(1).copied().unwrap_or(""));
            let v = clip(v);
            match k.to_ascii_lowercase().as_str() {
                "servername" => inst.server_name = v,
                "instancename" => inst.instance = v,
                "isclustered" => inst.clustered = v.eq_ignore_ascii_case("yes"),
                "version" => inst.version = v,
                "tcp" => inst.tcp_port = v.parse().ok(),
                "np" => inst.named_pipe = Some(v),
                _ => {}
            }
        }
        if inst.instance.is_empty() {
            return err(format!("a SVR_RESP record names no instance: {}", clip(record)));
        }
        // No cap here: a datagram bounds the list, and a search must see all of it.
        out.push(inst);
    }
    Ok(out)
}

/// A peer-chosen string cut to what a report can carry.
fn clip(s: &str) -> String {
    s.chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of an annotated fixture: hex pairs, `#` to the end of a line is a comment.
    fn fixture(text: &str) -> Vec<u8> {
        let hex: String =
            text.lines().map(|l| l.split('#').next().unwrap_or("")).flat_map(|l| l.split_whitespace()).collect();
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
    }

    fn body(packet: &[u8]) -> &[u8] {
        let h = header(packet[..8].try_into().unwrap()).unwrap();
        assert_eq!(h.len, packet.len(), "the header's length is the fixture's");
        &packet[8..]
    }

    #[test]
    fn the_specification_example_request_parses() {
        // [MS-TDS] 4.1: the client's PRELOGIN, read with the same table parser.
        let p = fixture(include_str!("fixtures/ms-tds-4.1-prelogin-request.hex"));
        let h = header(p[..8].try_into().unwrap()).unwrap();
        assert_eq!((h.kind, h.status), (PRELOGIN, END_OF_MESSAGE));
        let pl = prelogin(body(&p)).unwrap();
        assert_eq!(pl.version, Some((9, 0, 0, 0)));
        assert_eq!(pl.encryption(), Some(Encryption::On));
        assert_eq!(pl.instance_ok, Some(true));
        assert_eq!(pl.mars, Some(true));
    }

    #[test]
    fn sql_server_2022_answer_with_encryption_off() {
        let p = fixture(include_str!("fixtures/sql2022-prelogin-off.hex"));
        assert_eq!(p[0], TABULAR);
        let pl = prelogin(body(&p)).unwrap();
        assert_eq!(pl.version_string().as_deref(), Some("16.0.4135.0"));
        assert_eq!(pl.encryption(), Some(Encryption::Off));
        assert_eq!((pl.instance_ok, pl.mars, pl.fed_auth_required), (Some(true), Some(false), None));
        assert_eq!(release_name(16, 0), Some("SQL Server 2022"));
    }

    #[test]
    fn forced_encryption_and_a_wrong_instance() {
        let p = fixture(include_str!("fixtures/sql2019-prelogin-required-wrong-instance.hex"));
        let pl = prelogin(body(&p)).unwrap();
        assert_eq!(pl.version_string().as_deref(), Some("15.0.2000.5"));
        assert_eq!(pl.encryption(), Some(Encryption::Required));
        assert_eq!(pl.instance_ok, Some(false));
    }

    #[test]
    fn azure_sql_asks_for_federated_authentication() {
        let p = fixture(include_str!("fixtures/azure-prelogin-fedauth.hex"));
        let pl = prelogin(body(&p)).unwrap();
        assert_eq!(pl.fed_auth_required, Some(true));
        assert!(pl.nonce);
        assert_eq!(pl.encryption(), Some(Encryption::Required));
    }

    #[test]
    fn our_request_is_read_back_by_the_parser() {
        let r = prelogin_request(Encryption::Off, "SQLEXPRESS");
        let pl = prelogin(body(&r)).unwrap();
        assert_eq!(pl.encryption(), Some(Encryption::Off));
        assert!(r.windows(11).any(|w| w == b"SQLEXPRESS\0"), "the instance name, NUL-terminated");
        assert_eq!(r[r.len() - 1], 0, "MARS off");
    }

    #[test]
    fn broken_option_tables_are_errors_not_panics() {
        let p = fixture(include_str!("fixtures/sql2022-prelogin-off.hex"));
        let b = body(&p);
        // The table without its terminator and data.
        assert!(prelogin(&b[..3]).unwrap_err().0.contains("inside an entry"));
        // An offset past the end.
        let mut bad = b.to_vec();
        bad[1] = 0xFF;
        assert!(prelogin(&bad).unwrap_err().0.contains("points at"));
        assert!(prelogin(&[]).is_err());
        assert!(prelogin(&[0xFF]).unwrap_err().0.contains("no VERSION"));
        // Lengths a header may not claim.
        assert!(header(&[4, 1, 0, 4, 0, 0, 1, 0]).is_err());
        assert!(header(&[4, 1, 0xFF, 0xFF, 0, 0, 1, 0]).is_err());
    }

    #[test]
    fn options_are_rewritten_in_place() {
        let p = fixture(include_str!("fixtures/sql2019-prelogin-required-wrong-instance.hex"));
        let mut b = body(&p).to_vec();
        assert!(set_encryption(&mut b, Encryption::NotSupported));
        let pl = prelogin(&b).unwrap();
        assert_eq!(pl.encryption(), Some(Encryption::NotSupported));
        assert_eq!(pl.version, prelogin(body(&p)).unwrap().version, "nothing else moved");
        let mut r = prelogin_request(Encryption::Off, "");
        let n = r.len();
        clear_thread_id(&mut r[8..n]);
        assert!(r[8..].windows(4).any(|w| w == [0, 0, 0, 0]));
        assert!(!set_encryption(&mut [0xFF], Encryption::On), "no ENCRYPTION option");
        assert!(!set_encryption(&mut [0x01, 0x00, 0x40, 0x00, 0x01, 0xFF], Encryption::On), "out of bounds");
    }

    #[test]
    fn the_browser_lists_instances() {
        let b = fixture(include_str!("fixtures/browser-svr-resp.hex"));
        let list = browser_response(&b).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].instance, "MSSQLSERVER");
        assert_eq!(list[0].tcp_port, Some(1433));
        assert_eq!(list[1].instance, "SQLEXPRESS");
        assert_eq!(list[1].tcp_port, Some(49_712));
        assert_eq!(list[1].version, "16.0.1000.6");
        assert!(browser_response(&[0x05, 0xFF, 0x00, b'a']).is_err());
        assert!(browser_response(b"HTTP/1.1").is_err());
    }
}
