//! The part of OPC UA TCP (OPC 10000-6, section 7.1) the `opcua` probe writes and reads itself:
//! the message header, Hello, Acknowledge and Error.
//!
//! async-opcua does its own Hello inside its connector and reports a failed one as a generic
//! `BadConnectionClosed`: the server's buffer sizes, its protocol version and the StatusCode of
//! an `ERR` answer (the reason a server refuses an endpoint URL) never reach the caller, and an
//! HTTP or TLS answer is lost entirely. Those are what a diagnosis needs, so the first
//! connection is ours. Pure functions over byte slices, so the fuzz target and the fixtures
//! reach them without a socket.

/// Length of the message header: type (3 bytes), chunk type (1), message size (u32 LE).
pub const HEADER_LEN: usize = 8;
/// Length of an Acknowledge message, header included (five u32 after the header).
pub const ACK_LEN: usize = HEADER_LEN + 20;
/// The smallest buffer size either side may announce (section 7.1.2.3: "at least 8 192 bytes").
pub const MIN_BUFFER: u32 = 8192;
/// The largest answer to a Hello the probe reads: an ERR carries a reason string, which
/// servers keep short; 8192 is the smallest buffer any server may have, so no valid answer to
/// our Hello is longer.
pub const MAX_ANSWER: usize = 8192;
/// The longest endpoint URL a Hello may carry (section 7.1.2.3).
pub const MAX_URL: usize = 4096;
/// The buffer sizes and limits portproof announces in its Hello. 64 KiB buffers are what most
/// stacks use; 16 MiB bounds what GetEndpoints may send back (a few certificates per endpoint).
pub const OUR_BUFFER: u32 = 65_535;
/// The largest message portproof accepts, announced in its Hello.
pub const OUR_MAX_MESSAGE: u32 = 16 << 20;

pub use crate::WireError;
use crate::wire_err as err;

/// A message header (section 7.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `HEL`, `ACK`, `ERR`, `RHE`, `OPN`, `MSG` or `CLO`.
    pub kind: [u8; 3],
    /// `F` final chunk, `C` intermediate, `A` abort.
    pub chunk: u8,
    /// Length of the whole message, header included.
    pub size: u32,
}

impl Header {
    /// The message type as text (`ACK`).
    pub fn kind_str(&self) -> &str {
        std::str::from_utf8(&self.kind).unwrap_or("???")
    }
}

/// Decodes a message header, refusing what no OPC UA TCP peer sends: an unknown message type,
/// a size smaller than the header.
pub fn header(b: &[u8]) -> Result<Header, WireError> {
    if b.len() < HEADER_LEN {
        return err(format!("{} bytes, shorter than an OPC UA TCP message header", b.len()));
    }
    let kind: [u8; 3] = b[0..3].try_into().expect("length checked");
    if !matches!(&kind, b"HEL" | b"ACK" | b"ERR" | b"RHE" | b"OPN" | b"MSG" | b"CLO") {
        return err("not an OPC UA TCP message type");
    }
    let chunk = b[3];
    if !matches!(chunk, b'F' | b'C' | b'A') {
        return err(format!("chunk type 0x{chunk:02x} is none of F, C, A"));
    }
    let size = u32::from_le_bytes(b[4..8].try_into().expect("length checked"));
    if (size as usize) < HEADER_LEN {
        return err(format!("message size {size} is smaller than the header"));
    }
    Ok(Header { kind, chunk, size })
}

/// The limits both sides announce (Hello section 7.1.2.3, Acknowledge section 7.1.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    /// ProtocolVersion: 0 for every published version of OPC UA TCP.
    pub protocol_version: u32,
    /// ReceiveBufferSize: the largest chunk the sender can receive.
    pub receive_buffer: u32,
    /// SendBufferSize: the largest chunk the sender will send.
    pub send_buffer: u32,
    /// MaxMessageSize: the largest message the sender accepts; 0 means no limit.
    pub max_message: u32,
    /// MaxChunkCount: how many chunks a message may have; 0 means no limit.
    pub max_chunks: u32,
}

/// The Hello portproof sends: its limits and the endpoint URL the server is asked for.
pub fn hello(endpoint_url: &str) -> Vec<u8> {
    // A URL past the limit would draw Bad_TcpEndpointUrlInvalid for our mistake, not the
    // server's: cut it at a character boundary instead.
    let mut url = endpoint_url;
    while url.len() > MAX_URL {
        let mut end = MAX_URL;
        while !url.is_char_boundary(end) {
            end -= 1;
        }
        url = &url[..end];
    }
    let size = HEADER_LEN + 20 + 4 + url.len();
    let mut m = Vec::with_capacity(size);
    m.extend_from_slice(b"HELF");
    m.extend_from_slice(&(size as u32).to_le_bytes());
    for v in [0, OUR_BUFFER, OUR_BUFFER, OUR_MAX_MESSAGE, 0] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.extend_from_slice(&(url.len() as i32).to_le_bytes());
    m.extend_from_slice(url.as_bytes());
    m
}

/// What a server answered to a Hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Acknowledge: the server's limits.
    Ack(Limits),
    /// Error: the StatusCode and the reason the server gave.
    Err {
        /// The raw StatusCode.
        status: u32,
        /// The reason string (may be empty).
        reason: String,
    },
}

/// Decodes a complete answer to a Hello: one `ACK` or `ERR` message, `header.size` bytes.
pub fn answer(m: &[u8]) -> Result<Answer, WireError> {
    let h = header(m)?;
    if h.size as usize != m.len() {
        return err(format!("the header says {} bytes, the message has {}", h.size, m.len()));
    }
    if h.chunk != b'F' {
        return err(format!("{} with chunk type {:?}, not F", h.kind_str(), h.chunk as char));
    }
    let body = &m[HEADER_LEN..];
    match &h.kind {
        b"ACK" => {
            if body.len() != 20 {
                return err(format!("an Acknowledge of {} bytes (it has exactly {ACK_LEN})", m.len()));
            }
            let u = |i: usize| u32::from_le_bytes(body[i * 4..i * 4 + 4].try_into().expect("length checked"));
            Ok(Answer::Ack(Limits {
                protocol_version: u(0),
                receive_buffer: u(1),
                send_buffer: u(2),
                max_message: u(3),
                max_chunks: u(4),
            }))
        }
        b"ERR" => {
            if body.len() < 8 {
                return err(format!("an Error message of {} bytes, too short for its StatusCode and reason", m.len()));
            }
            let status = u32::from_le_bytes(body[0..4].try_into().expect("length checked"));
            let len = i32::from_le_bytes(body[4..8].try_into().expect("length checked"));
            let rest = &body[8..];
            let reason = match len {
                // -1 is a null string (Part 6 5.2.2.4).
                -1 => String::new(),
                n if n < -1 => return err(format!("an Error reason of length {n}")),
                n if n as usize > rest.len() => {
                    return err(format!("an Error reason of {n} bytes in a message with {} left", rest.len()));
                }
                n => String::from_utf8_lossy(&rest[..n as usize]).chars().take(512).collect(),
            };
            Ok(Answer::Err { status, reason })
        }
        other => err(format!("a {} message where ACK or ERR belongs", String::from_utf8_lossy(other))),
    }
}

/// What is wrong with an Acknowledge's limits, measured against the Hello portproof sent
/// (section 7.1.2.4: the server may lower, never raise, what the client offered; buffers hold
/// at least 8192 bytes). A stack that then sends a chunk larger than it announced is broken.
pub fn ack_problems(l: &Limits) -> Vec<String> {
    let mut p = Vec::new();
    if l.receive_buffer < MIN_BUFFER {
        p.push(format!("ReceiveBufferSize {} is below the minimum of {MIN_BUFFER}", l.receive_buffer));
    }
    if l.send_buffer < MIN_BUFFER {
        p.push(format!("SendBufferSize {} is below the minimum of {MIN_BUFFER}", l.send_buffer));
    }
    p
}

/// Limits an Acknowledge raises above what portproof offered. The specification forbids it,
/// but clients (async-opcua among them) clamp to their own and work on: a warning, not a
/// verdict.
pub fn ack_raises(l: &Limits) -> Vec<String> {
    let mut p = Vec::new();
    if l.send_buffer > OUR_BUFFER {
        p.push(format!(
            "SendBufferSize {} exceeds the ReceiveBufferSize {OUR_BUFFER} portproof offered",
            l.send_buffer
        ));
    }
    if l.receive_buffer > OUR_BUFFER {
        p.push(format!(
            "ReceiveBufferSize {} exceeds the SendBufferSize {OUR_BUFFER} portproof offered",
            l.receive_buffer
        ));
    }
    p
}

/// The name of a StatusCode in the specification's spelling (`Bad_TcpEndpointUrlInvalid`,
/// OPC 10000-4 7.38 and the StatusCodes CSV), or its hex value when the code is unknown.
pub fn status_name(status: u32) -> String {
    let sub = opcua::types::StatusCode::from(status).sub_code();
    let name = sub.name();
    if name == "Invalid" || (sub as u32) != status & 0xFFFF_0000 {
        return format!("0x{status:08X}");
    }
    for severity in ["Bad", "Good", "Uncertain"] {
        if let Some(rest) = name.strip_prefix(severity)
            && !rest.is_empty()
        {
            return format!("{severity}_{rest}");
        }
    }
    name.to_owned()
}

/// What a StatusCode a server sent in `ERR` means for the person reading the report, when
/// there is more to say than its name.
pub fn status_hint(status: u32) -> &'static str {
    match status & 0xFFFF_0000 {
        0x8083_0000 => {
            "the server does not recognize the endpoint URL the Hello named: set opcua.endpoint_url to the URL its configuration lists (the path matters)"
        }
        0x807D_0000 | 0x80B7_0000 => {
            "the server is at its connection limit: a PLC allows few clients; free a connection or raise the limit"
        }
        0x80BE_0000 => "the server does not speak this OPC UA TCP protocol version",
        0x8080_0000 => "the server refuses the message sizes of the Hello: check its transport limits",
        0x8081_0000 => "the server has no resources left for another connection",
        0x80AC_0000 => "the server rejected the connection: check its allow lists and its log",
        _ => "the server refused the Hello with this StatusCode; its log says why",
    }
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

    #[test]
    fn hello_matches_the_fixture() {
        let want = fixture(include_str!("fixtures/hello-localhost-4840.hex"));
        assert_eq!(hello("opc.tcp://localhost:4840"), want);
        let h = header(&want).unwrap();
        assert_eq!((h.kind_str(), h.chunk, h.size as usize), ("HEL", b'F', want.len()));
    }

    #[test]
    fn acknowledge_gives_the_server_limits() {
        let m = fixture(include_str!("fixtures/ack-asyncua.hex"));
        let Answer::Ack(l) = answer(&m).unwrap() else { panic!("not an ack") };
        assert_eq!(
            l,
            Limits {
                protocol_version: 0,
                receive_buffer: 65535,
                send_buffer: 65535,
                max_message: 16 << 20,
                max_chunks: 1601
            }
        );
        assert!(ack_problems(&l).is_empty());
    }

    #[test]
    fn error_names_its_status_code() {
        let m = fixture(include_str!("fixtures/err-endpoint-url-invalid.hex"));
        let Answer::Err { status, reason } = answer(&m).unwrap() else { panic!("not an error") };
        assert_eq!(status, 0x8083_0000);
        assert_eq!(status_name(status), "Bad_TcpEndpointUrlInvalid");
        assert_eq!(reason, "unknown endpoint");
        assert!(status_hint(status).contains("endpoint_url"));
    }

    #[test]
    fn absurd_acknowledges_are_named() {
        let m = fixture(include_str!("fixtures/ack-absurd.hex"));
        let Answer::Ack(l) = answer(&m).unwrap() else { panic!("not an ack") };
        let p = ack_problems(&l);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("below the minimum"), "{p:?}");
        let r = ack_raises(&l);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].contains("exceeds"), "{r:?}");
    }

    #[test]
    fn refuses_what_is_not_opc_ua() {
        assert!(header(b"HTTP/1.1 400 Bad Request\r\n").is_err());
        assert!(header(b"\x16\x03\x01\x00\x2a\x02\x00\x00").is_err());
        assert!(header(b"ACKF\x04\x00\x00\x00").unwrap_err().0.contains("smaller"));
        assert!(header(b"ACK").is_err());
        // The size must be the message's, and an ACK exactly 28 bytes.
        let mut m = fixture(include_str!("fixtures/ack-asyncua.hex"));
        m.push(0);
        assert!(answer(&m).is_err());
        m[4] = 29;
        assert!(answer(&m).unwrap_err().0.contains("exactly"));
        // An Error whose reason claims more than it carries.
        let e = b"ERRF\x14\x00\x00\x00\x00\x00\x83\x80\xff\x00\x00\x00abcd";
        assert!(answer(e).unwrap_err().0.contains("left"));
        let null = b"ERRF\x10\x00\x00\x00\x00\x00\x7d\x80\xff\xff\xff\xff";
        assert_eq!(
            answer(null).unwrap(),
            Answer::Err { status: 0x807D_0000, reason: String::new() },
            "a null reason is an empty one"
        );
        assert_eq!(status_name(0x807D_0000), "Bad_TcpServerTooBusy");
        assert_eq!(status_name(0x1234_0000), "0x12340000");
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_answer_or_an_error() {
        for text in [
            include_str!("fixtures/ack-asyncua.hex"),
            include_str!("fixtures/err-endpoint-url-invalid.hex"),
            include_str!("fixtures/ack-absurd.hex"),
            include_str!("fixtures/hello-localhost-4840.hex"),
        ] {
            let m = fixture(text);
            for n in 0..=m.len() {
                let _ = header(&m[..n]);
                let _ = answer(&m[..n]);
            }
            for i in 0..m.len() {
                for v in [0x00, 0x7F, 0x80, 0xFF] {
                    let mut b = m.clone();
                    b[i] = v;
                    if let Ok(Answer::Ack(l)) = answer(&b) {
                        let _ = ack_problems(&l);
                    }
                    if let Ok(Answer::Err { status, .. }) = answer(&b) {
                        let _ = (status_name(status), status_hint(status));
                    }
                }
            }
        }
    }

    #[test]
    fn long_urls_are_cut_at_the_limit() {
        let url = format!("opc.tcp://h:1/{}", "é".repeat(3000));
        let m = hello(&url);
        assert!(m.len() <= HEADER_LEN + 24 + MAX_URL);
        assert_eq!(header(&m).unwrap().size as usize, m.len());
    }
}
