//! The CQL native protocol (Cassandra's binary protocol, `native_protocol_v4.spec`; v5 keeps the
//! same frames for the handshake, §2.3 of its spec) as far as the probe needs it: the OPTIONS
//! and STARTUP requests, and the SUPPORTED, READY, AUTHENTICATE and ERROR answers. Big-endian
//! throughout; every length is checked against what arrived.

/// The size of a frame header: version, flags, stream (2), opcode, length (4) (§2).
pub const HEADER_LEN: usize = 9;
/// The most body a handshake answer may have: a SUPPORTED map is a few hundred bytes, an ERROR
/// a sentence; anything near this is not a handshake answer.
pub const MAX_BODY: u32 = 256 * 1024;
/// The direction bit of the version byte: set on responses (§2.1).
const RESPONSE: u8 = 0x80;

/// Opcodes (§2.4).
pub mod op {
    /// ERROR.
    pub const ERROR: u8 = 0x00;
    /// STARTUP.
    pub const STARTUP: u8 = 0x01;
    /// READY.
    pub const READY: u8 = 0x02;
    /// AUTHENTICATE.
    pub const AUTHENTICATE: u8 = 0x03;
    /// OPTIONS.
    pub const OPTIONS: u8 = 0x05;
    /// SUPPORTED.
    pub const SUPPORTED: u8 = 0x06;
    /// The highest opcode v5 defines (AUTH_SUCCESS, 0x10).
    pub const LAST: u8 = 0x10;
}

/// The error code of a protocol error (§9): what a server answers a version it does not speak.
pub const PROTOCOL_ERROR: i32 = 0x000A;
/// The CQL version STARTUP asks for: every server since Cassandra 1.2 accepts 3.0.0 (drivers
/// send it too), and the server's own list is reported from SUPPORTED.
pub const CQL_VERSION: &str = "3.0.0";

/// A request frame: `version` (3, 4 or 5) with the direction bit clear, no flags, `stream`.
pub fn request(version: u8, stream: i16, opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(version & 0x7f);
    out.push(0);
    out.extend_from_slice(&stream.to_be_bytes());
    out.push(opcode);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// OPTIONS: an empty body (§4.1.3).
pub fn options(version: u8) -> Vec<u8> {
    options_on(version, 0)
}

/// OPTIONS on `stream`: the probe picks one at random, and an answer on another stream is not
/// an answer to it (a peer that sends the same bytes to everyone is not a CQL server).
pub fn options_on(version: u8, stream: i16) -> Vec<u8> {
    request(version, stream, op::OPTIONS, &[])
}

/// STARTUP with `CQL_VERSION` and no compression (§4.1.1): a [string map] of one entry.
pub fn startup(version: u8) -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    put_string(&mut body, "CQL_VERSION");
    put_string(&mut body, CQL_VERSION);
    request(version, 1, op::STARTUP, &body)
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A response frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The protocol version, without the direction bit.
    pub version: u8,
    /// The flags byte (compression, tracing, warnings, beta).
    pub flags: u8,
    /// The stream id the answer is for.
    pub stream: i16,
    /// The opcode.
    pub opcode: u8,
    /// The body's length.
    pub length: u32,
}

/// Why bytes are not a CQL answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

fn bad(why: impl Into<String>) -> Malformed {
    Malformed(why.into())
}

/// Parses a response header (§2): the direction bit set, a version from 1 to 6, a known
/// opcode and a body no longer than [`MAX_BODY`].
pub fn header(b: &[u8; HEADER_LEN]) -> Result<Header, Malformed> {
    if b[0] & RESPONSE == 0 {
        return Err(bad(format!("the version byte 0x{:02x} lacks the response bit", b[0])));
    }
    let version = b[0] & 0x7f;
    if !(1..=6).contains(&version) {
        return Err(bad(format!("protocol version {version} does not exist")));
    }
    let opcode = b[4];
    if opcode > op::LAST {
        return Err(bad(format!("opcode 0x{opcode:02x} does not exist")));
    }
    let length = u32::from_be_bytes([b[5], b[6], b[7], b[8]]);
    if length > MAX_BODY {
        return Err(bad(format!("a body of {length} bytes is no handshake answer")));
    }
    Ok(Header { version, flags: b[1], stream: i16::from_be_bytes([b[2], b[3]]), opcode, length })
}

/// A checked reader over a body.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(bad(format!("the body ends inside {what}")));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn short(&mut self, what: &str) -> Result<u16, Malformed> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn int(&mut self, what: &str) -> Result<i32, Malformed> {
        let s = self.take(4, what)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    /// [string]: a [short] n, then n bytes of UTF-8.
    fn string(&mut self, what: &str) -> Result<String, Malformed> {
        let n = self.short(what)?;
        let s = self.take(usize::from(n), what)?;
        String::from_utf8(s.to_vec()).map_err(|_| bad(format!("{what} is not UTF-8")))
    }
}

/// The SUPPORTED body (§4.2.4): a [string multimap], each key with its [string list].
pub fn supported(body: &[u8]) -> Result<Vec<(String, Vec<String>)>, Malformed> {
    let mut b = Body(body);
    let n = b.short("the multimap's size")?;
    let mut out = Vec::new();
    for _ in 0..n {
        let key = b.string("a key")?;
        let m = b.short("a list's size")?;
        let mut values = Vec::new();
        for _ in 0..m {
            values.push(b.string("a value")?);
        }
        out.push((key, values));
    }
    if !b.0.is_empty() {
        return Err(bad(format!("{} bytes after the multimap", b.0.len())));
    }
    if !out.iter().any(|(k, _)| k == "CQL_VERSION") {
        return Err(bad("SUPPORTED without CQL_VERSION"));
    }
    Ok(out)
}

/// The ERROR body (§4.2.1): an [int] code and a [string] message (what follows depends on the
/// code and is not needed).
pub fn error(body: &[u8]) -> Result<(i32, String), Malformed> {
    let mut b = Body(body);
    let code = b.int("the error code")?;
    let message = b.string("the error message")?;
    Ok((code, message))
}

/// The AUTHENTICATE body (§4.2.3): the authenticator's class name.
pub fn authenticate(body: &[u8]) -> Result<String, Malformed> {
    let mut b = Body(body);
    let class = b.string("the authenticator")?;
    if class.is_empty() {
        return Err(bad("AUTHENTICATE names no authenticator"));
    }
    Ok(class)
}

/// Whether an ERROR is the server refusing the protocol version: a protocol error whose
/// message speaks of the version (Cassandra: "Invalid or unsupported protocol version (5); ...",
/// "Beta version of the protocol used (5/v5-beta), but USE_BETA flag is unset").
pub fn is_version_refusal(code: i32, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    (code == PROTOCOL_ERROR || code == 0) && m.contains("protocol version")
        || m.contains("beta version of the protocol")
}

/// The highest version the server names in a version refusal: "the greatest is 4" (Cassandra
/// 2.2 to 4.x), or the largest non-beta entry of "supported versions are (3/v3, 4/v4,
/// 5/v5-beta)" (Cassandra 4.0 and later). `None` when the text names none.
pub fn greatest_named(message: &str) -> Option<u8> {
    if let Some(at) = message.find("greatest is ") {
        let digits: String = message[at + 12..].chars().take_while(char::is_ascii_digit).collect();
        return digits.parse().ok();
    }
    let at = message.find("supported versions are (")?;
    let list = &message[at + 24..];
    let list = &list[..list.find(')')?];
    list.split(',')
        .map(str::trim)
        .filter(|v| !v.contains("beta"))
        .filter_map(|v| v.split('/').next()?.trim().parse::<u8>().ok())
        .max()
}

/// Runs every parser on `data`: the fuzz target's body, and the no-panic test's.
pub fn fuzz(data: &[u8]) {
    if let Some(h) = data.get(..HEADER_LEN) {
        let _ = header(h.try_into().expect("nine bytes"));
    }
    let _ = supported(data);
    let _ = error(data);
    let _ = authenticate(data);
    let text = String::from_utf8_lossy(data);
    let _ = greatest_named(&text);
    let _ = is_version_refusal(0x000A, &text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(b: &[u8]) -> [u8; HEADER_LEN] {
        b[..HEADER_LEN].try_into().unwrap()
    }

    #[test]
    fn the_requests_have_the_spec_bytes() {
        // §2: version 4, flags 0, stream 0, opcode OPTIONS, length 0.
        assert_eq!(options(4), [0x04, 0, 0, 0, 0x05, 0, 0, 0, 0]);
        let s = startup(4);
        assert_eq!(&s[..9], &[0x04, 0, 0, 1, 0x01, 0, 0, 0, 22]);
        assert_eq!(&s[9..], b"\x00\x01\x00\x0bCQL_VERSION\x00\x053.0.0");
    }

    #[test]
    fn the_fixtures_parse() {
        let f = include_bytes!("fixtures/supported-v4.bin");
        let h = header(&hdr(f)).unwrap();
        assert_eq!((h.version, h.opcode, h.length as usize), (4, op::SUPPORTED, f.len() - 9));
        let m = supported(&f[9..]).unwrap();
        assert_eq!(m[0], ("PROTOCOL_VERSIONS".to_owned(), vec!["3/v3".to_owned(), "4/v4".to_owned()]));
        assert!(m.iter().any(|(k, v)| k == "COMPRESSION" && v == &["snappy", "lz4"]));
        assert!(m.iter().any(|(k, v)| k == "CQL_VERSION" && v == &["3.4.5"]));

        let f = include_bytes!("fixtures/authenticate-v4.bin");
        let h = header(&hdr(f)).unwrap();
        assert_eq!(h.opcode, op::AUTHENTICATE);
        assert_eq!(authenticate(&f[9..]).unwrap(), "org.apache.cassandra.auth.PasswordAuthenticator");

        let f = include_bytes!("fixtures/error-v5-refused.bin");
        let h = header(&hdr(f)).unwrap();
        assert_eq!((h.version, h.opcode), (4, op::ERROR));
        let (code, msg) = error(&f[9..]).unwrap();
        assert_eq!(code, PROTOCOL_ERROR);
        assert!(is_version_refusal(code, &msg));
        assert_eq!(greatest_named(&msg), Some(4));
    }

    #[test]
    fn version_texts_name_the_greatest() {
        assert_eq!(
            greatest_named(
                "Invalid or unsupported protocol version (6); supported versions are (3/v3, 4/v4, 5/v5, 6/v6-beta)"
            ),
            Some(5)
        );
        assert_eq!(greatest_named("Invalid or unsupported protocol version: 5"), None);
        assert!(is_version_refusal(
            0x000A,
            "Beta version of the protocol used (5/v5-beta), but USE_BETA flag is unset"
        ));
        assert!(!is_version_refusal(0x2200, "Invalid query"));
        assert_eq!(greatest_named("the greatest is 99999"), None);
    }

    #[test]
    fn headers_that_are_not_answers_are_refused() {
        assert!(header(&hdr(b"\x04\x00\x00\x00\x06\x00\x00\x00\x00")).is_err(), "a request");
        assert!(header(&hdr(b"\x87\x00\x00\x00\x06\x00\x00\x00\x00")).is_err(), "version 7");
        assert!(header(&hdr(b"\x84\x00\x00\x00\x11\x00\x00\x00\x00")).is_err(), "opcode");
        assert!(header(&hdr(b"\x84\x00\x00\x00\x06\x80\x00\x00\x00")).is_err(), "2 GiB");
        assert!(header(&hdr(b"HTTP/1.1 ")).is_err());
    }

    #[test]
    fn bodies_that_lie_are_refused() {
        assert!(supported(b"\x00\x01\x00\x0bCQL_VERSION\x00\x02\x00\x053.4.5").is_err(), "a value short");
        assert!(supported(b"\x00\x00").is_err(), "no CQL_VERSION");
        assert!(supported(b"\xff\xff").is_err());
        assert!(error(b"\x00\x00\x00\x0a\x01\x00ab").is_err());
        assert!(authenticate(b"\x00\x00").is_err());
    }

    /// The no-panic check of every parser on every prefix and on noise (the fuzz target runs
    /// the same calls for longer).
    #[test]
    fn no_input_panics() {
        let mut inputs: Vec<Vec<u8>> = vec![include_bytes!("fixtures/supported-v4.bin").to_vec()];
        let mut x = 0x9e37_79b9_u32;
        for n in 0..512 {
            inputs.push(
                (0..n % 64)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        x as u8
                    })
                    .collect(),
            );
        }
        for i in &inputs {
            for cut in 0..=i.len() {
                fuzz(&i[..cut]);
            }
        }
    }
}
