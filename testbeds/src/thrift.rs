//! An Apache Thrift server that knows no method, written from Thrift's binary protocol
//! description (`doc/specs/thrift-binary-protocol.md`): it reads one strict binary message
//! header, unframed or inside a TFramedTransport frame, and answers what every Thrift server
//! answers a method it does not have: a TApplicationException of type 1 (UNKNOWN_METHOD) under
//! the call's name and sequence id, in the framing the call came in. Anything else (compact
//! protocol, garbage) is closed, as a binary-only server does. The demo's WSO2 sites serve it
//! on their Thrift ports; the real peers (`testbeds/scripts/thrift.sh`) are Apache Thrift's own.
//! The bytes are built here, field by field, not by the probe's code.

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::Server;
use crate::conn::{accept_each, finish, send};

/// `VERSION_1 | CALL` and `VERSION_1 | EXCEPTION` of the strict binary protocol.
const VERSION_1: u32 = 0x8001_0000;
const CALL: u32 = 1;
const ONEWAY: u32 = 4;
const EXCEPTION: u32 = 3;
/// A method name longer than this is not a call this server reads.
const MAX_NAME: usize = 4096;
/// The largest frame it accepts (Thrift's default max frame size is 16 MB; a call to an
/// unknown method needs far less).
const MAX_FRAME: usize = 1 << 20;

/// Serves on `listener`.
pub fn serve(listener: TcpListener) -> Server {
    accept_each(listener, session)
}

/// The TApplicationException reply to the call `name` with `seqid` (unframed bytes).
pub fn unknown_method(name: &[u8], seqid: i32) -> Vec<u8> {
    let mut out = (VERSION_1 | EXCEPTION).to_be_bytes().to_vec();
    out.extend_from_slice(&(name.len() as u32).to_be_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&seqid.to_be_bytes());
    let message = format!("Invalid method name: '{}'", String::from_utf8_lossy(name));
    // Field 1: string message (type 11).
    out.extend_from_slice(&[11, 0, 1]);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message.as_bytes());
    // Field 2: i32 type (type 8) = 1, UNKNOWN_METHOD.
    out.extend_from_slice(&[8, 0, 2]);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.push(0); // STOP
    out
}

/// Reads the header of a strict binary message from `b`: name and sequence id of a call.
fn call_header(b: &[u8]) -> Option<(Vec<u8>, i32, bool)> {
    let word = u32::from_be_bytes(b.get(0..4)?.try_into().ok()?);
    if word & 0xffff_0000 != VERSION_1 || !matches!(word & 0xff, CALL | ONEWAY) {
        return None;
    }
    let len = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    if len > MAX_NAME {
        return None;
    }
    let name = b.get(8..8 + len)?.to_vec();
    let seqid = i32::from_be_bytes(b.get(8 + len..12 + len)?.try_into().ok()?);
    Some((name, seqid, word & 0xff == ONEWAY))
}

async fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>, want: usize) -> Option<()> {
    while buf.len() < want {
        let mut chunk = [0u8; 1024];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(())
}

async fn session(mut s: TcpStream) {
    let mut buf = Vec::new();
    if read_more(&mut s, &mut buf, 4).await.is_none() {
        return;
    }
    let first = u32::from_be_bytes(buf[0..4].try_into().expect("four bytes"));
    let framed = first & 0x8000_0000 == 0;
    let body_at = if framed { 4 } else { 0 };
    if framed && (first as usize) > MAX_FRAME {
        return finish(&mut s).await;
    }
    // Enough for the header: read until it parses, the frame ends, or the name is too long.
    let header = loop {
        if let Some(h) = call_header(&buf[body_at..]) {
            break Some(h);
        }
        let limit = if framed { 4 + first as usize } else { 8 + MAX_NAME + 4 };
        let want = buf.len() + 1;
        if want > limit || read_more(&mut s, &mut buf, want).await.is_none() {
            break None;
        }
    };
    let Some((name, seqid, oneway)) = header else { return finish(&mut s).await };
    if !oneway {
        let reply = unknown_method(&name, seqid);
        let out = if framed {
            let mut f = (reply.len() as u32).to_be_bytes().to_vec();
            f.extend_from_slice(&reply);
            f
        } else {
            reply
        };
        let _ = send(&mut s, &out).await;
    }
    finish(&mut s).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_is_a_strict_binary_exception_with_the_calls_name_and_seqid() {
        let r = unknown_method(b"ping", 7);
        // 80 01 00 03 | len 4 | "ping" | seqid 7
        assert_eq!(&r[..16], b"\x80\x01\x00\x03\x00\x00\x00\x04ping\x00\x00\x00\x07");
        // field 1 string, then field 2 i32 = 1, STOP.
        assert_eq!(&r[16..19], &[11, 0, 1]);
        assert_eq!(&r[r.len() - 8..], &[8, 0, 2, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn only_strict_binary_calls_are_read() {
        let call = b"\x80\x01\x00\x01\x00\x00\x00\x01x\x00\x00\x00\x05\x00";
        assert_eq!(call_header(call), Some((b"x".to_vec(), 5, false)));
        assert_eq!(call_header(b"\x82\x21\x01\x01x"), None, "compact");
        assert_eq!(call_header(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(call_header(b"\x80\x01\x00\x02\x00\x00\x00\x01x\x00\x00\x00\x05"), None, "a reply is no call");
    }
}
