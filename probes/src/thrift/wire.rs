//! Apache Thrift's messages as far as the probe needs them: a call of a method that cannot
//! exist, in the binary and compact protocols, unframed or framed, and the answer it draws,
//! a message header and, for an exception, the TApplicationException struct (field 1 the
//! message, field 2 the type). Every other field is skipped by its type, within the bytes
//! read; nesting is bounded. Written from the Thrift specifications of the binary and compact
//! protocols (thrift/doc/specs/thrift-binary-protocol.md, thrift-compact-protocol.md).

/// The method the probe calls: no service names a method so.
pub const METHOD: &str = "__portproof_no_such_method";
pub use crate::wire::Malformed;
use crate::wire::bad;

/// The largest frame or unframed answer the probe reads (Thrift's own default frame limit is
/// 16 MiB; an exception is a few dozen bytes).
pub const MAX_MESSAGE: usize = 1 << 20;

/// The deepest struct, list or map nesting skipped before the answer is called absurd.
const MAX_DEPTH: usize = 16;

/// Thrift's message types.
pub const CALL: u8 = 1;
/// A method's result.
pub const REPLY: u8 = 2;
/// A TApplicationException (or a declared exception wrapped in a reply).
pub const EXCEPTION: u8 = 3;

/// A protocol of the Thrift stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// TBinaryProtocol, strict (versioned) messages.
    Binary,
    /// TCompactProtocol.
    Compact,
}

impl Protocol {
    /// The name in the facts.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Binary => "binary",
            Protocol::Compact => "compact",
        }
    }
}

/// Whether messages go as they are or behind a 4-byte length (TFramedTransport).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// TBufferedTransport, TSocket as it is.
    Unframed,
    /// TFramedTransport: a big-endian i32 length before each message.
    Framed,
}

impl Framing {
    /// The name in the facts.
    pub fn name(self) -> &'static str {
        match self {
            Framing::Unframed => "unframed",
            Framing::Framed => "framed",
        }
    }
}

/// The stacks tried, in order: the common default (binary unframed: WSO2's 7611), then binary
/// framed (Cassandra's 9160, nonblocking servers), then compact framed.
pub const ATTEMPTS: [(Protocol, Framing); 3] =
    [(Protocol::Binary, Framing::Unframed), (Protocol::Binary, Framing::Framed), (Protocol::Compact, Framing::Framed)];

/// A message header and what the probe reads of its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The method name the server echoes.
    pub name: String,
    /// CALL, REPLY, EXCEPTION or ONEWAY.
    pub kind: u8,
    /// The sequence id the server echoes.
    pub seqid: i32,
    /// For an EXCEPTION: the TApplicationException's fields.
    pub exception: Option<AppException>,
}

/// A TApplicationException: its message (field 1) and type (field 2), each if present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppException {
    /// Its text ("Invalid method name: 'x'", "Unknown function x").
    pub message: Option<String>,
    /// Its type (1 is UNKNOWN_METHOD).
    pub kind: Option<i32>,
}

/// The name of a TApplicationException type (lib/*/TApplicationException in every language).
pub fn exception_name(kind: i32) -> Option<&'static str> {
    Some(match kind {
        0 => "UNKNOWN",
        1 => "UNKNOWN_METHOD",
        2 => "INVALID_MESSAGE_TYPE",
        3 => "WRONG_METHOD_NAME",
        4 => "BAD_SEQUENCE_ID",
        5 => "MISSING_RESULT",
        6 => "INTERNAL_ERROR",
        7 => "PROTOCOL_ERROR",
        8 => "INVALID_TRANSFORM",
        9 => "INVALID_PROTOCOL",
        10 => "UNSUPPORTED_CLIENT_TYPE",
        _ => return None,
    })
}

/// The server library the exception's wording points to: each Thrift library words
/// UNKNOWN_METHOD its own way. An inference, said as one.
pub fn language_hint(message: &str) -> Option<&'static str> {
    if message.starts_with("Invalid method name: '") {
        Some("Java or C++ (libthrift's wording \"Invalid method name\")")
    } else if message.starts_with("Unknown function ") {
        Some("Python or Go (the wording \"Unknown function\")")
    } else if message.contains("not implemented") {
        Some("PHP (the wording \"not implemented\")")
    } else {
        None
    }
}

/// A call of [`METHOD`] with no arguments (an empty args struct), `seqid` its sequence id.
pub fn call(protocol: Protocol, framing: Framing, seqid: i32) -> Vec<u8> {
    let mut msg = Vec::new();
    match protocol {
        Protocol::Binary => {
            // Strict header: 0x8001 version, type in the low byte; name; seqid; then STOP.
            msg.extend_from_slice(&(0x8001_0000u32 | u32::from(CALL)).to_be_bytes());
            msg.extend_from_slice(&(METHOD.len() as i32).to_be_bytes());
            msg.extend_from_slice(METHOD.as_bytes());
            msg.extend_from_slice(&seqid.to_be_bytes());
            msg.push(0);
        }
        Protocol::Compact => {
            // Protocol id 0x82, version 1 with the type in the top 3 bits, varint seqid, name.
            msg.push(0x82);
            msg.push((CALL << 5) | 1);
            varint(&mut msg, seqid as u32 as u64);
            varint(&mut msg, METHOD.len() as u64);
            msg.extend_from_slice(METHOD.as_bytes());
            msg.push(0);
        }
    }
    match framing {
        Framing::Unframed => msg,
        Framing::Framed => {
            let mut out = (msg.len() as i32).to_be_bytes().to_vec();
            out.extend_from_slice(&msg);
            out
        }
    }
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// The length a TFramedTransport frame header announces, checked: at least a message header,
/// at most [`MAX_MESSAGE`].
pub fn frame_len(head: [u8; 4]) -> Result<usize, Malformed> {
    let n = i32::from_be_bytes(head);
    if n < 2 {
        return bad(format!("a frame length of {n}"));
    }
    let n = n as usize;
    if n > MAX_MESSAGE {
        return bad(format!("a frame length of {n} bytes, over the {MAX_MESSAGE} the probe reads"));
    }
    Ok(n)
}

/// Reads one message of `protocol` from the start of `b`: the message and the bytes it took.
pub fn parse(protocol: Protocol, b: &[u8]) -> Result<(Message, usize), Malformed> {
    let mut c = Cursor { b, at: 0 };
    let (name, kind, seqid) = match protocol {
        Protocol::Binary => c.binary_header()?,
        Protocol::Compact => c.compact_header()?,
    };
    let exception = if kind == EXCEPTION {
        Some(match protocol {
            Protocol::Binary => c.binary_exception()?,
            Protocol::Compact => c.compact_exception()?,
        })
    } else {
        // The result struct is skipped: the probe needs only that it is whole.
        match protocol {
            Protocol::Binary => c.binary_skip(12, 0)?,
            Protocol::Compact => c.compact_skip(12, 0)?,
        }
        None
    };
    Ok((Message { name, kind, seqid, exception }, c.at))
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.at.checked_add(n).ok_or(Malformed::Short)?;
        if end > MAX_MESSAGE {
            return bad(format!("a length of {n} bytes runs past the {MAX_MESSAGE} the probe reads"));
        }
        let s = self.b.get(self.at..end).ok_or(Malformed::Short)?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, Malformed> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn i32(&mut self) -> Result<i32, Malformed> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn len(&mut self, n: i64, what: &str) -> Result<usize, Malformed> {
        if n < 0 {
            return bad(format!("a negative {what} length ({n})"));
        }
        if n as u64 > MAX_MESSAGE as u64 {
            return bad(format!("a {what} length of {n}, over the {MAX_MESSAGE} bytes the probe reads"));
        }
        Ok(n as usize)
    }
    fn text(&mut self, n: usize, what: &str) -> Result<String, Malformed> {
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).or_else(|_| bad(format!("the {what} is not UTF-8")))
    }

    // ---- binary ----

    fn binary_header(&mut self) -> Result<(String, u8, i32), Malformed> {
        let word = self.i32()?;
        if word < 0 {
            let version = (word as u32) & 0xffff_0000;
            if version != 0x8001_0000 {
                return bad(format!("version word {:#010x}, not Thrift binary's 0x8001", word as u32));
            }
            let kind = (word & 0xff) as u8;
            check_kind(kind)?;
            let n = self.i32()?;
            let n = self.len(n.into(), "method name")?;
            let name = self.text(n, "method name")?;
            let seqid = self.i32()?;
            Ok((name, kind, seqid))
        } else {
            // The old, non-strict header: the name first, then the type as a byte.
            let n = self.len(word.into(), "method name")?;
            if n > 4096 {
                return bad(format!("a method name of {n} bytes"));
            }
            let name = self.text(n, "method name")?;
            let kind = self.u8()?;
            check_kind(kind)?;
            let seqid = self.i32()?;
            Ok((name, kind, seqid))
        }
    }

    fn binary_exception(&mut self) -> Result<AppException, Malformed> {
        let mut x = AppException::default();
        loop {
            let ty = self.u8()?;
            if ty == 0 {
                return Ok(x);
            }
            let id = self.i16()?;
            match (id, ty) {
                (1, 11) => {
                    let n = self.i32()?;
                    let n = self.len(n.into(), "exception message")?;
                    x.message = Some(String::from_utf8_lossy(self.take(n)?).into_owned());
                }
                (2, 8) => x.kind = Some(self.i32()?),
                _ => self.binary_skip(ty, 0)?,
            }
        }
    }

    fn binary_skip(&mut self, ty: u8, depth: usize) -> Result<(), Malformed> {
        if depth > MAX_DEPTH {
            return bad(format!("nested more than {MAX_DEPTH} deep"));
        }
        match ty {
            2 | 3 => drop(self.take(1)?),
            4 | 10 => drop(self.take(8)?),
            6 => drop(self.take(2)?),
            8 => drop(self.take(4)?),
            16 => drop(self.take(16)?),
            11 => {
                let n = self.i32()?;
                let n = self.len(n.into(), "string")?;
                self.take(n)?;
            }
            12 => loop {
                let t = self.u8()?;
                if t == 0 {
                    break;
                }
                self.i16()?;
                self.binary_skip(t, depth + 1)?;
            },
            13 => {
                let (k, v) = (self.u8()?, self.u8()?);
                let n = self.i32()?;
                let n = self.len(n.into(), "map")?;
                for _ in 0..n {
                    self.binary_skip(k, depth + 1)?;
                    self.binary_skip(v, depth + 1)?;
                }
            }
            14 | 15 => {
                let e = self.u8()?;
                let n = self.i32()?;
                let n = self.len(n.into(), "list")?;
                for _ in 0..n {
                    self.binary_skip(e, depth + 1)?;
                }
            }
            other => return bad(format!("field type {other}, which the binary protocol does not have")),
        }
        Ok(())
    }

    // ---- compact ----

    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut n = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            n |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        bad("a varint longer than 10 bytes")
    }
    fn zigzag(&mut self) -> Result<i64, Malformed> {
        let n = self.varint()?;
        Ok((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    fn compact_header(&mut self) -> Result<(String, u8, i32), Malformed> {
        let id = self.u8()?;
        if id != 0x82 {
            return bad(format!("protocol id {id:#04x}, not Thrift compact's 0x82"));
        }
        let vt = self.u8()?;
        if vt & 0x1f != 1 {
            return bad(format!("compact protocol version {}, not 1", vt & 0x1f));
        }
        let kind = vt >> 5;
        check_kind(kind)?;
        let seqid = self.varint()? as u32 as i32;
        let n = self.varint()?;
        let n = self.len(n.min(i64::MAX as u64) as i64, "method name")?;
        let name = self.text(n, "method name")?;
        Ok((name, kind, seqid))
    }

    /// A compact field header: (type, field id), or `None` at STOP.
    fn compact_field(&mut self, last: &mut i16) -> Result<Option<(u8, i16)>, Malformed> {
        let h = self.u8()?;
        if h == 0 {
            return Ok(None);
        }
        let ty = h & 0x0f;
        let delta = h >> 4;
        let id = if delta == 0 { self.zigzag()? as i16 } else { last.wrapping_add(i16::from(delta)) };
        *last = id;
        Ok(Some((ty, id)))
    }

    fn compact_exception(&mut self) -> Result<AppException, Malformed> {
        let mut x = AppException::default();
        let mut last = 0i16;
        while let Some((ty, id)) = self.compact_field(&mut last)? {
            match (id, ty) {
                (1, 8) => {
                    let n = self.varint()?;
                    let n = self.len(n.min(i64::MAX as u64) as i64, "exception message")?;
                    x.message = Some(String::from_utf8_lossy(self.take(n)?).into_owned());
                }
                (2, 5) => x.kind = Some(self.zigzag()? as i32),
                _ => self.compact_skip(ty, 0)?,
            }
        }
        Ok(x)
    }

    /// Skips a value of compact type `ty` (in a field; 1 and 2 are booleans held in the type).
    fn compact_skip(&mut self, ty: u8, depth: usize) -> Result<(), Malformed> {
        self.compact_value(ty, depth, true)
    }

    fn compact_value(&mut self, ty: u8, depth: usize, in_field: bool) -> Result<(), Malformed> {
        if depth > MAX_DEPTH {
            return bad(format!("nested more than {MAX_DEPTH} deep"));
        }
        match ty {
            // A boolean field carries its value in the type; in a collection it is a byte.
            1 | 2 if in_field => {}
            1..=3 => drop(self.take(1)?),
            4..=6 => drop(self.varint()?),
            7 => drop(self.take(8)?),
            13 => drop(self.take(16)?),
            8 => {
                let n = self.varint()?;
                let n = self.len(n.min(i64::MAX as u64) as i64, "binary")?;
                self.take(n)?;
            }
            9 | 10 => {
                let h = self.u8()?;
                let n = match h >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                let n = self.len(n.min(i64::MAX as u64) as i64, "list")?;
                for _ in 0..n {
                    self.compact_value(h & 0x0f, depth + 1, false)?;
                }
            }
            11 => {
                let n = self.varint()?;
                let n = self.len(n.min(i64::MAX as u64) as i64, "map")?;
                if n > 0 {
                    let kv = self.u8()?;
                    for _ in 0..n {
                        self.compact_value(kv >> 4, depth + 1, false)?;
                        self.compact_value(kv & 0x0f, depth + 1, false)?;
                    }
                }
            }
            12 => {
                let mut last = 0i16;
                while let Some((t, _)) = self.compact_field(&mut last)? {
                    self.compact_value(t, depth + 1, true)?;
                }
            }
            other => return bad(format!("field type {other}, which the compact protocol does not have")),
        }
        Ok(())
    }
}

fn check_kind(kind: u8) -> Result<(), Malformed> {
    if (1..=4).contains(&kind) { Ok(()) } else { bad(format!("message type {kind}, which Thrift does not have")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calls_are_what_the_specifications_say() {
        let b = call(Protocol::Binary, Framing::Unframed, 0x5050);
        assert_eq!(&b[..8], b"\x80\x01\x00\x01\x00\x00\x00\x1a");
        assert_eq!(&b[8..8 + METHOD.len()], METHOD.as_bytes());
        assert_eq!(&b[8 + METHOD.len()..], b"\x00\x00\x50\x50\x00");
        let f = call(Protocol::Binary, Framing::Framed, 0x5050);
        assert_eq!(frame_len(f[..4].try_into().unwrap()).unwrap(), b.len());
        assert_eq!(&f[4..], &b[..]);
        let c = call(Protocol::Compact, Framing::Unframed, 0x5050);
        // 0x82, version 1 | CALL << 5, seqid 0x5050 as a varint (d0 a0 01), name length 26.
        assert_eq!(&c[..6], b"\x82\x21\xd0\xa0\x01\x1a");
        assert_eq!(*c.last().unwrap(), 0);
    }

    #[test]
    fn pythons_binary_answer_is_unknown_method() {
        // Captured from thrift 0.22 (PyPI), TBinaryProtocol over TBufferedTransport: see
        // fixtures/README.md for the bytes.
        let b = include_bytes!("fixtures/python-binary-unknown-method.bin");
        let (m, used) = parse(Protocol::Binary, b).unwrap();
        assert_eq!(used, b.len());
        assert_eq!((m.name.as_str(), m.kind, m.seqid), (METHOD, EXCEPTION, 0x5050));
        let x = m.exception.unwrap();
        assert_eq!(x.kind, Some(1));
        assert_eq!(x.message.as_deref(), Some("Unknown function __portproof_no_such_method"));
        assert!(language_hint(x.message.as_deref().unwrap()).unwrap().starts_with("Python"));
        for cut in 0..b.len() {
            assert_eq!(parse(Protocol::Binary, &b[..cut]).unwrap_err(), Malformed::Short, "cut at {cut}");
        }
    }

    #[test]
    fn pythons_compact_framed_answer_is_unknown_method() {
        let b = include_bytes!("fixtures/python-compact-framed-unknown-method.bin");
        let n = frame_len(b[..4].try_into().unwrap()).unwrap();
        assert_eq!(n, b.len() - 4);
        let (m, used) = parse(Protocol::Compact, &b[4..]).unwrap();
        assert_eq!(used, n);
        assert_eq!((m.name.as_str(), m.kind, m.seqid), (METHOD, EXCEPTION, 0x5050));
        assert_eq!(m.exception.unwrap().kind, Some(1));
        // The same bytes are not binary Thrift.
        assert!(matches!(parse(Protocol::Binary, &b[4..]), Err(Malformed::Bad(_))));
    }

    #[test]
    fn javas_wording_and_the_old_header_are_read() {
        // A non-strict binary EXCEPTION, as old servers write it: name, type byte, seqid, then
        // a struct with an unknown i64 field 9 before the message and type.
        let mut b = Vec::new();
        b.extend_from_slice(&(METHOD.len() as i32).to_be_bytes());
        b.extend_from_slice(METHOD.as_bytes());
        b.push(EXCEPTION);
        b.extend_from_slice(&7i32.to_be_bytes());
        b.extend_from_slice(b"\x0a\x00\x09\x00\x00\x00\x00\x00\x00\x00\x01");
        let text = format!("Invalid method name: '{METHOD}'");
        b.extend_from_slice(b"\x0b\x00\x01");
        b.extend_from_slice(&(text.len() as i32).to_be_bytes());
        b.extend_from_slice(text.as_bytes());
        b.extend_from_slice(b"\x08\x00\x02\x00\x00\x00\x01\x00");
        let (m, _) = parse(Protocol::Binary, &b).unwrap();
        assert_eq!(m.seqid, 7);
        let x = m.exception.unwrap();
        assert_eq!((x.kind, x.message.as_deref()), (Some(1), Some(text.as_str())));
        assert!(language_hint(&text).unwrap().starts_with("Java"));
    }

    #[test]
    fn absurd_lengths_and_depths_are_refused_not_awaited() {
        assert!(matches!(frame_len(*b"\x7f\xff\xff\xff"), Err(Malformed::Bad(_))));
        assert!(matches!(frame_len(*b"\xff\xff\xff\xff"), Err(Malformed::Bad(_))));
        assert!(matches!(frame_len(*b"HTTP"), Err(Malformed::Bad(_))));
        // A strict header whose name claims 2 GiB.
        assert!(matches!(parse(Protocol::Binary, b"\x80\x01\x00\x03\x7f\xff\xff\xff"), Err(Malformed::Bad(_))));
        // HTTP is not binary Thrift (its first word is a name length of 1.2 GB).
        assert!(matches!(parse(Protocol::Binary, b"HTTP/1.1 400 Bad Request\r\n"), Err(Malformed::Bad(_))));
        // Structs nested 100 deep inside an exception's unknown field.
        let mut b = b"\x80\x01\x00\x03\x00\x00\x00\x01x\x00\x00\x00\x01".to_vec();
        for _ in 0..100 {
            b.extend_from_slice(b"\x0c\x00\x05");
        }
        assert!(matches!(parse(Protocol::Binary, &b), Err(Malformed::Bad(_))));
        // A compact list claiming 2^60 booleans stops at the bytes there are.
        let mut c = b"\x82\x61\x01\x01x".to_vec();
        c.extend_from_slice(b"\x19\xf1\x80\x80\x80\x80\x80\x80\x80\x80\x10");
        assert!(parse(Protocol::Compact, &c).is_err());
    }

    #[test]
    fn no_input_panics() {
        // A deterministic sweep beside the fuzz target: every prefix and byte flip of the fixtures.
        for fixture in [
            &include_bytes!("fixtures/python-binary-unknown-method.bin")[..],
            &include_bytes!("fixtures/python-compact-framed-unknown-method.bin")[4..],
        ] {
            for i in 0..fixture.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut b = fixture.to_vec();
                    b[i] ^= flip;
                    let _ = parse(Protocol::Binary, &b);
                    let _ = parse(Protocol::Compact, &b);
                }
            }
        }
    }
}
