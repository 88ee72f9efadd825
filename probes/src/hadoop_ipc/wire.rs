//! Hadoop IPC as far as the probe needs it: the 7-byte connection header (`hrpc`, the IPC
//! version, the service class, the auth protocol) and the fatal answer a server sends to a
//! version it does not speak, in both of its shapes: an `RpcResponseHeaderProto` after a length
//! (Hadoop 2 and later, to clients of version 9 and above) and the Writable answer of Hadoop 1
//! (call id -1, status -1, then the exception class and message as length-prefixed strings).
//! Nothing else of the protocol is spoken: the probe offers a version no server has, so no
//! connection context, SASL exchange or call ever follows.

/// The connection header: `hrpc`, IPC version 127, service class 0, auth protocol 0 (NONE).
/// Version 127 is the highest a server reads as a positive byte; every server since Hadoop
/// 0.20 answers a version other than its own with `RPC$VersionMismatch`, and one of 9 or more
/// with the protobuf answer.
pub const HEADER: &[u8; 7] = b"hrpc\x7f\x00\x00";
pub use crate::wire::Malformed;
use crate::wire::bad;
/// The version offered, for messages.
pub const OFFERED_VERSION: u8 = 0x7f;
/// The most a fatal answer may take: a class name and a sentence.
pub const MAX_ANSWER: usize = 64 * 1024;
/// The exception class of a version mismatch.
pub const VERSION_MISMATCH: &str = "org.apache.hadoop.ipc.RPC$VersionMismatch";

/// What the server said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fatal {
    /// The shape: `protobuf` (Hadoop 2+) or `writable` (Hadoop 1).
    pub shape: &'static str,
    /// RpcStatusProto: 1 ERROR, 2 FATAL (the Writable shape says -1 for fatal).
    pub status: i64,
    /// serverIpcVersionNum, when sent.
    pub server_version: Option<u64>,
    /// The exception class.
    pub exception: Option<String>,
    /// The message.
    pub message: Option<String>,
    /// RpcErrorCodeProto, when sent.
    pub error_code: Option<u64>,
}

impl Fatal {
    /// The server's IPC version: sent as a field, else read from the message ("Server IPC
    /// version 9 cannot communicate with client version 127").
    pub fn ipc_version(&self) -> Option<u64> {
        self.server_version.or_else(|| {
            let m = self.message.as_deref()?;
            let at = m.find("Server IPC version ")?;
            m[at + 19..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        })
    }
    /// Whether this is the version-mismatch answer.
    pub fn is_version_mismatch(&self) -> bool {
        self.exception.as_deref() == Some(VERSION_MISMATCH) || self.error_code == Some(14)
    }
}

/// The name of an RpcErrorCodeProto (RpcHeader.proto).
pub fn error_code_name(code: u64) -> &'static str {
    match code {
        1 => "ERROR_APPLICATION",
        2 => "ERROR_NO_SUCH_METHOD",
        3 => "ERROR_NO_SUCH_PROTOCOL",
        4 => "ERROR_RPC_SERVER",
        5 => "ERROR_SERIALIZING_RESPONSE",
        6 => "ERROR_RPC_VERSION_MISMATCH",
        10 => "FATAL_UNKNOWN",
        11 => "FATAL_UNSUPPORTED_SERIALIZATION",
        12 => "FATAL_INVALID_RPC_HEADER",
        13 => "FATAL_DESERIALIZING_REQUEST",
        14 => "FATAL_VERSION_MISMATCH",
        15 => "FATAL_UNAUTHORIZED",
        _ => "UNKNOWN",
    }
}

/// Parses the server's answer from the start of `b`.
pub fn answer(b: &[u8]) -> Result<Fatal, Malformed> {
    let first = b.get(..4).ok_or(Malformed::Short)?;
    if first == [0xff; 4] {
        return writable(&b[4..]);
    }
    let len = u32::from_be_bytes(first.try_into().expect("four")) as usize;
    if len == 0 || len > MAX_ANSWER {
        return bad(format!("a response of {len} bytes is no fatal answer"));
    }
    let body = b.get(4..4 + len).ok_or(Malformed::Short)?;
    let (hlen, used) = varint(body).ok_or_else(|| Malformed::Bad("the header length is not a varint".into()))?;
    let header = usize::try_from(hlen)
        .ok()
        .and_then(|h| body.get(used..used.checked_add(h)?))
        .ok_or_else(|| Malformed::Bad("the header is longer than the response".into()))?;
    protobuf(header)
}

/// Hadoop 1's answer after the call id: the status (-1, fatal), then two Writable strings.
fn writable(b: &[u8]) -> Result<Fatal, Malformed> {
    let status = b.get(..4).ok_or(Malformed::Short)?;
    if status != [0xff; 4] {
        return bad("call id -1 without the fatal status");
    }
    let (exception, rest) = wstring(&b[4..])?;
    let (message, _) = wstring(rest)?;
    if !exception.starts_with("org.apache.hadoop.") {
        return bad(format!("the exception {exception:?} is not Hadoop's"));
    }
    Ok(Fatal { shape: "writable", status: -1, exception: Some(exception), message: Some(message), ..Fatal::default() })
}

/// WritableUtils.writeString: an int length, then UTF-8.
fn wstring(b: &[u8]) -> Result<(String, &[u8]), Malformed> {
    let n = b.get(..4).ok_or(Malformed::Short)?;
    let n = i32::from_be_bytes(n.try_into().expect("four"));
    let n = usize::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_ANSWER)
        .ok_or_else(|| Malformed::Bad(format!("a string of {n} bytes")))?;
    let s = b.get(4..4 + n).ok_or(Malformed::Short)?;
    Ok((String::from_utf8_lossy(s).into_owned(), &b[4 + n..]))
}

/// A protobuf varint and how many bytes it took (at most 10).
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// RpcResponseHeaderProto: callId (1), status (2), serverIpcVersionNum (3), exceptionClassName
/// (4), errorMsg (5), errorDetail (6); other fields are skipped by their wire type.
fn protobuf(mut b: &[u8]) -> Result<Fatal, Malformed> {
    let mut f = Fatal { shape: "protobuf", status: -2, ..Fatal::default() };
    let mut call_id = None;
    while !b.is_empty() {
        let (key, used) = varint(b).ok_or_else(|| Malformed::Bad("a field key is not a varint".into()))?;
        b = &b[used..];
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let (v, used) = varint(b).ok_or_else(|| Malformed::Bad("a value is not a varint".into()))?;
                b = &b[used..];
                match field {
                    1 => call_id = Some(v),
                    2 => f.status = i64::try_from(v).unwrap_or(-2),
                    3 => f.server_version = Some(v),
                    6 => f.error_code = Some(v),
                    _ => {}
                }
            }
            2 => {
                let (n, used) = varint(b).ok_or_else(|| Malformed::Bad("a length is not a varint".into()))?;
                let s = usize::try_from(n)
                    .ok()
                    .and_then(|n| b.get(used..used.checked_add(n)?))
                    .ok_or_else(|| Malformed::Bad("a field runs past the header".into()))?;
                b = &b[used + s.len()..];
                match field {
                    4 => f.exception = Some(String::from_utf8_lossy(s).into_owned()),
                    5 => f.message = Some(String::from_utf8_lossy(s).into_owned()),
                    _ => {}
                }
            }
            1 if b.len() >= 8 => b = &b[8..],
            5 if b.len() >= 4 => b = &b[4..],
            _ => return bad(format!("field {field} has wire type {wire}, which the header does not use")),
        }
    }
    // callId and status are required; a fatal answer names its cause in Hadoop's own terms.
    if call_id.is_none() || !(1..=2).contains(&f.status) {
        return bad("no callId, or a status that is neither ERROR nor FATAL");
    }
    let hadoop = f.exception.as_deref().is_some_and(|e| e.starts_with("org.apache.hadoop."))
        || f.message.as_deref().is_some_and(|m| m.contains("IPC version"));
    if !hadoop {
        return bad("a response header that names no Hadoop exception");
    }
    Ok(f)
}

/// Runs the parser on `data`: the fuzz target's body, and the no-panic test's.
pub fn fuzz(data: &[u8]) {
    if let Ok(f) = answer(data) {
        let _ = f.ipc_version();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protobuf_fixture_is_a_version_mismatch() {
        let f = answer(include_bytes!("fixtures/hadoop3-version-mismatch.bin")).unwrap();
        assert_eq!(f.shape, "protobuf");
        assert_eq!(f.status, 2);
        assert_eq!(f.ipc_version(), Some(9));
        assert!(f.is_version_mismatch());
        assert_eq!(f.message.as_deref(), Some("Server IPC version 9 cannot communicate with client version 127"));
        assert_eq!(error_code_name(f.error_code.unwrap()), "FATAL_VERSION_MISMATCH");
    }

    #[test]
    fn the_writable_fixture_is_a_version_mismatch() {
        let f = answer(include_bytes!("fixtures/hadoop1-version-mismatch.bin")).unwrap();
        assert_eq!(f.shape, "writable");
        assert_eq!(f.ipc_version(), Some(4), "read from the message");
        assert!(f.is_version_mismatch());
    }

    #[test]
    fn prefixes_are_short_and_lies_are_bad() {
        let b = include_bytes!("fixtures/hadoop3-version-mismatch.bin");
        for cut in 0..b.len() {
            assert!(matches!(answer(&b[..cut]), Err(Malformed::Short)), "{cut}");
        }
        assert!(matches!(answer(b"\x80\x00\x00\x00abcd"), Err(Malformed::Bad(_))));
        assert!(matches!(answer(b"HTTP/1.1 400 Bad Request\r\n"), Err(Malformed::Bad(_))));
        // A well-formed header that names nothing of Hadoop.
        assert!(matches!(answer(b"\x00\x00\x00\x05\x04\x08\x01\x10\x02"), Err(Malformed::Bad(_))));
    }

    #[test]
    fn no_input_panics() {
        let mut x = 0x2545_f491_u32;
        for n in 0..2048 {
            let v: Vec<u8> = (0..n % 96)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            fuzz(&v);
            let mut framed = (v.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(&v);
            fuzz(&framed);
        }
    }
}
