//! What every protocol responder needs of a connection: an accept loop, a boxed stream that is
//! plain TCP or TLS, writes that notice a departed client, and a clean close.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::Server;

/// Any byte stream a responder serves over: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed [`Io`], so one session function serves both.
pub(crate) type BoxIo = Box<dyn Io>;

/// How long a closing responder still reads what the client sends.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// Accepts on `listener` and runs `each` on every connection in its own task.
pub(crate) fn accept_each<F, Fut>(listener: TcpListener, each: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let addr = listener.local_addr().expect("bound listener");
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            // Servers answer in several small writes (TLS 1.3 tickets, then the greeting):
            // with Nagle on, each waits for the client's delayed ACK, 40 ms on Linux.
            let _ = tcp.set_nodelay(true);
            tokio::spawn(each(tcp));
        }
    });
    Server::new(addr, task)
}

/// The accepted socket as a stream: through `tls` when the port is a TLS port. `None` when the
/// handshake failed and there is nothing left to serve.
pub(crate) async fn upgrade(tcp: TcpStream, tls: Option<&TlsAcceptor>) -> Option<BoxIo> {
    match tls {
        Some(acceptor) => Some(Box::new(acceptor.accept(tcp).await.ok()?)),
        None => Some(Box::new(tcp)),
    }
}

/// Writes and flushes `bytes`; `None` when the client is gone.
pub(crate) async fn send<S: AsyncWrite + Unpin>(s: &mut S, bytes: &[u8]) -> Option<()> {
    s.write_all(bytes).await.ok()?;
    s.flush().await.ok()
}

/// Closes with a FIN, then reads what the client still sends (briefly), so that unread data
/// does not turn the close into a reset.
pub(crate) async fn finish<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) {
    let _ = s.flush().await;
    let _ = s.shutdown().await;
    let mut buf = [0u8; 4096];
    let _ = timeout(DRAIN_WAIT, async { while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {} }).await;
}

/// Reads and discards until the client leaves.
pub(crate) async fn hold<S: AsyncRead + Unpin>(s: &mut S) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
}
