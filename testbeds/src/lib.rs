//! In-process servers for every protocol and failure mode portproof checks.
//!
//! Tests and `portproof demo` start these on loopback; each later protocol adds its server here.
//! Nothing here depends on the probes: a testbed is a peer, and must not share the code it tests.

pub mod amqp;
mod bytes;
mod conn;
pub mod gateway;
pub mod hostile;
pub mod http;
pub mod modbus;
pub mod mqtt;
pub mod mssql;
pub mod mysql;
pub mod ntp;
pub mod opcua;
pub mod oracle;
pub mod pki;
pub mod postgres;
pub mod tally;
pub mod ws_discovery;

/// The TLS library of the testbed servers, for callers that build their configurations.
pub use rustls;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running server task; dropping it stops the server.
#[derive(Debug)]
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Wraps a spawned accept loop listening on `addr`.
    pub fn new(addr: SocketAddr, task: JoinHandle<()>) -> Self {
        Server { addr, task }
    }
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds an ephemeral loopback port.
pub async fn bind_any() -> std::io::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0").await
}
