//! RFC 6455's opening handshake and frames, as far as the probe needs them: the upgrade
//! request, the answer's head (parsed by httparse), the Sec-WebSocket-Accept the key calls
//! for, a masked Close frame, and the header of the frames the server sends.

use base64::Engine as _;

use crate::{WireError, wire_err};

/// The GUID RFC 6455 §1.3 appends to the key before hashing it.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The most header lines an answer's head may carry.
pub const MAX_HEADERS: usize = 64;
/// The longest head read before the answer is called absurd.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most payload the probe reads past before the server's Close (messages it sends first).
pub const MAX_BEFORE_CLOSE: u64 = 1 << 20;

/// The request headers the handshake itself sets; a check's headers may not replace them.
pub const RESERVED: &[&str] = &[
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "content-length",
    "transfer-encoding",
];

/// The Sec-WebSocket-Key for 16 random bytes (§4.1: base64 of a 16-byte nonce).
pub fn key(nonce: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// The Sec-WebSocket-Accept a server must answer `key` with (§4.2.2 step 5.4).
pub fn accept_for(key: &str) -> String {
    let mut input = key.as_bytes().to_vec();
    input.extend_from_slice(GUID.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// The upgrade request: `GET path`, Host (unless `headers` has one), the handshake's own
/// headers, then the check's.
pub fn request(path: &str, authority: &str, headers: &[(String, String)], key: &str) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        r.push_str(&format!("Host: {authority}\r\n"));
    }
    r.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\n");
    r.push_str(&format!("Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"));
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("user-agent")) {
        r.push_str(concat!("User-Agent: portproof/", env!("CARGO_PKG_VERSION"), "\r\n"));
    }
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// The head of the server's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The reason phrase, as sent.
    pub reason: String,
    /// The header lines, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether header `name` lists `token` (comma-separated, case-insensitive), in any of its lines.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Parses the head at the start of `b`: `Ok(None)` until it is whole, then the head and its
/// length (the bytes after it are the first frames).
pub fn parse_head(b: &[u8]) -> Result<Option<(Head, usize)>, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    match r.parse(b) {
        Ok(httparse::Status::Complete(n)) => {
            let status = r.code.unwrap_or(0);
            let head = Head {
                status,
                reason: r.reason.unwrap_or("").to_owned(),
                headers: r
                    .headers
                    .iter()
                    .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).trim().to_owned()))
                    .collect(),
            };
            Ok(Some((head, n)))
        }
        Ok(httparse::Status::Partial) if b.len() >= MAX_HEAD => {
            wire_err(format!("no end of the answer's head in its first {} bytes", b.len()))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => wire_err(format!("not an HTTP answer: {e}")),
    }
}

/// A Close frame with `code`, masked with `mask` as every client frame must be (§5.3).
pub fn close_frame(code: u16, mask: [u8; 4]) -> Vec<u8> {
    let payload = code.to_be_bytes();
    let mut f = vec![0x88, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// The opcode of a Close frame.
pub const CLOSE: u8 = 0x8;

/// A frame's header (§5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: the last fragment of a message.
    pub fin: bool,
    /// The opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong).
    pub opcode: u8,
    /// Whether the payload is masked (a server must never mask, §5.1).
    pub masked: bool,
    /// The payload's length.
    pub len: u64,
    /// The header's own length, mask key included.
    pub header_len: usize,
}

/// Reads a frame header at the start of `b`: `Ok(None)` until it is whole.
pub fn frame_header(b: &[u8]) -> Result<Option<FrameHeader>, WireError> {
    let (Some(&b0), Some(&b1)) = (b.first(), b.get(1)) else { return Ok(None) };
    if b0 & 0x70 != 0 {
        return wire_err(format!("reserved bits {:#x} set in a frame without any negotiated extension", b0 & 0x70));
    }
    let opcode = b0 & 0x0f;
    if !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) {
        return wire_err(format!("opcode {opcode:#x}, which RFC 6455 reserves"));
    }
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7f {
        126 => match b.get(2..4) {
            Some(x) => (u64::from(u16::from_be_bytes([x[0], x[1]])), 4),
            None => return Ok(None),
        },
        127 => match b.get(2..10) {
            Some(x) => {
                let n = u64::from_be_bytes(x.try_into().expect("8 bytes"));
                if n >> 63 != 0 {
                    return wire_err("a 64-bit payload length with its top bit set (§5.2)");
                }
                (n, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if masked {
        at += 4;
    }
    if b.len() < at {
        return Ok(None);
    }
    if opcode >= 8 && (len > 125 || b0 & 0x80 == 0) {
        return wire_err(format!("a control frame (opcode {opcode:#x}) fragmented or of {len} bytes (§5.5)"));
    }
    Ok(Some(FrameHeader { fin: b0 & 0x80 != 0, opcode, masked, len, header_len: at }))
}

/// A Close frame's payload: its status code, if any, and its reason text (§5.5.1).
pub fn close_payload(p: &[u8]) -> Result<(Option<u16>, String), WireError> {
    match p {
        [] => Ok((None, String::new())),
        [_] => wire_err("a Close payload of one byte (§5.5.1 wants none, or a 2-byte code first)"),
        [a, b, rest @ ..] => {
            let reason =
                std::str::from_utf8(rest).map_err(|_| crate::WireError("the Close reason is not UTF-8".into()))?;
            Ok((Some(u16::from_be_bytes([*a, *b])), reason.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfcs_own_example_accept() {
        // RFC 6455 §1.3.
        assert_eq!(accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(key(*b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn pythons_websockets_101_is_read() {
        // Captured from websockets 15.0.1 (see fixtures/README.md) for the RFC's sample key.
        let b = include_bytes!("fixtures/websockets-101.txt");
        let (head, n) = parse_head(b).unwrap().unwrap();
        assert_eq!(n, b.len());
        assert_eq!(head.status, 101);
        assert!(head.has_token("connection", "upgrade") && head.has_token("upgrade", "websocket"));
        assert_eq!(head.get("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        for cut in 0..b.len() {
            assert_eq!(parse_head(&b[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn the_request_keeps_the_handshake_headers() {
        let r = request("/echo", "127.0.0.1:9099", &[("Authorization".into(), "Bearer x".into())], "k");
        let r = String::from_utf8(r).unwrap();
        assert!(r.starts_with("GET /echo HTTP/1.1\r\nHost: 127.0.0.1:9099\r\nUpgrade: websocket\r\n"), "{r}");
        assert!(
            r.contains("Sec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n")
                && r.ends_with("Authorization: Bearer x\r\n\r\n")
        );
    }

    #[test]
    fn frames_are_read_and_bounded() {
        let f = close_frame(1000, [1, 2, 3, 4]);
        assert_eq!(f, [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]);
        let h = frame_header(&f).unwrap().unwrap();
        assert_eq!((h.opcode, h.masked, h.len, h.header_len, h.fin), (8, true, 2, 6, true));
        // A server's unmasked Close, 1000 "bye".
        let h = frame_header(b"\x88\x05\x03\xe8bye").unwrap().unwrap();
        assert_eq!((h.len, h.header_len), (5, 2));
        assert_eq!(close_payload(b"\x03\xe8bye").unwrap(), (Some(1000), "bye".into()));
        assert!(close_payload(b"\x03").is_err());
        assert_eq!(frame_header(b"\x82\x7e\x01").unwrap(), None);
        assert_eq!(frame_header(b"\x82\x7e\x01\x00").unwrap().unwrap().len, 256);
        assert!(frame_header(b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00").is_err());
        assert!(frame_header(b"\x83\x00").is_err(), "reserved opcode");
        assert!(frame_header(b"\xc1\x00").is_err(), "RSV1 without permessage-deflate");
        assert!(frame_header(b"\x08\x00").is_err(), "fragmented Close");
        assert!(frame_header(b"\x89\x7e\x01\x00").is_err(), "a 256-byte Ping");
    }

    #[test]
    fn not_http_is_an_error_and_an_endless_head_too() {
        assert!(parse_head(b"\x80\x01\x00\x03junk\r\n\r\n").is_err());
        let endless = vec![b'a'; MAX_HEAD];
        let mut b = b"HTTP/1.1 101 Switching Protocols\r\nX: ".to_vec();
        b.extend_from_slice(&endless);
        assert!(parse_head(&b).is_err());
    }
}
