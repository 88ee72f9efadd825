//! Apache Ignite's listeners as far as the probe needs them, from Ignite's public protocol
//! description: the binary client protocol's handshake (little-endian throughout: a length,
//! op code 1, the version as three shorts, client code 2; the answer a success byte, or 0 with
//! the server's version and a message), the node id TcpCommunicationSpi sends first on every
//! accepted connection (NodeIdMessage: direct type -1, then the UUID), and TcpDiscoverySpi's
//! 4-byte header. Nothing here serializes or reads a discovery message.

/// TcpDiscoverySpi's and TcpCommunicationSpi's magic (`U.IGNITE_HEADER`, 0x00004747).
pub const IGNITE_HEADER: [u8; 4] = [0x00, 0x00, 0x47, 0x47];
pub use crate::wire::Malformed;
use crate::wire::bad;
/// A header one byte off Ignite's: a discovery port closes on it at once.
pub const WRONG_HEADER: [u8; 4] = [0x00, 0x00, 0x47, 0x48];
/// The thin-client protocol version the probe offers first (partition awareness, which has
/// the server send its node id, came with 1.4.0).
pub const OFFERED: Version = Version(1, 4, 0);
/// The most a handshake answer may take: a version, a message and a status.
pub const MAX_ANSWER: usize = 64 * 1024;

/// NodeIdMessage's direct type, -1, as the two little-endian bytes it is written as.
const NODE_ID_TYPE: [u8; 2] = [0xff, 0xff];
/// HandshakeWaitMessage's direct type (-28): a node still starting asks the peer to wait.
const HANDSHAKE_WAIT_TYPE: [u8; 2] = [0xe4, 0xff];
/// The length of a NodeIdMessage: its type and a 16-byte UUID.
pub const NODE_ID_LEN: usize = 18;

/// Ignite binary type codes met in handshake answers.
const TYPE_STRING: u8 = 9;
const TYPE_UUID: u8 = 10;
const TYPE_BYTE_ARRAY: u8 = 12;
const TYPE_NULL: u8 = 101;

/// A thin-client protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub i16, pub i16, pub i16);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The handshake request: length 8, op code 1, `v`, client code 2 (thin client); no user name
/// or password (they are optional from 1.1.0).
pub fn handshake(v: Version) -> Vec<u8> {
    let mut out = 8i32.to_le_bytes().to_vec();
    out.push(1);
    for part in [v.0, v.1, v.2] {
        out.extend_from_slice(&part.to_le_bytes());
    }
    out.push(2);
    out
}

/// The server's answer to the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// Success; the node id when the server sent one.
    Accepted {
        /// The node's id (canonical UUID text).
        node_id: Option<String>,
    },
    /// Failure, with the server's own version and message.
    Refused {
        /// The version the server speaks.
        server: Version,
        /// Its message.
        message: Option<String>,
        /// The client status code after the message (1.1.0 and later), when sent.
        status: Option<i32>,
    },
}

/// A checked little-endian reader.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (h, r) = self.0.split_at(n);
        self.0 = r;
        Some(h)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// A UUID from its two halves, as Java prints it.
pub fn uuid_text(msb: u64, lsb: u64) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        msb >> 32,
        (msb >> 16) & 0xffff,
        msb & 0xffff,
        lsb >> 48,
        lsb & 0xffff_ffff_ffff
    )
}

/// Parses a handshake answer from the start of `b`: an int length (of what follows), then the
/// success flag and what follows it.
pub fn handshake_answer(b: &[u8]) -> Result<Handshake, Malformed> {
    let len = i32::from_le_bytes(b.get(..4).ok_or(Malformed::Short)?.try_into().expect("four"));
    let len = usize::try_from(len).ok().filter(|l| (1..=MAX_ANSWER).contains(l));
    let Some(len) = len else { return bad("the answer's length is not that of a handshake answer") };
    // A success is short; a refusal at least has its version: judge the flag before waiting.
    match b.get(4) {
        Some(1) | Some(0) | None => {}
        Some(f) => return bad(format!("success flag {f}")),
    }
    let body = b.get(4..4 + len).ok_or(Malformed::Short)?;
    let mut r = Reader(&body[1..]);
    if body[0] == 1 {
        // What a success carries depends on the version: features as a byte array (1.7.0),
        // the node id (1.4.0). Read the typed values that are there; stop at anything else.
        let mut node_id = None;
        while let Some(&code) = r.0.first() {
            r.take(1);
            match code {
                TYPE_BYTE_ARRAY => {
                    let n = r.i32().and_then(|n| usize::try_from(n).ok());
                    if n.and_then(|n| r.take(n)).is_none() {
                        return bad("a byte array runs past the answer");
                    }
                }
                TYPE_UUID => {
                    let (Some(msb), Some(lsb)) = (r.i64(), r.i64()) else {
                        return bad("a UUID runs past the answer");
                    };
                    node_id = Some(uuid_text(msb as u64, lsb as u64));
                }
                TYPE_NULL => {}
                other => return bad(format!("type code {other} after the success flag")),
            }
        }
        return Ok(Handshake::Accepted { node_id });
    }
    let (Some(major), Some(minor), Some(patch)) = (r.i16(), r.i16(), r.i16()) else {
        return bad("a refusal without the server's version");
    };
    // Thin-client protocol versions are 1.x.y.
    if major != 1 || minor < 0 || patch < 0 {
        return bad(format!("a refusal naming version {major}.{minor}.{patch}"));
    }
    let message = match r.take(1) {
        None => None,
        Some([TYPE_NULL]) => None,
        Some([TYPE_STRING]) => {
            let n = r.i32().and_then(|n| usize::try_from(n).ok());
            let s =
                n.and_then(|n| r.take(n)).ok_or_else(|| Malformed::Bad("the message runs past the answer".into()))?;
            Some(String::from_utf8_lossy(s).into_owned())
        }
        Some(other) => return bad(format!("type code {} where the message goes", other[0])),
    };
    let status = r.i32();
    Ok(Handshake::Refused { server: Version(major, minor, patch), message, status })
}

/// What a communication port sent first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Greeting {
    /// NodeIdMessage: the node's id.
    NodeId(String),
    /// HandshakeWaitMessage: the node is still starting.
    Wait,
}

/// Parses a communication port's first message from the start of `b`.
pub fn greeting(b: &[u8]) -> Result<Greeting, Malformed> {
    let kind = b.get(..2).ok_or(Malformed::Short)?;
    if kind == HANDSHAKE_WAIT_TYPE {
        return Ok(Greeting::Wait);
    }
    if kind != NODE_ID_TYPE {
        return bad(format!("message type {:02x} {:02x} is not NodeIdMessage", kind[0], kind[1]));
    }
    let id = b.get(2..NODE_ID_LEN).ok_or(Malformed::Short)?;
    // U.uuidToBytes: the two halves, big-endian.
    let msb = u64::from_be_bytes(id[..8].try_into().expect("eight"));
    let lsb = u64::from_be_bytes(id[8..].try_into().expect("eight"));
    if msb == 0 && lsb == 0 {
        return bad("a node id of zeroes");
    }
    Ok(Greeting::NodeId(uuid_text(msb, lsb)))
}

/// Runs every parser on `data`: the fuzz target's body, and the no-panic test's.
pub fn fuzz(data: &[u8]) {
    let _ = handshake_answer(data);
    let _ = greeting(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_has_the_documented_bytes() {
        assert_eq!(handshake(Version(1, 4, 0)), [8, 0, 0, 0, 1, 1, 0, 4, 0, 0, 0, 2]);
    }

    #[test]
    fn the_fixtures_parse() {
        assert_eq!(
            handshake_answer(include_bytes!("fixtures/thin-accepted-1.4.0.bin")).unwrap(),
            Handshake::Accepted { node_id: Some("5f1a3c2e-9b7d-4e21-8a36-0c4d2b1e7f90".into()) }
        );
        match handshake_answer(include_bytes!("fixtures/thin-refused-1.2.0.bin")).unwrap() {
            Handshake::Refused { server, message, status } => {
                assert_eq!(server, Version(1, 2, 0));
                assert_eq!(message.as_deref(), Some("Unsupported version: 1.4.0"));
                assert_eq!(status, Some(1));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            greeting(include_bytes!("fixtures/communication-node-id.bin")).unwrap(),
            Greeting::NodeId("5f1a3c2e-9b7d-4e21-8a36-0c4d2b1e7f90".into())
        );
        assert_eq!(handshake_answer(b"\x01\x00\x00\x00\x01").unwrap(), Handshake::Accepted { node_id: None });
    }

    #[test]
    fn lies_and_prefixes() {
        let f = include_bytes!("fixtures/thin-refused-1.2.0.bin");
        for cut in 0..f.len() {
            assert!(matches!(handshake_answer(&f[..cut]), Err(Malformed::Short) | Ok(_)), "{cut}");
        }
        assert!(matches!(handshake_answer(b"\x00\x00\x00\x80"), Err(Malformed::Bad(_))), "2 GiB");
        assert!(matches!(handshake_answer(b"HTTP/1.1 400"), Err(Malformed::Bad(_))));
        assert!(matches!(handshake_answer(b"\x07\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00"), Err(Malformed::Bad(_))));
        assert!(matches!(greeting(b"\xff\xff\x00"), Err(Malformed::Short)));
        assert!(matches!(greeting(b"SSH-2.0"), Err(Malformed::Bad(_))));
        assert!(matches!(
            greeting(&[0xff; 2].iter().chain(&[0u8; 16]).copied().collect::<Vec<_>>()),
            Err(Malformed::Bad(_))
        ));
    }

    #[test]
    fn no_input_panics() {
        let mut x = 0x1234_5678_u32;
        for n in 0..2048 {
            let mut v: Vec<u8> = (0..n % 80)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            fuzz(&v);
            let mut framed = (v.len() as u32).to_le_bytes().to_vec();
            v.insert(0, (n % 2) as u8);
            framed.extend_from_slice(&v);
            fuzz(&framed);
        }
    }
}
