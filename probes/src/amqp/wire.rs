//! AMQP 0-9-1 on the wire: the protocol header, frame headers, field tables, and the two
//! connection methods a probe reads before any login (`Connection.Start`, `Connection.Close`).
//!
//! References: the AMQP 0-9-1 specification, §4.2.2 (protocol header), §4.2.3 (frames),
//! §4.2.5.5 (field tables), and RabbitMQ's errata for the field-value types every broker
//! actually sends (<https://www.rabbitmq.com/amqp-0-9-1-errata.html>, section 3).
//!
//! Every length is checked against the bytes that are there: a hostile peer can make a parse
//! fail, never read out of bounds, allocate beyond its own payload or recurse without end.

use serde_json::{Map, Value};

/// What a client sends first: `AMQP`, protocol id 0, version 0-9-1 (§4.2.2).
pub const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";
/// The octet that ends every frame (§4.2.3).
pub const FRAME_END: u8 = 0xCE;
/// Frame type of a method frame.
pub const FRAME_METHOD: u8 = 1;
/// Type, channel and size: the bytes before a frame's payload.
pub const FRAME_HEADER_LEN: usize = 7;
/// The largest frame accepted before `Connection.Tune`. The specification lets a server send
/// up to frame-min-size (4096) before tuning; RabbitMQ's `Connection.Start` is about 500 bytes.
/// A generous 128 KiB tolerates chatty brokers and still refuses absurd lengths.
pub const MAX_UNTUNED_FRAME: u32 = 128 * 1024;
/// Deepest nesting of tables and arrays decoded; deeper is malformed rather than a stack risk.
const MAX_DEPTH: usize = 16;

/// Class and method ids of `Connection.Start` (§1.4.2.1) and `Connection.Close` (§1.4.2.9).
pub const CONNECTION_START: (u16, u16) = (10, 10);
/// `Connection.Close`.
pub const CONNECTION_CLOSE: (u16, u16) = (10, 50);

pub use crate::WireError;
use crate::wire_err as err;

/// The first 8 bytes of a server's answer to the protocol header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// The server sent a protocol header back: it wants another version (§4.2.2).
    Header(HeaderReply),
    /// The server started a frame (it accepted 0-9-1 and sends `Connection.Start`).
    Frame(FrameHeader),
}

/// A protocol header sent back by a server that does not speak the version asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderReply {
    /// Byte 4: 0 for AMQP 0-9-1 and 1.0; 1 for 0-8/0-9/0-10; 2 TLS and 3 SASL layers of 1.0.
    pub protocol_id: u8,
    /// Bytes 5 to 7.
    pub version: [u8; 3],
}

impl HeaderReply {
    /// The version the server wants, as people write it.
    pub fn describe(&self) -> String {
        let [a, b, c] = self.version;
        match (self.protocol_id, a, b, c) {
            (0, 0, 9, 1) => "AMQP 0-9-1".into(),
            (0, 1, 0, 0) => "AMQP 1.0".into(),
            (2, 1, 0, 0) => "AMQP 1.0 (TLS layer)".into(),
            (3, 1, 0, 0) => "AMQP 1.0 (SASL layer)".into(),
            (1, 1, 0, 10) => "AMQP 0-10".into(),
            (1, 1, 0, 9) => "AMQP 0-9".into(),
            (1, 1, 8, 0) | (1, 1, 0, 8) => "AMQP 0-8".into(),
            (id, a, b, c) => format!("AMQP protocol id {id}, version {a}.{b}.{c}"),
        }
    }

    /// The name for `identified`: `amqp1.0` for every AMQP 1.0 layer, else `amqp0-10` style.
    pub fn identified(&self) -> &'static str {
        match (self.protocol_id, self.version) {
            (0 | 2 | 3, [1, 0, 0]) => "amqp1.0",
            (_, [1, 0, 10]) => "amqp0-10",
            (_, [1, 0, 9]) => "amqp0-9",
            (_, [1, 8, 0] | [1, 0, 8]) => "amqp0-8",
            (0, [0, 9, 1]) => "amqp",
            _ => "amqp-other",
        }
    }
}

/// A frame's type, channel and payload size (§4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// 1 method, 2 content header, 3 body, 8 heartbeat.
    pub kind: u8,
    /// The channel; connection methods use 0.
    pub channel: u16,
    /// Payload bytes that follow, before the frame-end octet.
    pub size: u32,
}

/// Reads the first 8 bytes of an answer. `None` when they are neither `AMQP...` nor a frame of
/// a known type, so the caller can ask the sniffer what they are.
pub fn opening(first: &[u8; 8]) -> Option<Opening> {
    if &first[..4] == b"AMQP" {
        return Some(Opening::Header(HeaderReply { protocol_id: first[4], version: [first[5], first[6], first[7]] }));
    }
    frame_header(&first[..FRAME_HEADER_LEN]).map(Opening::Frame)
}

/// A frame header, if the type is one AMQP 0-9-1 defines.
pub fn frame_header(b: &[u8]) -> Option<FrameHeader> {
    let b: &[u8; FRAME_HEADER_LEN] = b.get(..FRAME_HEADER_LEN)?.try_into().ok()?;
    if !matches!(b[0], 1 | 2 | 3 | 8) {
        return None;
    }
    Some(FrameHeader {
        kind: b[0],
        channel: u16::from_be_bytes([b[1], b[2]]),
        size: u32::from_be_bytes([b[3], b[4], b[5], b[6]]),
    })
}

/// A method frame's payload, decoded as far as a probe needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// `Connection.Start`: the server's greeting.
    Start(Start),
    /// `Connection.Close`: the server ends the connection and says why.
    Close(Close),
    /// Any other method, by class and method id.
    Other(u16, u16),
}

/// `Connection.Start` (§1.4.2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    /// Protocol major version the server speaks (0 for 0-9-1).
    pub version_major: u8,
    /// Protocol minor version (9 for 0-9-1).
    pub version_minor: u8,
    /// The server-properties table: product, version, platform, cluster_name, capabilities, ...
    pub server_properties: Map<String, Value>,
    /// SASL mechanisms offered (`PLAIN`, `AMQPLAIN`, `EXTERNAL`, ...).
    pub mechanisms: Vec<String>,
    /// Message locales offered.
    pub locales: Vec<String>,
}

impl Start {
    /// A string property (`product`, `version`, `platform`, `cluster_name`).
    pub fn property(&self, key: &str) -> Option<&str> {
        self.server_properties.get(key).and_then(Value::as_str)
    }

    /// The capabilities the server announces as true, sorted.
    pub fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = self
            .server_properties
            .get("capabilities")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter(|(_, v)| v.as_bool() == Some(true)).map(|(k, _)| k.clone()).collect())
            .unwrap_or_default();
        caps.sort();
        caps
    }

    /// Whether the server sends `Connection.Close` with a reason on a refused login; without
    /// this capability RabbitMQ just drops the socket.
    pub fn closes_on_auth_failure(&self) -> bool {
        self.capabilities().iter().any(|c| c == "authentication_failure_close")
    }
}

/// `Connection.Close` (§1.4.2.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// The reply code (§1.2: 320 connection-forced, 403 access-refused, 530 not-allowed, ...).
    pub reply_code: u16,
    /// The server's words.
    pub reply_text: String,
    /// Class of the method that caused it, 0 if none.
    pub class_id: u16,
    /// Method that caused it, 0 if none.
    pub method_id: u16,
}

/// The spec's name of a reply code (§1.2), for messages and failure codes.
pub fn reply_code_name(code: u16) -> &'static str {
    match code {
        200 => "reply-success",
        311 => "content-too-large",
        312 => "no-route",
        313 => "no-consumers",
        320 => "connection-forced",
        402 => "invalid-path",
        403 => "access-refused",
        404 => "not-found",
        405 => "resource-locked",
        406 => "precondition-failed",
        501 => "frame-error",
        502 => "syntax-error",
        503 => "command-invalid",
        504 => "channel-error",
        505 => "unexpected-frame",
        506 => "resource-error",
        530 => "not-allowed",
        540 => "not-implemented",
        541 => "internal-error",
        _ => "unknown",
    }
}

/// Decodes a method frame's payload.
pub fn method(payload: &[u8]) -> Result<Method, WireError> {
    let mut c = Cursor::new(payload);
    let class = c.u16()?;
    let id = c.u16()?;
    match (class, id) {
        CONNECTION_START => {
            let version_major = c.u8()?;
            let version_minor = c.u8()?;
            let server_properties = c.table(0)?;
            let mechanisms = words(c.long_bytes()?);
            let locales = words(c.long_bytes()?);
            Ok(Method::Start(Start { version_major, version_minor, server_properties, mechanisms, locales }))
        }
        CONNECTION_CLOSE => Ok(Method::Close(Close {
            reply_code: c.u16()?,
            reply_text: c.short_str()?,
            class_id: c.u16()?,
            method_id: c.u16()?,
        })),
        (class, id) => Ok(Method::Other(class, id)),
    }
}

fn words(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b).split_ascii_whitespace().map(str::to_owned).collect()
}

/// A bounds-checked reader over one payload.
struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cursor { b }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.b.len() {
            return err(format!("a field claims {n} bytes where only {} remain", self.b.len()));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn short_str(&mut self) -> Result<String, WireError> {
        let n = self.u8()?;
        Ok(String::from_utf8_lossy(self.take(usize::from(n))?).into_owned())
    }

    fn long_bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()?;
        self.take(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// A field table: a 32-bit byte length, then name/value pairs (§4.2.5.5).
    fn table(&mut self, depth: usize) -> Result<Map<String, Value>, WireError> {
        if depth > MAX_DEPTH {
            return err(format!("tables nested deeper than {MAX_DEPTH}"));
        }
        let mut inner = Cursor::new(self.long_bytes()?);
        let mut map = Map::new();
        while !inner.b.is_empty() {
            let name = inner.short_str()?;
            let value = inner.value(depth)?;
            map.insert(name, value);
        }
        Ok(map)
    }

    /// One typed field value, with RabbitMQ's type letters (errata, section 3).
    fn value(&mut self, depth: usize) -> Result<Value, WireError> {
        let kind = self.u8()?;
        Ok(match kind {
            b't' => Value::Bool(self.u8()? != 0),
            b'b' => Value::from(self.u8()? as i8),
            b'B' => Value::from(self.u8()?),
            b's' => Value::from(i16::from_be_bytes(self.array()?)),
            b'u' => Value::from(self.u16()?),
            b'I' => Value::from(i32::from_be_bytes(self.array()?)),
            b'i' => Value::from(self.u32()?),
            b'l' => Value::from(i64::from_be_bytes(self.array()?)),
            b'L' => Value::from(self.u64()?),
            b'f' => Value::from(f64::from(f32::from_be_bytes(self.array()?))),
            b'd' => Value::from(f64::from_be_bytes(self.array()?)),
            b'D' => {
                let scale = self.u8()?;
                let raw = i32::from_be_bytes(self.array()?);
                Value::from(f64::from(raw) / 10f64.powi(i32::from(scale)))
            }
            b'S' => Value::String(String::from_utf8_lossy(self.long_bytes()?).into_owned()),
            b'x' => Value::String(format!("<{} bytes>", self.long_bytes()?.len())),
            b'T' => Value::from(self.u64()?),
            b'V' => Value::Null,
            b'F' => Value::Object(self.table(depth + 1)?),
            b'A' => {
                if depth >= MAX_DEPTH {
                    return err(format!("arrays nested deeper than {MAX_DEPTH}"));
                }
                let mut inner = Cursor::new(self.long_bytes()?);
                let mut items = Vec::new();
                while !inner.b.is_empty() {
                    items.push(inner.value(depth + 1)?);
                }
                Value::Array(items)
            }
            other => return err(format!("unknown field type {:?} (0x{other:02x})", char::from(other))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RabbitMQ 3.10.8's answer to the 0-9-1 protocol header, captured on loopback.
    const RABBITMQ_START: &[u8] = include_bytes!("fixtures/rabbitmq-connection-start.bin");

    #[test]
    fn rabbitmq_connection_start_decodes() {
        // 01 | 00 00 | 00 00 01 f0: a method frame on channel 0, 496 bytes of payload.
        let first: [u8; 8] = RABBITMQ_START[..8].try_into().unwrap();
        let Some(Opening::Frame(h)) = opening(&first) else { panic!("not a frame") };
        assert_eq!((h.kind, h.channel, h.size), (FRAME_METHOD, 0, 496));
        let end = FRAME_HEADER_LEN + h.size as usize;
        assert_eq!(RABBITMQ_START.len(), end + 1);
        assert_eq!(RABBITMQ_START[end], FRAME_END);
        // 00 0a 00 0a: class 10 (connection), method 10 (start); 00 09: version 0-9.
        let Method::Start(s) = method(&RABBITMQ_START[FRAME_HEADER_LEN..end]).unwrap() else { panic!("not Start") };
        assert_eq!((s.version_major, s.version_minor), (0, 9));
        assert_eq!(s.property("product"), Some("RabbitMQ"));
        assert_eq!(s.property("version"), Some("3.10.8"));
        assert_eq!(s.property("platform"), Some("Erlang/OTP 25.2.3"));
        assert_eq!(s.property("cluster_name"), Some("rabbit@vm"));
        assert_eq!(s.mechanisms, ["PLAIN", "AMQPLAIN"]);
        assert_eq!(s.locales, ["en_US"]);
        assert!(s.closes_on_auth_failure());
        assert!(s.capabilities().contains(&"publisher_confirms".to_owned()));
    }

    #[test]
    fn header_replies_name_the_version() {
        let h = |b: &[u8; 8]| match opening(b) {
            Some(Opening::Header(h)) => h,
            other => panic!("{other:?}"),
        };
        let amqp10 = h(b"AMQP\x00\x01\x00\x00");
        assert_eq!((amqp10.describe().as_str(), amqp10.identified()), ("AMQP 1.0", "amqp1.0"));
        let sasl = h(b"AMQP\x03\x01\x00\x00");
        assert_eq!((sasl.describe().as_str(), sasl.identified()), ("AMQP 1.0 (SASL layer)", "amqp1.0"));
        assert_eq!(h(b"AMQP\x01\x01\x00\x0a").identified(), "amqp0-10");
        assert_eq!(h(b"AMQP\x09\x09\x09\x09").describe(), "AMQP protocol id 9, version 9.9.9");
        assert_eq!(opening(b"HTTP/1.1"), None);
    }

    #[test]
    fn close_decodes() {
        // 00 0a 00 32: connection.close; 01 93 = 403; "ACCESS_REFUSED"; class 0, method 0.
        let mut p = vec![0, 10, 0, 50, 0x01, 0x93, 14];
        p.extend_from_slice(b"ACCESS_REFUSED");
        p.extend_from_slice(&[0, 0, 0, 0]);
        let Method::Close(c) = method(&p).unwrap() else { panic!() };
        assert_eq!((c.reply_code, c.reply_text.as_str()), (403, "ACCESS_REFUSED"));
        assert_eq!(reply_code_name(c.reply_code), "access-refused");
    }

    #[test]
    fn lying_lengths_fail_without_panicking() {
        // A table that claims 4 GiB.
        let p = [0, 10, 0, 10, 0, 9, 0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        assert!(method(&p).unwrap_err().0.contains("claims"));
        // A short string past the end inside a table.
        let p = [0, 10, 0, 10, 0, 9, 0, 0, 0, 3, 9, b'a', b'b'];
        assert!(method(&p).is_err());
        // An unknown field type.
        let p = [0, 10, 0, 10, 0, 9, 0, 0, 0, 3, 1, b'k', b'?'];
        assert!(method(&p).unwrap_err().0.contains("unknown field type"));
        // Truncated everywhere: never a panic.
        for n in 0..RABBITMQ_START.len() - 8 {
            let _ = method(&RABBITMQ_START[FRAME_HEADER_LEN..FRAME_HEADER_LEN + n]);
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed() {
        // 1000 nested tables, each the only field of its parent.
        let mut table: Vec<u8> = vec![0, 0, 0, 0];
        for _ in 0..1000 {
            let mut outer = vec![1, b'k', b'F'];
            outer.extend_from_slice(&table);
            let mut t = (outer.len() as u32).to_be_bytes().to_vec();
            t.extend_from_slice(&outer);
            table = t;
        }
        let mut p = vec![0, 10, 0, 10, 0, 9];
        p.extend_from_slice(&table);
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(method(&p).unwrap_err().0.contains("nested"));
    }

    #[test]
    fn every_field_type_decodes() {
        let mut t = Vec::new();
        let mut field = |name: &str, bytes: &[u8]| {
            t.push(name.len() as u8);
            t.extend_from_slice(name.as_bytes());
            t.extend_from_slice(bytes);
        };
        field("t", &[b't', 1]);
        field("b", &[b'b', 0xff]);
        field("s", &[b's', 0xff, 0xfe]);
        field("I", &[b'I', 0, 0, 0, 7]);
        field("l", &[b'l', 0, 0, 0, 0, 0, 0, 0, 9]);
        field("d", &[b'd', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
        field("D", &[b'D', 2, 0, 0, 0x01, 0x2c]);
        field("T", &[b'T', 0, 0, 0, 0, 0x60, 0, 0, 0]);
        field("V", b"V");
        field("x", &[b'x', 0, 0, 0, 2, 0xde, 0xad]);
        field("A", &[b'A', 0, 0, 0, 4, b'b', 1, b't', 0]);
        let mut p = vec![0, 10, 0, 10, 0, 9];
        p.extend_from_slice(&(t.len() as u32).to_be_bytes());
        p.extend_from_slice(&t);
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        let Method::Start(s) = method(&p).unwrap() else { panic!() };
        let v = Value::Object(s.server_properties);
        assert_eq!(
            v,
            serde_json::json!({"t": true, "b": -1, "s": -2, "I": 7, "l": 9, "d": 1.5, "D": 3.0,
                "T": 1610612736u64, "V": null, "x": "<2 bytes>", "A": [1, false]})
        );
    }
}
