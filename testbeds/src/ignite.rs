//! Apache Ignite responders written from Ignite's public protocol description (no Ignite
//! server can run here): the thin-client port's handshake (binary client protocol), the
//! communication port's greeting (TcpCommunicationSpi's NodeIdMessage, sent on accept) and the
//! discovery port's header check (TcpDiscoverySpi reads `00 00 47 47` and closes a connection
//! that sends anything else). Each builds its bytes here from the description, not with the
//! probe's code, and each is a function of a bind address, for the demo's sites.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::Server;
use crate::conn::{accept_each, finish, hold, send};

/// The node id the responders send (as Java prints it: 5f1a3c2e-9b7d-4e21-8a36-0c4d2b1e7f90).
pub const NODE_ID: u128 = 0x5f1a_3c2e_9b7d_4e21_8a36_0c4d_2b1e_7f90;

/// Which Ignite listener the responder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgniteMode {
    /// The thin-client port: accepts protocol versions 1.0.0 up to `greatest`.
    Thin {
        /// The greatest protocol version it speaks (major, minor, patch).
        greatest: (i16, i16, i16),
        /// Whether authentication is enabled (a handshake without credentials is refused).
        authentication: bool,
    },
    /// TcpCommunicationSpi's port.
    Communication,
    /// TcpDiscoverySpi's port.
    Discovery,
}

impl IgniteMode {
    /// An Ignite 2.16-like thin-client port (protocol 1.7.1), no authentication.
    pub const THIN: IgniteMode = IgniteMode::Thin { greatest: (1, 7, 1), authentication: false };
}

/// How long a discovery port waits for the message after the header (`netTimeout`'s default).
const NET_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` and serves `mode` there.
pub async fn start(addr: SocketAddr, mode: IgniteMode) -> std::io::Result<Server> {
    Ok(serve(TcpListener::bind(addr).await?, mode))
}

/// Serves `mode` on `listener`.
pub fn serve(listener: TcpListener, mode: IgniteMode) -> Server {
    accept_each(listener, move |tcp| async move {
        match mode {
            IgniteMode::Thin { greatest, authentication } => thin(tcp, greatest, authentication).await,
            IgniteMode::Communication => communication(tcp).await,
            IgniteMode::Discovery => discovery(tcp).await,
        }
    })
}

/// The answer's int length, little-endian, before `body`.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as i32).to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A failure answer: flag 0, the server's version, the message as a binary string (type code
/// 9, int length, UTF-8), the client status.
fn refusal(greatest: (i16, i16, i16), message: &str, status: i32) -> Vec<u8> {
    let mut body = vec![0u8];
    for v in [greatest.0, greatest.1, greatest.2] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    body.push(9);
    body.extend_from_slice(&(message.len() as i32).to_le_bytes());
    body.extend_from_slice(message.as_bytes());
    body.extend_from_slice(&status.to_le_bytes());
    framed(&body)
}

async fn thin(mut s: TcpStream, greatest: (i16, i16, i16), authentication: bool) {
    let mut len = [0u8; 4];
    if s.read_exact(&mut len).await.is_err() {
        return;
    }
    let len = i32::from_le_bytes(len);
    if !(8..=1024).contains(&len) {
        return finish(&mut s).await;
    }
    let mut body = vec![0u8; len as usize];
    if s.read_exact(&mut body).await.is_err() {
        return;
    }
    // Op code 1 (handshake) and client code 2 (thin client); anything else is not served.
    if body[0] != 1 || body[7] != 2 {
        return finish(&mut s).await;
    }
    let v = |i: usize| i16::from_le_bytes([body[i], body[i + 1]]);
    let asked = (v(1), v(3), v(5));
    let answer = if asked > greatest || asked < (1, 0, 0) {
        refusal(greatest, &format!("Unsupported version: {}.{}.{}", asked.0, asked.1, asked.2), 1)
    } else if authentication && len == 8 {
        refusal(greatest, "Unauthenticated sessions are prohibited.", 2000)
    } else {
        let mut ok = vec![1u8];
        if asked >= (1, 4, 0) {
            // The node id (partition awareness): type code 10, then two little-endian longs.
            ok.push(10);
            ok.extend_from_slice(&((NODE_ID >> 64) as u64).to_le_bytes());
            ok.extend_from_slice(&(NODE_ID as u64).to_le_bytes());
        }
        framed(&ok)
    };
    let refused = answer[4] == 0;
    if send(&mut s, &answer).await.is_some() {
        if refused {
            return finish(&mut s).await;
        }
        hold(&mut s).await;
    }
}

async fn communication(mut s: TcpStream) {
    // NodeIdMessage: direct type -1 (little-endian short), the id's halves big-endian.
    let mut greeting = vec![0xff, 0xff];
    greeting.extend_from_slice(&NODE_ID.to_be_bytes());
    if send(&mut s, &greeting).await.is_none() {
        return;
    }
    let mut header = [0u8; 4];
    if s.read_exact(&mut header).await.is_err() {
        return;
    }
    if header != [0x00, 0x00, 0x47, 0x47] {
        return finish(&mut s).await;
    }
    hold(&mut s).await;
}

async fn discovery(mut s: TcpStream) {
    let mut header = [0u8; 4];
    if s.read_exact(&mut header).await.is_err() {
        return;
    }
    if header != [0x00, 0x00, 0x47, 0x47] {
        // "Unknown connection detected (is some other software connecting to this Ignite port?)"
        return finish(&mut s).await;
    }
    // Waits for a serialized discovery message, which the probe never sends, then gives up.
    let _ = tokio::time::timeout(NET_TIMEOUT, hold(&mut s)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn the_thin_port_accepts_and_refuses() {
        let (_server, mut c) = crate::serve_and_connect(|l| serve(l, IgniteMode::THIN)).await;
        c.write_all(&[8, 0, 0, 0, 1, 1, 0, 4, 0, 0, 0, 2]).await.unwrap();
        let mut a = [0u8; 22];
        c.read_exact(&mut a).await.unwrap();
        assert_eq!(&a[..6], &[18, 0, 0, 0, 1, 10]);
        let (_server, mut c) = crate::serve_and_connect(|l| serve(l, IgniteMode::THIN)).await;
        c.write_all(&[8, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 2]).await.unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).await.unwrap();
        assert_eq!(&all[4..11], &[0, 1, 0, 7, 0, 1, 0]);
    }

    #[tokio::test]
    async fn the_discovery_port_closes_on_a_wrong_header() {
        let (_server, mut c) = crate::serve_and_connect(|l| serve(l, IgniteMode::Discovery)).await;
        c.write_all(b"\x00\x00\x47\x48").await.unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).await.unwrap();
        assert!(all.is_empty());
    }
}
