//! A CQL native-protocol responder written from Cassandra's `native_protocol_v4.spec` (no
//! Cassandra server can run here): it answers OPTIONS with SUPPORTED, STARTUP with READY or
//! AUTHENTICATE, and a protocol version above its greatest with the protocol ERROR Cassandra
//! sends ("... the lowest supported version is 3 and the greatest is N"), then closes, as
//! Cassandra does. Its frames are built here from the spec's sections, not by the probe's
//! encoder.

use std::net::SocketAddr;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::Server;
use crate::conn::{accept_each, finish, send};

/// How the responder behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CqlMode {
    /// The greatest protocol version it accepts (3 to 5); from 3 up to it are accepted.
    pub greatest: u8,
    /// Whether STARTUP is answered with AUTHENTICATE (PasswordAuthenticator) instead of READY.
    pub password: bool,
}

impl CqlMode {
    /// A Cassandra 3.11-like node: v3 and v4, no authentication.
    pub const OPEN_V4: CqlMode = CqlMode { greatest: 4, password: false };
    /// The same with `authenticator: PasswordAuthenticator`.
    pub const PASSWORD_V4: CqlMode = CqlMode { greatest: 4, password: true };
    /// A Cassandra 4.1-like node: up to v5.
    pub const OPEN_V5: CqlMode = CqlMode { greatest: 5, password: false };
}

/// The authenticator class AUTHENTICATE names (`cassandra.yaml`'s `authenticator`).
pub const AUTHENTICATOR: &str = "org.apache.cassandra.auth.PasswordAuthenticator";

/// Binds `addr` and serves `mode` there.
pub async fn start(addr: SocketAddr, mode: CqlMode) -> std::io::Result<Server> {
    Ok(serve(TcpListener::bind(addr).await?, mode))
}

/// Serves `mode` on `listener`.
pub fn serve(listener: TcpListener, mode: CqlMode) -> Server {
    accept_each(listener, move |tcp| session(tcp, mode))
}

/// §3's [string].
fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&u16::try_from(s.len()).expect("short strings").to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// §2: a response header (version with bit 0x80, no flags, the request's stream) and the body.
fn response(version: u8, stream: [u8; 2], opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | version, 0x00, stream[0], stream[1], opcode];
    out.extend_from_slice(&u32::try_from(body.len()).expect("small bodies").to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// §4.2.4: SUPPORTED, a [string multimap].
fn supported(mode: CqlMode) -> Vec<u8> {
    let versions: Vec<String> = (3..=mode.greatest).map(|v| format!("{v}/v{v}")).collect();
    let entries: Vec<(&str, Vec<String>)> = vec![
        ("PROTOCOL_VERSIONS", versions),
        ("COMPRESSION", vec!["snappy".into(), "lz4".into()]),
        ("CQL_VERSION", vec!["3.4.5".into()]),
    ];
    let mut body = u16::try_from(entries.len()).expect("three").to_be_bytes().to_vec();
    for (key, values) in entries {
        string(&mut body, key);
        body.extend_from_slice(&u16::try_from(values.len()).expect("few").to_be_bytes());
        for v in values {
            string(&mut body, &v);
        }
    }
    body
}

/// §4.2.1 and §9: an ERROR of `code` with `message`.
fn error(code: u32, message: &str) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    string(&mut body, message);
    body
}

async fn session(mut s: TcpStream, mode: CqlMode) {
    loop {
        let mut h = [0u8; 9];
        if s.read_exact(&mut h).await.is_err() {
            return;
        }
        let (version, stream, opcode) = (h[0], [h[2], h[3]], h[4]);
        let length = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        // A request's body is small; a client announcing more is not one this responder serves.
        if length > 64 * 1024 {
            return finish(&mut s).await;
        }
        let mut body = vec![0u8; length as usize];
        if s.read_exact(&mut body).await.is_err() {
            return;
        }
        if version & 0x80 != 0 || !(3..=mode.greatest).contains(&version) {
            // Cassandra answers in a version the client can read and closes the connection.
            let text = format!(
                "Invalid or unsupported protocol version ({}); the lowest supported version is 3 and the greatest is {}",
                version & 0x7f,
                mode.greatest
            );
            let _ = send(&mut s, &response(mode.greatest.min(4), stream, 0x00, &error(0x000A, &text))).await;
            return finish(&mut s).await;
        }
        let answer = match opcode {
            0x05 => response(version, stream, 0x06, &supported(mode)),
            0x01 if mode.password => {
                let mut b = Vec::new();
                string(&mut b, AUTHENTICATOR);
                response(version, stream, 0x03, &b)
            }
            0x01 => response(version, stream, 0x02, &[]),
            _ => response(version, stream, 0x00, &error(0x000A, "Unexpected message before STARTUP")),
        };
        if send(&mut s, &answer).await.is_none() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn answers_options_and_refuses_a_later_version() {
        let (_server, mut c) = crate::serve_and_connect(|l| serve(l, CqlMode::OPEN_V4)).await;
        c.write_all(&[0x04, 0, 0, 7, 0x05, 0, 0, 0, 0]).await.unwrap();
        let mut h = [0u8; 9];
        c.read_exact(&mut h).await.unwrap();
        assert_eq!(&h[..5], &[0x84, 0, 0, 7, 0x06]);
        let (_server, mut c) = crate::serve_and_connect(|l| serve(l, CqlMode::OPEN_V4)).await;
        c.write_all(&[0x05, 0, 0, 0, 0x05, 0, 0, 0, 0]).await.unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).await.unwrap();
        assert_eq!(&all[..5], &[0x84, 0, 0, 0, 0x00]);
        assert!(String::from_utf8_lossy(&all).contains("the greatest is 4"));
    }
}
