//! A Hadoop IPC responder written from Hadoop's IPC description (`org.apache.hadoop.ipc.Server`
//! and `RpcHeader.proto`; no Hadoop server can run here): it reads the 7-byte connection
//! header and, as a server of IPC version 9 (Hadoop 2 and 3) or 4 (Hadoop 1) does, answers a
//! client of another version with the fatal `RPC$VersionMismatch` in the shape that client
//! version reads (a protobuf `RpcResponseHeaderProto` from 9 up, the Writable answer from 3 to
//! 8), an HTTP request with Hadoop's plain-text complaint, and anything else by closing. A
//! client of its own version is held (nothing more of the protocol is served). The bytes are
//! built here, field by field, not by the probe's code.

use std::net::SocketAddr;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::Server;
use crate::conn::{accept_each, finish, hold, send};

/// Which Hadoop the responder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HadoopMode {
    /// Hadoop 2 and 3: IPC version 9; fatal answers as protobuf to clients of 9 and more.
    Hadoop3,
    /// Hadoop 1: IPC version 4; fatal answers as Writables.
    Hadoop1,
}

/// What Hadoop answers an HTTP request on its IPC port (`Server.RECEIVED_HTTP_REQ_RESPONSE`).
pub const HTTP_COMPLAINT: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-type: text/plain\r\n\r\nIt looks like you are making an HTTP request to a Hadoop IPC port. This is not the correct port for the web interface on this daemon.\r\n";

const VERSION_MISMATCH: &str = "org.apache.hadoop.ipc.RPC$VersionMismatch";

/// Binds `addr` and serves `mode` there.
pub async fn start(addr: SocketAddr, mode: HadoopMode) -> std::io::Result<Server> {
    Ok(serve(TcpListener::bind(addr).await?, mode))
}

/// Serves `mode` on `listener`.
pub fn serve(listener: TcpListener, mode: HadoopMode) -> Server {
    accept_each(listener, move |tcp| session(tcp, mode))
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    varint(out, field << 3);
    varint(out, v);
}

/// `setupResponse` with FATAL and FATAL_VERSION_MISMATCH for the fake call -1: an int length,
/// then the header, delimited.
fn protobuf_mismatch(server: u8, client: u8) -> Vec<u8> {
    let text = format!("Server IPC version {server} cannot communicate with client version {client}");
    let mut h = Vec::new();
    varint_field(&mut h, 1, u64::from(u32::MAX)); // callId -1 as uint32
    varint_field(&mut h, 2, 2); // FATAL
    varint_field(&mut h, 3, u64::from(server));
    bytes_field(&mut h, 4, VERSION_MISMATCH.as_bytes());
    bytes_field(&mut h, 5, text.as_bytes());
    varint_field(&mut h, 6, 14); // FATAL_VERSION_MISMATCH
    bytes_field(&mut h, 7, &[]); // the dummy client id
    varint_field(&mut h, 8, 1); // retryCount -1, zigzag
    let mut delimited = Vec::new();
    varint(&mut delimited, h.len() as u64);
    delimited.extend_from_slice(&h);
    let mut out = (delimited.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&delimited);
    out
}

/// `setupResponseOldVersionFatal` (and Hadoop 1's `setupResponse`): call id, status -1, class
/// and message as WritableUtils strings.
fn writable_mismatch(server: u8, client: u8) -> Vec<u8> {
    let text = format!("Server IPC version {server} cannot communicate with client version {client}");
    let mut out = (-1i32).to_be_bytes().to_vec();
    out.extend_from_slice(&(-1i32).to_be_bytes());
    for s in [VERSION_MISMATCH, text.as_str()] {
        out.extend_from_slice(&(s.len() as i32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

async fn session(mut s: TcpStream, mode: HadoopMode) {
    let mut magic = [0u8; 4];
    if s.read_exact(&mut magic).await.is_err() {
        return;
    }
    if &magic != b"hrpc" {
        if &magic == b"GET " {
            let _ = send(&mut s, HTTP_COMPLAINT).await;
        }
        return finish(&mut s).await;
    }
    let mut rest = [0u8; 3];
    if s.read_exact(&mut rest).await.is_err() {
        return;
    }
    let (own, client) = (if mode == HadoopMode::Hadoop3 { 9u8 } else { 4 }, rest[0]);
    if client == own {
        return hold(&mut s).await;
    }
    // Java reads the version as a signed byte: 128 and up are negative and get no answer.
    let answer = match (mode, client as i8) {
        (HadoopMode::Hadoop3, v) if v >= 9 => Some(protobuf_mismatch(own, client)),
        (_, v) if v >= 3 => Some(writable_mismatch(own, client)),
        _ => None,
    };
    if let Some(a) = answer {
        let _ = send(&mut s, &a).await;
    }
    finish(&mut s).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_later_version_gets_the_protobuf_mismatch() {
        let (_server, mut c) = crate::serve_and_connect(|l| serve(l, HadoopMode::Hadoop3)).await;
        c.write_all(b"hrpc\x7f\x00\x00").await.unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).await.unwrap();
        assert_eq!(u32::from_be_bytes(all[..4].try_into().unwrap()) as usize, all.len() - 4);
        assert!(
            String::from_utf8_lossy(&all).contains("Server IPC version 9 cannot communicate with client version 127")
        );
    }

    #[tokio::test]
    async fn http_gets_the_complaint() {
        let (_server, mut c) = crate::serve_and_connect(|l| serve(l, HadoopMode::Hadoop1)).await;
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).await.unwrap();
        assert!(all.starts_with(b"HTTP/1.1 404"));
    }
}
