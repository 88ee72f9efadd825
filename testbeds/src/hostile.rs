//! Peers that misbehave: every probe must still reach a verdict within its deadline, with
//! bounded memory and no panic.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::Server;

fn accept_loop<F, Fut>(listener: TcpListener, each: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    crate::conn::accept_each(listener, each)
}

/// Accepts, reads what comes, and never says a word.
pub fn silent(listener: TcpListener) -> Server {
    accept_loop(listener, |mut s| async move {
        let mut buf = [0u8; 1024];
        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
    })
}

/// Reads what the client sends first (a ClientHello, a request), then resets the connection
/// (RST, not FIN): what a firewall or an overloaded server does.
pub fn reset_after_hello(listener: TcpListener) -> Server {
    accept_loop(listener, |mut s| async move {
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf).await;
        let _ = s.set_zero_linger();
        drop(s);
    })
}

/// Hangs up without a word: reads what the client sends first (briefly), then closes with a
/// clean FIN. Reading first matters: closing on unread data would make the kernel answer with
/// a reset instead, which is [`reset_after_hello`]'s case.
pub fn slam(listener: TcpListener) -> Server {
    accept_loop(listener, |mut s| async move {
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
        drop(s);
    })
}

/// Answers anything with an endless stream of bytes that match no protocol.
pub fn endless_garbage(listener: TcpListener) -> Server {
    accept_loop(listener, |mut s| async move {
        let chunk: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80).collect();
        while s.write_all(&chunk).await.is_ok() {}
    })
}

/// Answers with `message` one byte a second, over and over: the slowest peer that still looks
/// alive, speaking a plausible start of its protocol so the probe has no reason to give up
/// early. Like a real server it first waits (briefly) for the client's request.
pub fn trickle(listener: TcpListener, message: &'static [u8]) -> Server {
    accept_loop(listener, move |mut s| async move {
        let mut request = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_millis(500), s.read(&mut request)).await;
        for byte in message.iter().cycle() {
            if s.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// A TLS server that completes handshakes (with `config`) and then holds the connection.
/// It answers plain-text bytes the way rustls does: with an alert, then a close.
pub fn tls_server(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> Server {
    let acceptor = TlsAcceptor::from(config);
    accept_loop(listener, move |s| {
        let acceptor = acceptor.clone();
        async move {
            if let Ok(mut tls) = acceptor.accept(s).await {
                let mut buf = [0u8; 1024];
                while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
            }
        }
    })
}

/// Greets every connection with `greeting` (a banner, like SSH's) and then holds it: a server
/// of a protocol that talks first.
pub fn greeter(listener: TcpListener, greeting: &'static [u8]) -> Server {
    accept_loop(listener, move |mut s| async move {
        if s.write_all(greeting).await.is_ok() {
            let mut buf = [0u8; 1024];
            while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
        }
    })
}

/// Accepts and holds connections until the client closes: a stand-in for a protocol whose
/// testbed server does not exist yet, proving only that the port is open.
pub fn holder(listener: TcpListener) -> Server {
    silent(listener)
}

/// A loopback port with nothing listening on it (bound, then released).
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").port()
}
